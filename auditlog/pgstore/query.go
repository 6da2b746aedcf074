package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/rampart-sdk/rampart/auditlog"
)

var _ auditlog.EntryQuerier = (*store)(nil)

// QueryEntries implements auditlog.EntryQuerier with one keyset query: the
// rows of chain from q.From in primary-key order, filtered, LIMIT limit.
// Filters are applied to the rows in seq order (no index per filter: each
// would cost every append); auditlog.ReadPage bounds how many rows one
// filtered page examines (Query.ScanLimit).
func (s *store) QueryEntries(ctx context.Context, chain string, q auditlog.Query, limit int, fn func(e *auditlog.Entry) error) error {
	if limit <= 0 {
		return fmt.Errorf("%w: limit %d", auditlog.ErrBadQuery, limit)
	}
	if q.From > maxSeq || (q.To != 0 && q.From >= q.To) {
		return nil
	}
	var (
		where strings.Builder
		args  = []any{chain, int64(q.From)}
	)
	where.WriteString(`chain = $1 AND seq >= $2`)
	add := func(cond string, v any) {
		args = append(args, v)
		where.WriteString(" AND " + cond + " $" + strconv.Itoa(len(args)))
	}
	if q.To != 0 && q.To <= maxSeq {
		add("seq <", int64(q.To))
	}
	if q.Action != "" {
		add("action =", q.Action)
	}
	if q.Actor != "" {
		add("actor =", q.Actor)
	}
	if q.Target != "" {
		add("target =", q.Target)
	}
	if !q.Since.IsZero() {
		add("at >=", q.Since)
	}
	if !q.Until.IsZero() {
		add("at <", q.Until)
	}
	out := make([]auditlog.Entry, 0, min(limit, scanPage))
	rows, err := s.pool.Query(ctx, `SELECT `+entryColumns+` FROM auditlog_entries WHERE `+where.String()+
		` ORDER BY seq LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		return fmt.Errorf("auditlog/pgstore: query: %w", err)
	}
	out, err = readEntries(rows, out)
	if err != nil {
		return fmt.Errorf("auditlog/pgstore: query: %w", err)
	}
	for i := range out {
		if err := fn(&out[i]); err != nil {
			return err
		}
	}
	return nil
}

// maxSeq is the largest sequence number a bigint column holds.
const maxSeq = 1<<63 - 1

// readEntries decodes rows of entryColumns into out and closes rows.
func readEntries(rows pgx.Rows, out []auditlog.Entry) ([]auditlog.Entry, error) {
	defer rows.Close()
	d := decoder{intern: map[string]string{}}
	fast := binaryColumns(rows.FieldDescriptions())
	for rows.Next() {
		out = append(out, auditlog.Entry{})
		e := &out[len(out)-1]
		var err error
		if fast {
			err = d.decode(rows.RawValues(), e)
		} else {
			err = scanEntry(rows, e)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}
