package nec1099

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// memoryStore is the in-memory Store. It is unexported because its methods
// only restate the interface; NewMemoryStore documents it.
type memoryStore struct {
	mu          sync.Mutex
	generations []Generation
	filings     []FilingRecord
}

// NewMemoryStore returns an empty in-memory Store for tests, examples and
// single-process hosts.
func NewMemoryStore() Store { return &memoryStore{} }

// SaveGeneration implements Store.
func (s *memoryStore) SaveGeneration(_ context.Context, g Generation, records []FilingRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	type k struct {
		org, payee string
		year, seq  int
	}
	for _, old := range s.generations {
		if old.ID == g.ID {
			return fmt.Errorf("%w: generation %q exists", ErrConflict, g.ID)
		}
	}
	have := map[k]bool{}
	for _, f := range s.filings {
		have[k{f.Org, f.PayeeID, f.TaxYear, f.Seq}] = true
	}
	for _, f := range records {
		kk := k{f.Org, f.PayeeID, f.TaxYear, f.Seq}
		if have[kk] {
			return fmt.Errorf("%w: payee %q tax year %d seq %d", ErrConflict, f.PayeeID, f.TaxYear, f.Seq)
		}
		have[kk] = true
	}
	s.generations = append(s.generations, g)
	s.filings = append(s.filings, records...)
	return nil
}

// FilingHistory implements Store.
func (s *memoryStore) FilingHistory(_ context.Context, org string, taxYear int) ([]FilingRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []FilingRecord
	for _, f := range s.filings {
		if f.Org == org && f.TaxYear == taxYear {
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].PayeeID != out[j].PayeeID {
			return out[i].PayeeID < out[j].PayeeID
		}
		return out[i].Seq < out[j].Seq
	})
	return out, nil
}

// Generations implements Store.
func (s *memoryStore) Generations(_ context.Context, org string, taxYear int) ([]Generation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Generation
	for _, g := range s.generations {
		if g.Org == org && g.TaxYear == taxYear {
			out = append(out, g)
		}
	}
	return out, nil
}
