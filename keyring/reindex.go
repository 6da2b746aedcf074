package keyring

import (
	"context"
	"crypto/hmac"
	"fmt"
)

// IndexRow is one stored blind-index value together with the stored value it
// was computed from, read in the same statement so that the two agree.
type IndexRow struct {
	ID     string // canonical text of the row's primary key
	Index  []byte // the stored index value
	Source []byte // the stored source (for example the sealed field); nil if NULL or not read
}

// IndexRowSource is what Reindex needs from a table: pgstore.NewIndexColumn
// implements it for (table, id column, index column, source column).
type IndexRowSource interface {
	// Remaining counts the rows with a non-NULL index after the cursor
	// (every row for the zero Cursor); it only feeds the progress estimate.
	Remaining(ctx context.Context, after Cursor) (int64, error)
	// NextIndex returns up to limit rows with a non-NULL index after the
	// cursor (from the first row for the zero Cursor), in ID order.
	NextIndex(ctx context.Context, after Cursor, limit int) ([]IndexRow, error)
	// Swap applies every swap whose row's index still holds its Old value
	// (compare-and-swap) and returns how many it applied.
	Swap(ctx context.Context, swaps []Swap) (int64, error)
}

// IndexValues returns, for each row and in the same order, the value its
// index is computed from, before normalisation (Reindex applies the
// index's normaliser). FieldValues opens the row's sealed source; a host
// whose source lives elsewhere supplies its own function. Reindex clears the
// returned slices once it has hashed them.
type IndexValues func(ctx context.Context, rows []IndexRow) ([][]byte, error)

// FieldValues returns the IndexValues that opens each row's Source as a
// value of f sealed for that row: the usual source of an index over an
// encrypted column (users.email_idx over users.email).
func FieldValues(f *Field) IndexValues {
	return func(_ context.Context, rows []IndexRow) ([][]byte, error) {
		if f.err != nil {
			return nil, f.err
		}
		out := make([][]byte, len(rows))
		for i, r := range rows {
			if r.Source == nil {
				continue
			}
			pt, _, err := f.open(r.ID, r.Source)
			if err != nil {
				for _, v := range out[:i] {
					clear(v)
				}
				return nil, fmt.Errorf("row %s: %w", r.ID, err)
			}
			out[i] = pt
		}
		return out, nil
	}
}

// Reindex moves every stored value of the index to the scope's primary key,
// the blind-index counterpart of Field.Reencrypt: it reads rows in ID order
// and in batches, skips those already under the primary key, asks values for
// the source of the others, checks that the source reproduces the stored
// value under the key the value names (any key of the scope, retired ones
// included, so an index left under a retired key can be repaired; a bare
// token written before key IDs were recorded is checked against every key),
// and writes the new value back only if the row still holds what was read.
// An application writing the row meanwhile already indexes under the
// primary key; its row's swap fails and is counted as a conflict.
//
// The run is idempotent and resumable (pass the last checkpoint as After).
// A row whose source does not reproduce its index stops the run with
// ErrIndexMismatch naming the row, before any row of its batch is written,
// so a wrong source or normaliser never leaves an index that lookups miss.
func (b *BlindIndex) Reindex(ctx context.Context, src IndexRowSource, values IndexValues, opts ReencryptOptions) (ReencryptResult, error) {
	if values == nil {
		return ReencryptResult{}, fmt.Errorf("%w: reindex %s.%s needs the values to index", ErrInvalidDocument, b.table, b.column)
	}
	wrap := func(err error) error { return fmt.Errorf("keyring: reindex %s.%s: %w", b.table, b.column, err) }
	run, err := startBatches(ctx, opts, src.Remaining)
	if err != nil {
		return run.res, wrap(err)
	}
	primary := b.keys[0]
	var swaps []Swap
	var pending []IndexRow
	for {
		rows, err := src.NextIndex(ctx, run.res.Resume, run.opts.BatchSize)
		if err != nil {
			return run.res, wrap(err)
		}
		if len(rows) == 0 {
			return run.res, nil
		}
		if err := run.stuck(rows[len(rows)-1].ID); err != nil {
			return run.res, wrap(err)
		}
		swaps, pending = swaps[:0], pending[:0]
		for _, r := range rows {
			run.res.Scanned++
			if id, ok := b.KeyID(r.Index); ok && id == primary.id {
				run.res.Current++
				continue
			}
			pending = append(pending, r)
		}
		if len(pending) > 0 {
			vals, err := values(ctx, pending)
			if err != nil {
				return run.res, wrap(err)
			}
			if len(vals) != len(pending) {
				return run.res, wrap(fmt.Errorf("values returned %d values for %d rows", len(vals), len(pending)))
			}
			for i, r := range pending {
				if vals[i] == nil {
					clearAll(vals)
					return run.res, &ColumnError{Table: b.table, Column: b.column, Err: fmt.Errorf("%w: row %s has an index but no source value", ErrIndexMismatch, r.ID)}
				}
				v := b.norm(vals[i])
				if !b.verify(r.Index, v) {
					clearAll(vals)
					return run.res, &ColumnError{Table: b.table, Column: b.column, Err: fmt.Errorf("%w: row %s", ErrIndexMismatch, r.ID)}
				}
				swaps = append(swaps, Swap{ID: r.ID, Old: r.Index, New: b.mac(primary, v)})
			}
			clearAll(vals)
		}
		if err := run.done(ctx, src.Swap, swaps, rows[len(rows)-1].ID); err != nil {
			return run.res, wrap(err)
		}
	}
}

// verify reports whether stored is the index of the normalised value v
// under the key it names, or, for a bare token, under any key of the scope.
func (b *BlindIndex) verify(stored, v []byte) bool {
	if id, ok := b.KeyID(stored); ok {
		for _, k := range b.all {
			if k.id == id {
				return hmac.Equal(b.mac(k, v), stored)
			}
		}
		return false
	}
	if len(stored) != b.size {
		return false
	}
	for _, k := range b.all {
		if hmac.Equal(b.mac(k, v)[IndexHeaderSize:], stored) {
			return true
		}
	}
	return false
}

func clearAll(vs [][]byte) {
	for _, v := range vs {
		clear(v)
	}
}
