package compliance

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// memoryStore is the in-memory Store. It is unexported because its methods
// only restate the interfaces; NewMemoryStore documents it.
type memoryStore struct {
	mu         sync.Mutex
	states     map[MemberKey]MemberState
	judgements map[MemberKey][]Judgement
	runs       []AuditRun
	reports    []ReportRecord
}

// NewMemoryStore returns an empty in-memory Store for tests, examples and
// single-process hosts. Its Advance holds a store-wide lock while fn runs,
// so fn (and the action hooks it calls) must not call back into the same
// store.
func NewMemoryStore() Store {
	return &memoryStore{
		states:     map[MemberKey]MemberState{},
		judgements: map[MemberKey][]Judgement{},
	}
}

// Advance implements LadderStore.
func (s *memoryStore) Advance(ctx context.Context, key MemberKey, j Judgement, fn func(MemberState) (MemberState, error)) (MemberState, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return MemberState{}, false, err
	}
	prev := s.states[key]
	for _, old := range s.judgements[key] {
		if old.Period == j.Period {
			return prev, false, nil
		}
	}
	next, err := fn(prev)
	if err != nil {
		return prev, false, err
	}
	j.FromLevel, j.ToLevel = prev.Level, next.Level
	s.states[key] = next
	s.judgements[key] = append(s.judgements[key], j)
	return next, true, nil
}

// MemberState implements LadderStore.
func (s *memoryStore) MemberState(_ context.Context, key MemberKey) (MemberState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.states[key], nil
}

// Judgements implements LadderStore.
func (s *memoryStore) Judgements(_ context.Context, key MemberKey) ([]Judgement, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Judgement(nil), s.judgements[key]...), nil
}

// SaveAuditRun implements LadderStore.
func (s *memoryStore) SaveAuditRun(_ context.Context, run AuditRun) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = append(s.runs, run)
	return nil
}

// AuditRuns implements LadderStore.
func (s *memoryStore) AuditRuns(_ context.Context, org, audit string) ([]AuditRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AuditRun
	for _, r := range s.runs {
		if r.Org == org && r.Audit == audit {
			out = append(out, r)
		}
	}
	return out, nil
}

// SaveReport implements ReportStore.
func (s *memoryStore) SaveReport(_ context.Context, r ReportRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, old := range s.reports {
		if old.ID == r.ID {
			return fmt.Errorf("%w: report %s exists", ErrConflict, r.ID)
		}
	}
	r.JSON = append([]byte(nil), r.JSON...)
	s.reports = append(s.reports, r)
	return nil
}

// Reports implements ReportStore.
func (s *memoryStore) Reports(_ context.Context, org string, limit int) ([]ReportRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ReportRecord
	for i := len(s.reports) - 1; i >= 0; i-- {
		if s.reports[i].Org == org {
			out = append(out, s.reports[i])
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].GeneratedAt.After(out[j].GeneratedAt) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
