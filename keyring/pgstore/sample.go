package pgstore

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/rampart-sdk/rampart/keyring"
)

var _ keyring.Sampler = counter{}

// SampleKeyID implements keyring.Sampler for the guardrail: it finds the
// table's primary key (the row ID values were sealed for is its text form,
// as for re-encryption) and reads up to limit values under keyID. A table
// without a single-column primary key cannot be sampled
// (keyring.ErrNotSampled).
func (c counter) SampleKeyID(ctx context.Context, table, column string, keyID uint32, limit int) ([]keyring.Row, error) {
	rows, err := c.pool.Query(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = $1::regclass AND i.indisprimary`, pgx.Identifier(strings.Split(table, ".")).Sanitize())
	if err != nil {
		return nil, fmt.Errorf("keyring/pgstore: table %s: %w", table, err)
	}
	pk, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("keyring/pgstore: table %s: %w", table, err)
	}
	if len(pk) != 1 {
		return nil, fmt.Errorf("%w: %s has no single-column primary key to give the row ID", keyring.ErrNotSampled, table)
	}
	return newColumn(c.pool, table, pk[0], column).sampleKeyID(ctx, keyID, limit)
}

// sampleKeyID returns up to limit rows whose value is an envelope (binary or
// text form, in a BYTEA or TEXT column) naming keyID, for the guardrail to
// open. It matches the header in SQL, so a key ID with few values costs one
// scan of the column and a common one stops after limit rows.
func (c *column) sampleKeyID(ctx context.Context, keyID uint32, limit int) ([]keyring.Row, error) {
	if err := c.init(ctx); err != nil {
		return nil, err
	}
	v := "t." + c.qCol
	if c.text {
		v = fmt.Sprintf("convert_to(t.%s, 'UTF8')", c.qCol)
	}
	bin := binary.BigEndian.AppendUint32([]byte{keyring.VersionBinary}, keyID)
	// The text form's 7th character after the prefix holds the key ID's
	// last 4 bits and 2 bits of the nonce: one prefix per value of those.
	texts := make([][]byte, 0, 4)
	for n := range 4 {
		enc := base64.RawURLEncoding.EncodeToString(append(bin[:5:5], byte(n<<6)))
		texts = append(texts, []byte(keyring.TextPrefix+enc[:7]))
	}
	q := fmt.Sprintf(`SELECT t.%[1]s::text, t.%[2]s FROM %[3]s AS t
		WHERE t.%[2]s IS NOT NULL AND (substring(%[4]s from 1 for 5) = $1 OR substring(%[4]s from 1 for %[5]d) = ANY($2))
		LIMIT $3`, c.qID, c.qCol, c.qTable, v, len(keyring.TextPrefix)+7)
	rows, err := c.pool.Query(ctx, q, bin, texts, limit)
	if err != nil {
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (keyring.Row, error) {
		var row keyring.Row
		err := r.Scan(&row.ID, &row.Value)
		return row, err
	})
	if err != nil {
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	}
	return out, nil
}
