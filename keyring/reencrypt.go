package keyring

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// Row is one stored value of a column, identified by its row ID (the
// canonical text of the primary key, the same string given to Seal).
type Row struct {
	ID    string
	Value []byte
}

// Swap replaces Old by New in row ID, only if the row still holds Old.
type Swap struct {
	ID       string
	Old, New []byte
}

// Cursor is a position in a table's row-ID order: before the first row (the
// zero Cursor) or just after the row whose ID is ID. A text primary key may
// hold "", so "after the row with the empty ID" (Cursor{Started: true}) is
// not the start: a scan that confused the two would read that row for ever.
type Cursor struct {
	ID      string `json:"id"`
	Started bool   `json:"started"`
}

// After returns the cursor just after row id.
func After(id string) Cursor { return Cursor{ID: id, Started: true} }

// String is "start" or "after row <id>", for messages.
func (c Cursor) String() string {
	if !c.Started {
		return "start"
	}
	return fmt.Sprintf("after row %q", c.ID)
}

// RowSource is what the re-encryption engine needs from a table; pgstore
// implements it for (table, id column, column) with keyset pagination.
type RowSource interface {
	// Remaining counts the non-NULL rows after the cursor (every row for
	// the zero Cursor); it only feeds the progress estimate.
	Remaining(ctx context.Context, after Cursor) (int64, error)
	// Next returns up to limit non-NULL rows after the cursor (from the
	// first row for the zero Cursor), in ID order.
	Next(ctx context.Context, after Cursor, limit int) ([]Row, error)
	// Swap applies every swap whose row still holds its Old value
	// (compare-and-swap) and returns how many it applied.
	Swap(ctx context.Context, swaps []Swap) (int64, error)
}

// Progress is reported after each batch.
type Progress struct {
	Done      int64         // rows examined so far in this run
	Total     int64         // rows to examine in this run (an estimate)
	Rate      float64       // rows per second
	ETA       time.Duration // estimated time left
	LastID    string        // the last row examined (see ReencryptResult.Resume to resume)
	Rewritten int64         // rows moved to the primary key so far
}

// ReencryptOptions tunes a Field.Reencrypt or BlindIndex.Reindex run. The
// zero value is sensible.
type ReencryptOptions struct {
	// BatchSize is the number of rows per round trip (default 2000).
	BatchSize int
	// After resumes after this cursor (a checkpoint from a previous run);
	// the zero Cursor starts from the first row.
	After Cursor
	// Checkpoint, if set, is called after each completed batch with the
	// cursor just after its last row; persist it to resume after a crash.
	Checkpoint func(ctx context.Context, after Cursor) error
	// Progress, if set, is called after each batch.
	Progress func(Progress)
	// Now is the clock for rates (default time.Now).
	Now func() time.Time
}

// ReencryptResult counts what a Field.Reencrypt or BlindIndex.Reindex run
// did.
type ReencryptResult struct {
	Scanned   int64  `json:"scanned"`   // rows read
	Rewritten int64  `json:"rewritten"` // rows now under the primary key
	Current   int64  `json:"current"`   // rows already under the primary key, left alone
	Conflicts int64  `json:"conflicts"` // rows changed by the application meanwhile, left alone
	LastID    string `json:"last_id"`   // the last row examined ("" also when none was)
	Resume    Cursor `json:"-"`         // pass it as ReencryptOptions.After to resume
}

// Reencrypt moves every value of the column to the scope's primary key: it
// reads rows in ID order and in batches, opens each value not yet under the
// primary key, seals it again for the same row and writes it back only if the
// row still holds what was read. An application that writes the column at
// the same time never loses its update (it already seals under the primary
// key; the swap of that row just fails and is counted as a conflict).
//
// The run is idempotent (rows under the primary key are skipped) and
// resumable: pass the last checkpoint as After. A value that does not open
// (tampered, retired or undeclared key) stops the run with an error naming
// the row, before any later row is touched.
func (f *Field) Reencrypt(ctx context.Context, src RowSource, opts ReencryptOptions) (ReencryptResult, error) {
	if f.err != nil {
		return ReencryptResult{}, f.err
	}
	wrap := func(err error) error { return fmt.Errorf("keyring: reencrypt %s.%s: %w", f.table, f.column, err) }
	run, err := startBatches(ctx, opts, src.Remaining)
	if err != nil {
		return ReencryptResult{Resume: opts.After, LastID: opts.After.ID}, wrap(err)
	}
	primary := f.primary.key.id
	var swaps []Swap
	for {
		rows, err := src.Next(ctx, run.res.Resume, run.opts.BatchSize)
		if err != nil {
			return run.res, wrap(err)
		}
		if len(rows) == 0 {
			return run.res, nil
		}
		if err := run.stuck(rows[len(rows)-1].ID); err != nil {
			return run.res, wrap(err)
		}
		swaps = swaps[:0]
		for _, r := range rows {
			run.res.Scanned++
			h, err := ParseHeader(r.Value)
			if err == nil && h.KeyID == primary {
				run.res.Current++
				continue
			}
			pt, _, err := f.open(r.ID, r.Value)
			if err != nil {
				return run.res, fmt.Errorf("keyring: reencrypt %s.%s: row %s: %w", f.table, f.column, r.ID, err)
			}
			nv := f.primary.seal(nil, r.ID, pt)
			clear(pt)
			if bytes.HasPrefix(r.Value, []byte(TextPrefix)) {
				nv = []byte(toText(nv))
			}
			swaps = append(swaps, Swap{ID: r.ID, Old: r.Value, New: nv})
		}
		if err := run.done(ctx, src.Swap, swaps, rows[len(rows)-1].ID); err != nil {
			return run.res, wrap(err)
		}
	}
}
