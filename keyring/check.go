package keyring

import (
	"context"
	"fmt"
	"sort"
)

// KeyIDCounter counts the stored envelopes of a column per key ID, reading
// only their headers. Key ID 0 counts values that are not envelopes at all.
// pgstore implements it with one GROUP BY per column.
type KeyIDCounter interface {
	CountKeyIDs(ctx context.Context, table, column string) (map[uint32]int64, error)
}

// FindingKind classifies a guardrail finding.
type FindingKind string

// The guardrail's findings.
const (
	FindingUnknownScope  FindingKind = "unknown_scope"  // a declared column names a scope with no keys
	FindingUnusedScope   FindingKind = "unused_scope"   // a scope no column uses
	FindingSharedKey     FindingKind = "shared_key"     // the same material under two key IDs
	FindingNoPrimary     FindingKind = "no_primary"     // a scope without exactly one primary key
	FindingUndeclaredKey FindingKind = "undeclared_key" // stored data under a key not of the column's scope
	FindingRetiredKey    FindingKind = "retired_key"    // stored data under a retired key
	FindingMalformed     FindingKind = "malformed"      // stored values that are not envelopes
	FindingMixedScope    FindingKind = "mixed_scope"    // a scope serving both field and blind-index columns
	// FindingInvalidDocument is a broken rule of the document that New
	// refuses: a bad version, key ID 0, an unknown status, missing or
	// wrong-sized material, a bad scope name or column declaration.
	FindingInvalidDocument FindingKind = "invalid_document"
	FindingDuplicateKeyID  FindingKind = "duplicate_key_id" // one key ID in two entries
	FindingDuplicateColumn FindingKind = "duplicate_column" // one (table, column) declared twice
	// FindingKCVMismatch is key material that does not match the key check
	// value recorded for its ID.
	FindingKCVMismatch FindingKind = "kcv_mismatch"
	// FindingWrongKey is a sample of stored values under a key ID none of
	// which opens with the registry's key of that ID: another key sealed
	// them.
	FindingWrongKey FindingKind = "wrong_key"
	// FindingUndecryptable is a sample of which some values open and some
	// do not: altered rows, or values moved between rows or columns.
	FindingUndecryptable FindingKind = "undecryptable"
)

// Finding is one problem the guardrail found.
type Finding struct {
	Kind    FindingKind `json:"kind"`
	Scope   string      `json:"scope,omitempty"`
	Table   string      `json:"table,omitempty"`
	Column  string      `json:"column,omitempty"`
	KeyID   uint32      `json:"key_id,omitempty"`
	Count   int64       `json:"count,omitempty"`
	Message string      `json:"message"`
}

// ColumnCount is how many stored values of a column are under one key.
type ColumnCount struct {
	Table  string `json:"table"`
	Column string `json:"column"`
	Scope  string `json:"scope"`
	KeyID  uint32 `json:"key_id"`
	Status string `json:"status"` // primary, active, retired, undeclared, malformed or untagged
	Count  int64  `json:"count"`
}

// Report is the guardrail's result. OK is true when there are no findings.
type Report struct {
	OK       bool          `json:"ok"`
	Findings []Finding     `json:"findings"`
	Counts   []ColumnCount `json:"counts,omitempty"`
	Sampled  []SampleCount `json:"sampled,omitempty"`
}

// CheckOptions says what Check looks at beyond the document.
type CheckOptions struct {
	// Sample is how many stored values per key ID and column Check opens
	// when Counter also implements Sampler (pgstore.Counter does): 0 means
	// DefaultSample, a negative number turns sampling off.
	Sample int
	// Columns declared in code, added to the document's.
	Columns []Column
	// Counter, if set, scans the stored data of every declared field column,
	// and of every blind-index column too when it also implements
	// IndexKeyIDCounter.
	Counter KeyIDCounter
}

// Check is the guardrail. Call it from a test of the host (or run
// "rampart keys check") so the build fails on every document New (and so
// Load) would refuse: Check runs the very validation New runs (see
// Document.Validate) over the document and opts.Columns, and reports each
// broken rule as a finding. It also reports a scope used by no column and,
// with a Counter, stored data under a key ID that is undeclared for its
// column's scope, retired, or no envelope at all; and when the Counter is
// also a Sampler, values under a primary or active key that do not open
// with the registry's key of that ID (a key replaced under the same ID), and
// when it is a KeyCheckValueReader, keys whose check value differs from the
// one the database recorded under their ID.
// Unlike New it reports every problem instead of stopping at the first.
func Check(ctx context.Context, d *Document, opts CheckOptions) (*Report, error) {
	rep := &Report{Findings: []Finding{}}
	add := func(f Finding) { rep.Findings = append(rep.Findings, f) }
	for _, p := range d.problems(opts.Columns) {
		add(Finding{Kind: p.kind, Scope: p.scope, Table: p.table, Column: p.column, KeyID: p.keyID, Message: trimPrefix(p.err)})
	}
	columns := append(append([]Column(nil), d.Columns...), opts.Columns...)
	used := map[string]bool{}
	for _, c := range columns {
		used[c.Scope] = true
	}
	for _, s := range d.Scopes() {
		if !used[s] {
			add(Finding{Kind: FindingUnusedScope, Scope: s, Message: fmt.Sprintf("scope %q is used by no declared column", s)})
		}
	}
	if opts.Counter != nil {
		for _, c := range columns {
			if c.kind() != KindField {
				if ic, ok := opts.Counter.(IndexKeyIDCounter); ok {
					if err := checkIndexColumn(ctx, d, c, ic, rep); err != nil {
						return nil, err
					}
				}
				continue
			}
			counts, err := opts.Counter.CountKeyIDs(ctx, c.Table, c.Column)
			if err != nil {
				return nil, fmt.Errorf("keyring: check %s.%s: %w", c.Table, c.Column, err)
			}
			ids := make([]uint32, 0, len(counts))
			for id := range counts {
				ids = append(ids, id)
			}
			sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
			for _, id := range ids {
				n := counts[id]
				cc := ColumnCount{Table: c.Table, Column: c.Column, Scope: c.Scope, KeyID: id, Count: n}
				k, found := d.Key(id)
				switch {
				case id == 0:
					cc.Status = "malformed"
					add(Finding{Kind: FindingMalformed, Scope: c.Scope, Table: c.Table, Column: c.Column, Count: n,
						Message: fmt.Sprintf("column %s.%s: %d values are not keyring envelopes", c.Table, c.Column, n)})
				case !found || k.Scope != c.Scope:
					cc.Status = "undeclared"
					add(Finding{Kind: FindingUndeclaredKey, Scope: c.Scope, Table: c.Table, Column: c.Column, KeyID: id, Count: n,
						Message: fmt.Sprintf("column %s.%s: %d values under key %d, which is not declared for scope %q", c.Table, c.Column, n, id, c.Scope)})
				case k.Status == Retired:
					cc.Status = "retired"
					add(Finding{Kind: FindingRetiredKey, Scope: c.Scope, Table: c.Table, Column: c.Column, KeyID: id, Count: n,
						Message: fmt.Sprintf("column %s.%s: %d values under retired key %d", c.Table, c.Column, n, id)})
				default:
					cc.Status = k.Status.String()
				}
				rep.Counts = append(rep.Counts, cc)
			}
		}
	}
	if r, ok := opts.Counter.(KeyCheckValueReader); ok {
		if err := compareRecordedKCVs(ctx, d, r, rep); err != nil {
			return nil, err
		}
	}
	if s, ok := opts.Counter.(Sampler); ok {
		if err := sampleColumns(ctx, d, opts, s, rep); err != nil {
			return nil, err
		}
	}
	rep.OK = len(rep.Findings) == 0
	return rep, nil
}
