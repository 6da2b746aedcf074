package pgstore

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rampart-sdk/rampart/internal/pgq"
	"github.com/rampart-sdk/rampart/keyring"
)

// Column is one encrypted column of the host's schema, identified by its
// table (optionally schema-qualified), its primary-key column and the column
// itself: the keyring.RowSource that Field.Reencrypt walks (keyset
// pagination, batched compare-and-swap). To count a registry's columns per
// key ID (keyring.Check, keyring.KeyInUse), use Counter.
//
// The row ID the engine uses is id::text, so rows must have been sealed with
// the canonical text of their primary key.
type Column interface {
	keyring.RowSource
}

var _ Column = (*column)(nil)

// column implements Column.
type column struct {
	pool                 *pgxpool.Pool
	table, idCol, column string
	qTable, qID, qCol    string

	mu     sync.Mutex
	ready  bool
	idType string
	text   bool // the column is text (envelopes in text form), not bytea
}

// NewColumn returns the adapter for (table, idColumn, column).
func NewColumn(pool *pgxpool.Pool, table, idColumn, column string) Column {
	return newColumn(pool, table, idColumn, column)
}

func newColumn(pool *pgxpool.Pool, table, idColumn, col string) *column {
	return &column{pool: pool, table: table, idCol: idColumn, column: col,
		qTable: pgx.Identifier(strings.Split(table, ".")).Sanitize(),
		qID:    pgx.Identifier{idColumn}.Sanitize(),
		qCol:   pgx.Identifier{col}.Sanitize()}
}

// init reads the column types once; a failure (a cancelled context, a table
// not created yet) is not cached, so the next call tries again.
func (c *column) init(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready {
		return nil
	}
	err := c.introspect(ctx)
	c.ready = err == nil
	return err
}

func (c *column) introspect(ctx context.Context) error {
	types, err := columnTypes(ctx, c.pool, c.table, c.qTable, c.idCol, c.column)
	if err != nil {
		return err
	}
	c.idType = types[c.idCol].typ
	col := types[c.column]
	c.text = col.category == "S"
	if col.typ != "bytea" && !c.text {
		return fmt.Errorf("keyring/pgstore: %s.%s is %s, want bytea or text", c.table, c.column, col.typ)
	}
	return nil
}

// columnType is a column's SQL type and its pg_type category ("S" for the
// string types).
type columnType struct{ typ, category string }

// columnTypes reads the types of the named columns of table (names that are
// "" are skipped) and fails naming the first one the table does not have.
func columnTypes(ctx context.Context, q pgq.Querier, table, qTable string, names ...string) (map[string]columnType, error) {
	rows, err := q.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory
		FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		WHERE a.attrelid = $1::regclass AND a.attname = ANY($2) AND a.attnum > 0 AND NOT a.attisdropped`,
		qTable, names)
	if err != nil {
		return nil, fmt.Errorf("keyring/pgstore: table %s: %w", table, err)
	}
	defer rows.Close()
	types := map[string]columnType{}
	for rows.Next() {
		var name string
		var ct columnType
		if err := rows.Scan(&name, &ct.typ, &ct.category); err != nil {
			return nil, fmt.Errorf("keyring/pgstore: %w", err)
		}
		types[name] = ct
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	}
	for _, n := range names {
		if _, ok := types[n]; n != "" && !ok {
			return nil, fmt.Errorf("keyring/pgstore: %s has no column %q", table, n)
		}
	}
	return types, nil
}

func (c *column) after(after keyring.Cursor) string {
	if !after.Started {
		return ""
	}
	return fmt.Sprintf(" AND %s > $1::text::%s", c.qID, c.idType)
}

// Remaining implements keyring.RowSource.
func (c *column) Remaining(ctx context.Context, after keyring.Cursor) (int64, error) {
	if err := c.init(ctx); err != nil {
		return 0, err
	}
	q := fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s IS NOT NULL`, c.qTable, c.qCol) + c.after(after)
	var args []any
	if after.Started {
		args = append(args, after.ID)
	}
	var n int64
	if err := c.pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("keyring/pgstore: %w", err)
	}
	return n, nil
}

// Next implements keyring.RowSource with keyset pagination on the id column.
func (c *column) Next(ctx context.Context, after keyring.Cursor, limit int) ([]keyring.Row, error) {
	if err := c.init(ctx); err != nil {
		return nil, err
	}
	var q string
	args := []any{}
	if !after.Started {
		q = fmt.Sprintf(`SELECT t.%[1]s::text AS row_id, t.%[2]s FROM %[3]s AS t WHERE t.%[2]s IS NOT NULL ORDER BY t.%[1]s LIMIT $1`,
			c.qID, c.qCol, c.qTable)
		args = append(args, limit)
	} else {
		q = fmt.Sprintf(`SELECT t.%[1]s::text AS row_id, t.%[2]s FROM %[3]s AS t WHERE t.%[2]s IS NOT NULL AND t.%[1]s > $1::text::%[4]s
			ORDER BY t.%[1]s LIMIT $2`, c.qID, c.qCol, c.qTable, c.idType)
		args = append(args, after.ID, limit)
	}
	rows, err := c.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	}
	out := make([]keyring.Row, 0, limit)
	for rows.Next() {
		var r keyring.Row
		if err := rows.Scan(&r.ID, &r.Value); err != nil {
			return nil, fmt.Errorf("keyring/pgstore: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	}
	return out, nil
}

// Swap implements keyring.RowSource: one UPDATE ... FROM unnest(...) that
// writes a row only where it still holds the value that was read.
func (c *column) Swap(ctx context.Context, swaps []keyring.Swap) (int64, error) {
	if err := c.init(ctx); err != nil {
		return 0, err
	}
	ids := make([]string, len(swaps))
	var olds, news any
	if c.text {
		o, n := make([]string, len(swaps)), make([]string, len(swaps))
		for i, s := range swaps {
			ids[i], o[i], n[i] = s.ID, string(s.Old), string(s.New)
		}
		olds, news = o, n
	} else {
		o, n := make([][]byte, len(swaps)), make([][]byte, len(swaps))
		for i, s := range swaps {
			ids[i], o[i], n[i] = s.ID, s.Old, s.New
		}
		olds, news = o, n
	}
	elem := "bytea"
	if c.text {
		elem = "text"
	}
	q := fmt.Sprintf(`UPDATE %[1]s AS t SET %[2]s = v.new
		FROM unnest($1::text[], $2::%[4]s[], $3::%[4]s[]) AS v(id, old, new)
		WHERE t.%[3]s = v.id::%[5]s AND t.%[2]s = v.old`, c.qTable, c.qCol, c.qID, elem, c.idType)
	tag, err := c.pool.Exec(ctx, q, ids, olds, news)
	if err != nil {
		return 0, fmt.Errorf("keyring/pgstore: %w", err)
	}
	return tag.RowsAffected(), nil
}

// textHeaderChars is the text prefix plus the 8 base64url characters that
// encode the first 6 envelope bytes (version and key ID among them).
const textHeaderChars = len(keyring.TextPrefix) + 8

// countKeyIDs counts the column's values per key ID for Counter, every form Open
// accepts in either column type: a binary envelope or a text one ("rk1:..."),
// in a BYTEA column or a TEXT one (as its UTF-8 bytes). It groups on the
// envelope header only (5 bytes of a binary envelope, 12 characters of a
// text one), so the scan is one pass over the column with a handful of
// groups.
func (c *column) countKeyIDs(ctx context.Context) (map[uint32]int64, error) {
	if err := c.init(ctx); err != nil {
		return nil, err
	}
	v := c.qCol
	if c.text {
		v = fmt.Sprintf("convert_to(%s, 'UTF8')", c.qCol)
	}
	minText := len(keyring.TextPrefix) + base64.RawURLEncoding.EncodedLen(keyring.Overhead)
	q := fmt.Sprintf(`SELECT CASE WHEN s.text_form THEN substring(s.v from 1 for %[3]d) ELSE substring(s.v from 1 for 5) END,
			CASE WHEN s.text_form THEN octet_length(s.v) >= %[4]d ELSE octet_length(s.v) >= %[5]d END,
			s.text_form, count(*)
		FROM (SELECT %[1]s AS v, substring(%[1]s from 1 for %[6]d) = '\x%[7]x'::bytea AS text_form
			FROM %[2]s WHERE %[8]s IS NOT NULL) AS s
		GROUP BY 1, 2, 3`, v, c.qTable, textHeaderChars, minText, keyring.Overhead,
		len(keyring.TextPrefix), keyring.TextPrefix, c.qCol)
	rows, err := c.pool.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	}
	defer rows.Close()
	out := map[uint32]int64{}
	for rows.Next() {
		var head []byte
		var long, text bool
		var n int64
		if err := rows.Scan(&head, &long, &text, &n); err != nil {
			return nil, fmt.Errorf("keyring/pgstore: %w", err)
		}
		out[headerKeyID(head, long, text)] += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	}
	return out, nil
}

// headerKeyID returns the key ID of a header, or 0 for anything that is not
// a version-1 envelope header.
func headerKeyID(head []byte, long, text bool) uint32 {
	if !long {
		return 0
	}
	if text {
		if len(head) != textHeaderChars || string(head[:len(keyring.TextPrefix)]) != keyring.TextPrefix {
			return 0
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(string(head[len(keyring.TextPrefix):]))
		if err != nil {
			return 0
		}
		head = b
	}
	if len(head) < 5 || head[0] != keyring.VersionBinary {
		return 0
	}
	return binary.BigEndian.Uint32(head[1:5])
}

// Counter returns a keyring.KeyIDCounter for the guardrail that scans each
// declared column (table, column) on pool; counting needs no id column. It
// also implements keyring.IndexKeyIDCounter, for blind-index columns. A nil
// pool, a nil option or an invalid CountWhere returns an error wrapping
// keyring.ErrInvalidConfig that names it.
func Counter(pool *pgxpool.Pool, opts ...CounterOption) (keyring.KeyIDCounter, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: Counter: nil pool", keyring.ErrInvalidConfig)
	}
	c := counter{pool: pool}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: Counter: option %d is nil", keyring.ErrInvalidConfig, i)
		}
		o(&c)
	}
	if c.err != nil {
		return nil, c.err
	}
	return c, nil
}

type counter struct {
	pool  *pgxpool.Pool
	where map[[2]string]string // blind-index column -> the rows to count
	err   error                // the first invalid option
}

func (c counter) CountKeyIDs(ctx context.Context, table, column string) (map[uint32]int64, error) {
	return newColumn(c.pool, table, column, column).countKeyIDs(ctx)
}
