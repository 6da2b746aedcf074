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

// ReencryptOptions tunes a re-encryption run. The zero value is sensible.
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

// ReencryptResult counts what a run did.
type ReencryptResult struct {
	Scanned   int64  // rows read
	Rewritten int64  // rows now under the primary key
	Current   int64  // rows already under the primary key, left alone
	Conflicts int64  // rows changed by the application meanwhile, left alone
	LastID    string // the last row examined ("" also when none was)
	Resume    Cursor // pass it as ReencryptOptions.After to resume
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
	var res ReencryptResult
	if f.err != nil {
		return res, f.err
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 2000
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	res.Resume, res.LastID = opts.After, opts.After.ID
	total, err := src.Remaining(ctx, opts.After)
	if err != nil {
		return res, fmt.Errorf("keyring: reencrypt %s.%s: %w", f.table, f.column, err)
	}
	start := now()
	primary := f.primary.key.id
	var swaps []Swap
	for {
		rows, err := src.Next(ctx, res.Resume, opts.BatchSize)
		if err != nil {
			return res, fmt.Errorf("keyring: reencrypt %s.%s: %w", f.table, f.column, err)
		}
		if len(rows) == 0 {
			return res, nil
		}
		if res.Resume.Started && rows[len(rows)-1].ID == res.Resume.ID {
			// A source that does not move past the cursor would make the
			// run loop for ever; stop instead.
			return res, fmt.Errorf("keyring: reencrypt %s.%s: the row source returned row %q again: it does not page past its cursor",
				f.table, f.column, res.Resume.ID)
		}
		swaps = swaps[:0]
		for _, r := range rows {
			res.Scanned++
			h, err := ParseHeader(r.Value)
			if err == nil && h.KeyID == primary {
				res.Current++
				continue
			}
			pt, _, err := f.open(r.ID, r.Value)
			if err != nil {
				return res, fmt.Errorf("keyring: reencrypt %s.%s: row %s: %w", f.table, f.column, r.ID, err)
			}
			nv := f.primary.seal(nil, r.ID, pt)
			clear(pt)
			if bytes.HasPrefix(r.Value, []byte(TextPrefix)) {
				nv = []byte(ToText(nv))
			}
			swaps = append(swaps, Swap{ID: r.ID, Old: r.Value, New: nv})
		}
		if len(swaps) > 0 {
			n, err := src.Swap(ctx, swaps)
			if err != nil {
				return res, fmt.Errorf("keyring: reencrypt %s.%s: %w", f.table, f.column, err)
			}
			res.Rewritten += n
			res.Conflicts += int64(len(swaps)) - n
		}
		res.LastID = rows[len(rows)-1].ID
		res.Resume = After(res.LastID)
		if opts.Checkpoint != nil {
			if err := opts.Checkpoint(ctx, res.Resume); err != nil {
				return res, fmt.Errorf("keyring: reencrypt checkpoint: %w", err)
			}
		}
		if opts.Progress != nil {
			p := Progress{Done: res.Scanned, Total: max(total, res.Scanned), LastID: res.LastID, Rewritten: res.Rewritten}
			if el := now().Sub(start).Seconds(); el > 0 {
				p.Rate = float64(res.Scanned) / el
				if p.Rate > 0 {
					p.ETA = time.Duration(float64(p.Total-p.Done) / p.Rate * float64(time.Second))
				}
			}
			opts.Progress(p)
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}
}
