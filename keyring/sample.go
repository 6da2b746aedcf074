package keyring

import (
	"context"
	"errors"
	"fmt"
)

// A Sampler reads stored values of a column for the guardrail to open: up
// to limit rows of (table, column) whose envelope names key keyID, with
// their row IDs (the text the values were sealed for). Counting key IDs
// proves no value is under a retired or undeclared key; opening a sample
// proves the registry's key under each ID is the key that sealed the data
// (a key replaced under the same ID passes every count and opens nothing).
// pgstore.Counter implements it. Return an error wrapping ErrNotSampled for
// a column that cannot be sampled (no single-column primary key): Check
// reports it as skipped.
type Sampler interface {
	SampleKeyID(ctx context.Context, table, column string, keyID uint32, limit int) ([]Row, error)
}

// DefaultSample is how many values per key ID and column Check opens when
// CheckOptions.Sample is 0.
const DefaultSample = 5

// SampleCount is what opening a sample of one column's values under one key
// showed.
type SampleCount struct {
	Table   string `json:"table"`
	Column  string `json:"column"`
	KeyID   uint32 `json:"key_id"`
	KCV     string `json:"kcv,omitempty"` // the registry's check value of the key
	Opened  int    `json:"opened"`
	Failed  int    `json:"failed"`
	Skipped string `json:"skipped,omitempty"` // why the column was not sampled
}

// sampleColumns opens up to n stored values per (field column, key ID) that
// the counts found under a primary or active key, and reports values that do
// not open: under the same ID the registry holds another key than the one
// that sealed them (or the rows were altered).
func sampleColumns(ctx context.Context, d *Document, opts CheckOptions, s Sampler, rep *Report) error {
	n := opts.Sample
	if n == 0 {
		n = DefaultSample
	}
	if n < 0 {
		return nil
	}
	ring, err := New(d, opts.Columns...)
	if err != nil {
		return nil // the document's own findings are already reported
	}
	for _, c := range rep.Counts {
		if c.Status != Primary.String() && c.Status != Active.String() {
			continue
		}
		f := ring.Field(c.Table, c.Column)
		if f.Err() != nil {
			continue // not a field column (a blind index)
		}
		sc := SampleCount{Table: c.Table, Column: c.Column, KeyID: c.KeyID}
		sc.KCV, _ = ring.keyCheckValue(c.KeyID)
		rows, err := s.SampleKeyID(ctx, c.Table, c.Column, c.KeyID, n)
		if errors.Is(err, ErrNotSampled) {
			sc.Skipped = trimPrefix(err)
			rep.Sampled = append(rep.Sampled, sc)
			continue
		}
		if err != nil {
			return fmt.Errorf("keyring: check %s.%s: sample key %d: %w", c.Table, c.Column, c.KeyID, err)
		}
		for _, r := range rows {
			pt, err := f.Open(r.ID, r.Value)
			clear(pt)
			if err != nil {
				sc.Failed++
			} else {
				sc.Opened++
			}
		}
		rep.Sampled = append(rep.Sampled, sc)
		if sc.Failed == 0 {
			continue
		}
		fd := Finding{Kind: FindingWrongKey, Scope: c.Scope, Table: c.Table, Column: c.Column, KeyID: c.KeyID, Count: int64(sc.Failed)}
		if sc.Opened == 0 {
			fd.Message = fmt.Sprintf("column %s.%s: none of %d sampled values under key %d (scope %q, kcv %s) opens: "+
				"the registry's key %d is not the key that sealed them; restore the original key under this ID",
				c.Table, c.Column, sc.Failed, c.KeyID, c.Scope, sc.KCV, c.KeyID)
		} else {
			fd.Kind = FindingUndecryptable
			fd.Message = fmt.Sprintf("column %s.%s: %d of %d sampled values under key %d (scope %q) do not open: "+
				"altered, or moved from another row or column", c.Table, c.Column, sc.Failed, sc.Failed+sc.Opened, c.KeyID, c.Scope)
		}
		rep.Findings = append(rep.Findings, fd)
	}
	return nil
}
