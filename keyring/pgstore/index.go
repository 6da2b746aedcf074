package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rampart-sdk/rampart/keyring"
)

// IndexColumn is a blind-index column of the host's schema with the column
// its values are computed from (usually the encrypted field it indexes): the
// keyring.IndexRowSource that BlindIndex.Reindex walks (keyset pagination on
// the id column, reading the index and its source in one statement so that
// the two agree, and a batched compare-and-swap on the index column, which
// must be bytea). To count index values per key ID, use Counter.
type IndexColumn interface {
	keyring.IndexRowSource
}

var _ IndexColumn = (*indexColumn)(nil)

// indexColumn implements IndexColumn.
type indexColumn struct {
	pool                         *pgxpool.Pool
	table, idCol, column, srcCol string
	qTable, qID, qCol            string
	swap                         *column
	mu                           sync.Mutex
	ready                        bool
	idType, srcExpr              string
}

// NewIndexColumn returns the adapter for the index column of table whose
// rows are identified by idColumn, reading sourceColumn (bytea or text) with
// each row; pass "" when the keyring.IndexValues given to Reindex finds the
// values elsewhere.
func NewIndexColumn(pool *pgxpool.Pool, table, idColumn, column, sourceColumn string) IndexColumn {
	return &indexColumn{pool: pool, table: table, idCol: idColumn, column: column, srcCol: sourceColumn,
		qTable: pgx.Identifier(strings.Split(table, ".")).Sanitize(),
		qID:    pgx.Identifier{idColumn}.Sanitize(),
		qCol:   pgx.Identifier{column}.Sanitize(),
		swap:   newColumn(pool, table, idColumn, column)}
}

func (c *indexColumn) init(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready {
		return nil
	}
	err := c.introspect(ctx)
	c.ready = err == nil
	return err
}

func (c *indexColumn) introspect(ctx context.Context) error {
	types, err := columnTypes(ctx, c.pool, c.table, c.qTable, c.idCol, c.column, c.srcCol)
	if err != nil {
		return err
	}
	c.idType = types[c.idCol].typ
	if typ := types[c.column].typ; typ != "bytea" {
		return fmt.Errorf("keyring/pgstore: blind index %s.%s is %s, want bytea", c.table, c.column, typ)
	}
	c.srcExpr = "NULL::bytea"
	if c.srcCol != "" {
		q, src := "t."+pgx.Identifier{c.srcCol}.Sanitize(), types[c.srcCol]
		switch {
		case src.typ == "bytea":
			c.srcExpr = q
		case src.category == "S":
			c.srcExpr = "convert_to(" + q + ", 'UTF8')"
		default:
			return fmt.Errorf("keyring/pgstore: source %s.%s is %s, want bytea or text", c.table, c.srcCol, src.typ)
		}
	}
	return nil
}

// Remaining implements keyring.IndexRowSource.
func (c *indexColumn) Remaining(ctx context.Context, after keyring.Cursor) (int64, error) {
	if err := c.init(ctx); err != nil {
		return 0, err
	}
	q := fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s IS NOT NULL`, c.qTable, c.qCol)
	var args []any
	if after.Started {
		q += fmt.Sprintf(` AND %s > $1::text::%s`, c.qID, c.idType)
		args = append(args, after.ID)
	}
	var n int64
	if err := c.pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("keyring/pgstore: %w", err)
	}
	return n, nil
}

// NextIndex implements keyring.IndexRowSource.
func (c *indexColumn) NextIndex(ctx context.Context, after keyring.Cursor, limit int) ([]keyring.IndexRow, error) {
	if err := c.init(ctx); err != nil {
		return nil, err
	}
	q := fmt.Sprintf(`SELECT t.%[1]s::text, t.%[2]s, %[3]s FROM %[4]s AS t WHERE t.%[2]s IS NOT NULL`,
		c.qID, c.qCol, c.srcExpr, c.qTable)
	args := []any{limit}
	if after.Started {
		q += fmt.Sprintf(` AND t.%s > $2::text::%s`, c.qID, c.idType)
		args = append(args, after.ID)
	}
	q += fmt.Sprintf(` ORDER BY t.%s LIMIT $1`, c.qID)
	rows, err := c.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	}
	out := make([]keyring.IndexRow, 0, limit)
	for rows.Next() {
		var r keyring.IndexRow
		if err := rows.Scan(&r.ID, &r.Index, &r.Source); err != nil {
			return nil, fmt.Errorf("keyring/pgstore: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	}
	return out, nil
}

// Swap implements keyring.IndexRowSource: one UPDATE that writes a row's
// index only where it still holds the value that was read.
func (c *indexColumn) Swap(ctx context.Context, swaps []keyring.Swap) (int64, error) {
	if err := c.init(ctx); err != nil {
		return 0, err
	}
	return c.swap.Swap(ctx, swaps)
}

// CounterOption configures Counter.
type CounterOption func(*counter)

// CountWhere makes Counter count only the rows of the blind-index column
// table.column for which cond holds: cond is a trusted SQL boolean
// expression over the table's columns (written by the host, never built from
// input). Use it where some rows no longer need their key, such as API keys
// that are revoked or expired (authn/pgstore.LiveAPIKeys), so that the
// guardrail and "keys retire" count only the rows that do. table, column
// and cond must not be empty, and one column takes one condition (write
// "a AND b" for two).
func CountWhere(table, column, cond string) CounterOption {
	return func(c *counter) {
		if c.err != nil {
			return
		}
		key := [2]string{table, column}
		switch {
		case table == "" || column == "":
			c.err = fmt.Errorf("%w: CountWhere: empty table or column name", keyring.ErrInvalidConfig)
		case strings.TrimSpace(cond) == "":
			c.err = fmt.Errorf("%w: CountWhere(%q, %q): empty condition; omit the option to count every row", keyring.ErrInvalidConfig, table, column)
		case c.where[key] != "":
			c.err = fmt.Errorf("%w: CountWhere(%q, %q): a second condition for the column; join them with AND", keyring.ErrInvalidConfig, table, column)
		default:
			if c.where == nil {
				c.where = map[[2]string]string{}
			}
			c.where[key] = cond
		}
	}
}

// CountIndexKeyIDs implements keyring.IndexKeyIDCounter for the guardrail.
func (c counter) CountIndexKeyIDs(ctx context.Context, table, column string, keyIDs []uint32) (map[uint32]int64, error) {
	return countIndexKeyIDs(ctx, c.pool, table, column, c.where[[2]string{table, column}], keyIDs)
}

// IndexKeyIDSQL is the SQL expression that yields the key ID of the tagged
// blind-index value held by the bytea expression e, when that ID is one of
// the bigint[] parameter $n, and 0 for anything else (a bare token written
// before key IDs were recorded, a bcrypt hash, garbage).
func IndexKeyIDSQL(e string, n int) string {
	// PostgreSQL gives << and | the same precedence: parenthesise each shift.
	id := fmt.Sprintf(`((get_byte(%[1]s, 1)::bigint << 24) | (get_byte(%[1]s, 2)::bigint << 16) | (get_byte(%[1]s, 3)::bigint << 8) | get_byte(%[1]s, 4)::bigint)`, e)
	return fmt.Sprintf(`CASE WHEN length(%[1]s) BETWEEN %[2]d AND %[3]d AND get_byte(%[1]s, 0) = %[4]d AND %[5]s = ANY($%[6]d::bigint[])
		THEN %[5]s ELSE 0 END`, e, keyring.IndexHeaderSize+8, keyring.IndexHeaderSize+32, keyring.VersionIndex, id, n)
}

// countIndexKeyIDs groups a blind-index column on its 5-byte header. In a
// text column it reads the trailing lower-case hex of each value (the form
// "psn_" + hex that privacy's pseudonyms take).
func countIndexKeyIDs(ctx context.Context, pool *pgxpool.Pool, table, column, cond string, keyIDs []uint32) (map[uint32]int64, error) {
	qTable, qCol := pgx.Identifier(strings.Split(table, ".")).Sanitize(), pgx.Identifier{column}.Sanitize()
	var cat string
	if err := pool.QueryRow(ctx, `SELECT t.typcategory FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		WHERE a.attrelid = $1::regclass AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
		qTable, column).Scan(&cat); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("keyring/pgstore: %s has no column %q", table, column)
		}
		return nil, fmt.Errorf("keyring/pgstore: %s.%s: %w", table, column, err)
	}
	e := qCol
	if cat == "S" {
		e = fmt.Sprintf(`decode(substring(%s from '((?:[0-9a-f]{2}){%d,%d})$'), 'hex')`, qCol, keyring.IndexHeaderSize+8, keyring.IndexHeaderSize+32)
	}
	ids := make([]int64, len(keyIDs))
	for i, id := range keyIDs {
		ids[i] = int64(id)
	}
	where := qCol + " IS NOT NULL"
	if cond != "" {
		where += " AND (" + cond + ")"
	}
	q := fmt.Sprintf(`SELECT %s, count(*) FROM (SELECT %s AS e FROM %s WHERE %s) s GROUP BY 1`,
		IndexKeyIDSQL("s.e", 1), e, qTable, where)
	rows, err := pool.Query(ctx, q, ids)
	if err != nil {
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	}
	defer rows.Close()
	out := map[uint32]int64{}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("keyring/pgstore: %w", err)
		}
		out[uint32(id)] += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	}
	return out, nil
}
