package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/privacy"
)

// ExportTable describes the common export case: a subject's rows of one host
// table, some columns sealed by keyring and decrypted on the way out.
type ExportTable struct {
	// Name is the table, optionally schema-qualified.
	Name string
	// OrgColumn, if set, restricts the export to the organisation.
	OrgColumn string
	// SubjectColumn holds the subject ID.
	SubjectColumn string
	// Columns lists the exported columns, in order.
	Columns []string
	// RowIDColumn is the column whose text value the sealed fields are bound
	// to (the rowID given to keyring's Field.Seal); required with Sealed.
	RowIDColumn string
	// Sealed maps a column holding ciphertext to the Opener (a
	// *keyring.Field) that decrypts it; its record value is the plaintext
	// string.
	Sealed map[string]privacy.Opener
}

// tableExporter is the exporter of NewTableExporter.
type tableExporter struct {
	db    *pgxpool.Pool
	t     ExportTable
	query string
}

// NewTableExporter checks t and returns its exporter, which streams a
// subject's rows of the table, one record (a map[string]any keyed by column)
// at a time, straight from the wire: a subject with a large history is never
// loaded whole.
func NewTableExporter(pool *pgxpool.Pool, t ExportTable) (privacy.Exporter, error) {
	ident, err := quoteName(t.Name)
	if err != nil {
		return nil, err
	}
	if t.SubjectColumn == "" || len(t.Columns) == 0 {
		return nil, fmt.Errorf("%w: export table %q needs a subject column and columns", privacy.ErrInvalid, t.Name)
	}
	if len(t.Sealed) > 0 && t.RowIDColumn == "" {
		return nil, fmt.Errorf("%w: export table %q: sealed columns need a row id column", privacy.ErrInvalid, t.Name)
	}
	all := append([]string{t.SubjectColumn, t.OrgColumn, t.RowIDColumn}, t.Columns...)
	for c := range t.Sealed {
		if !slices.Contains(t.Columns, c) {
			// A typo here would export nothing of the column, or its
			// ciphertext under another name: refuse it at startup.
			return nil, fmt.Errorf("%w: export table %q: sealed column %q is not among the exported columns", privacy.ErrInvalid, t.Name, c)
		}
		all = append(all, c)
	}
	for _, c := range all {
		if c != "" && !identRE.MatchString(c) {
			return nil, fmt.Errorf("%w: column %q", privacy.ErrInvalid, c)
		}
	}
	sel := make([]string, 0, len(t.Columns)+1)
	for _, c := range t.Columns {
		sel = append(sel, pgx.Identifier{c}.Sanitize())
	}
	order := "1"
	if t.RowIDColumn != "" {
		sel = append(sel, pgx.Identifier{t.RowIDColumn}.Sanitize()+"::text AS rampart_row_id")
		order = "rampart_row_id"
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + ident + " WHERE " + pgx.Identifier{t.SubjectColumn}.Sanitize() + " = $1"
	if t.OrgColumn != "" {
		q += " AND " + pgx.Identifier{t.OrgColumn}.Sanitize() + " = $2"
	}
	q += " ORDER BY " + order
	return &tableExporter{db: pool, t: t, query: q}, nil
}

func (e *tableExporter) Export(ctx context.Context, org, subjectID string, yield func(any) error) error {
	args := []any{subjectID}
	if e.t.OrgColumn != "" {
		args = append(args, org)
	}
	rows, err := e.db.Query(ctx, e.query, args...)
	if err != nil {
		return fmt.Errorf("privacy/pgstore: export %s: %w", e.t.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return fmt.Errorf("privacy/pgstore: export %s: %w", e.t.Name, err)
		}
		want := len(e.t.Columns)
		if e.t.RowIDColumn != "" {
			want++
		}
		if len(vals) != want {
			return fmt.Errorf("privacy/pgstore: export %s: %d columns read, %d expected", e.t.Name, len(vals), want)
		}
		rec := make(map[string]any, len(e.t.Columns))
		var rowID string
		if e.t.RowIDColumn != "" {
			rowID, _ = vals[len(e.t.Columns)].(string)
		}
		for i, c := range e.t.Columns {
			v := vals[i]
			if op, ok := e.t.Sealed[c]; ok && v != nil {
				ct, ok := v.([]byte)
				if !ok {
					return fmt.Errorf("privacy/pgstore: export %s.%s: sealed column is not bytea", e.t.Name, c)
				}
				pt, err := op.Open(rowID, ct)
				if err != nil {
					// The error names the column, never the ciphertext or plaintext.
					return fmt.Errorf("privacy/pgstore: export %s.%s: open: %w", e.t.Name, c, err)
				}
				v = string(pt)
			}
			rec[c] = v
		}
		if err := yield(rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("privacy/pgstore: export %s: %w", e.t.Name, err)
	}
	return nil
}
