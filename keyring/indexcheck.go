package keyring

import (
	"context"
	"fmt"
	"slices"
)

// IndexKeyIDCounter counts the stored values of a blind-index column per key
// ID, reading only their 5-byte headers. keyIDs are the IDs of the column's
// scope: a value counts under its key ID only if it has the tagged layout and
// names one of them; every other value (a bare token written before key IDs
// were recorded, or bytes that are no index value) counts under 0.
// pgstore's Counter implements it next to KeyIDCounter.
type IndexKeyIDCounter interface {
	CountIndexKeyIDs(ctx context.Context, table, column string, keyIDs []uint32) (map[uint32]int64, error)
}

// StatusUntagged is the ColumnCount status of blind-index values that carry
// no key ID of their scope (written before key IDs were recorded): lookups
// still find them, but the key they were computed under is unknown until
// Reindex rewrites them, so no key of the scope may be retired meanwhile.
const StatusUntagged = "untagged"

// ScopeKeyIDs returns the IDs of every key of scope in d, in ascending order.
func (d *Document) ScopeKeyIDs(scope string) []uint32 {
	var ids []uint32
	for _, k := range d.Keys {
		if k.Scope == scope {
			ids = append(ids, k.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// checkIndexColumn counts a blind-index column per key ID for Check. An
// index value under a retired key is a finding: lookups (Sums) no longer
// compute it, so its row can no longer be found.
func checkIndexColumn(ctx context.Context, d *Document, c Column, counter IndexKeyIDCounter, rep *Report) error {
	counts, err := counter.CountIndexKeyIDs(ctx, c.Table, c.Column, d.ScopeKeyIDs(c.Scope))
	if err != nil {
		return fmt.Errorf("keyring: check %s.%s: %w", c.Table, c.Column, err)
	}
	ids := make([]uint32, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		n := counts[id]
		cc := ColumnCount{Table: c.Table, Column: c.Column, Scope: c.Scope, KeyID: id, Count: n}
		k, found := d.Key(id)
		switch {
		case id == 0:
			cc.Status = StatusUntagged
		case !found || k.Scope != c.Scope:
			cc.Status = "undeclared"
			rep.Findings = append(rep.Findings, Finding{Kind: FindingUndeclaredKey, Scope: c.Scope, Table: c.Table, Column: c.Column, KeyID: id, Count: n,
				Message: fmt.Sprintf("blind index %s.%s: %d values under key %d, which is not declared for scope %q", c.Table, c.Column, n, id, c.Scope)})
		case k.Status == Retired:
			cc.Status = Retired.String()
			rep.Findings = append(rep.Findings, Finding{Kind: FindingRetiredKey, Scope: c.Scope, Table: c.Table, Column: c.Column, KeyID: id, Count: n,
				Message: fmt.Sprintf("blind index %s.%s: %d values under retired key %d, which lookups no longer find; run \"rampart keys reindex\"", c.Table, c.Column, n, id)})
		default:
			cc.Status = k.Status.String()
		}
		rep.Counts = append(rep.Counts, cc)
	}
	return nil
}

// KeyUse is how many stored values of one declared column key id may still
// be needed for: values under it, and for a blind index also the untagged
// values (written before key IDs were recorded), whose key is unknown.
type KeyUse struct {
	Table    string     `json:"table"`
	Column   string     `json:"column"`
	Kind     ColumnKind `json:"kind"`
	Count    int64      `json:"count"`    // values under the key
	Untagged int64      `json:"untagged"` // blind-index values without a key ID
}

// KeyInUse is the check behind "rampart keys retire": it counts, with
// counter, the stored values of every column declared (in d or in columns)
// for key id's scope, and returns the columns that still need the key. An
// encrypted column needs it while it holds envelopes under it (re-encrypt
// them); a blind-index column while it holds values under it or untagged
// values (reindex them; for a pepper whose source is not stored, such as
// API-key secrets, wait until the hashed keys have expired or been
// reissued). A blind-index column needs counter to implement
// IndexKeyIDCounter.
func KeyInUse(ctx context.Context, d *Document, id uint32, counter KeyIDCounter, columns ...Column) ([]KeyUse, error) {
	k, ok := d.Key(id)
	if !ok {
		return nil, fmt.Errorf("%w: key %d does not exist", ErrInvalidDocument, id)
	}
	var out []KeyUse
	for _, c := range append(append([]Column(nil), d.Columns...), columns...) {
		if c.Scope != k.Scope {
			continue
		}
		u := KeyUse{Table: c.Table, Column: c.Column, Kind: c.kind()}
		if c.kind() == KindBlindIndex {
			ic, ok := counter.(IndexKeyIDCounter)
			if !ok {
				return nil, &ColumnError{Table: c.Table, Column: c.Column, Err: fmt.Errorf("%w: the counter cannot count blind-index values", ErrInvalidDocument)}
			}
			counts, err := ic.CountIndexKeyIDs(ctx, c.Table, c.Column, d.ScopeKeyIDs(c.Scope))
			if err != nil {
				return nil, fmt.Errorf("keyring: count %s.%s: %w", c.Table, c.Column, err)
			}
			u.Count, u.Untagged = counts[id], counts[0]
		} else {
			counts, err := counter.CountKeyIDs(ctx, c.Table, c.Column)
			if err != nil {
				return nil, fmt.Errorf("keyring: count %s.%s: %w", c.Table, c.Column, err)
			}
			u.Count = counts[id]
		}
		if u.Count > 0 || u.Untagged > 0 {
			out = append(out, u)
		}
	}
	return out, nil
}
