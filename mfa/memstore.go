package mfa

import (
	"context"
	"sync"
	"time"
)

type memKey struct{ org, user string }

type memEntry struct {
	e     Enrollment
	codes map[string]struct{}
}

// memoryStore is an in-process Store for tests, examples and single-instance
// tools. One mutex serialises everything, which makes every method atomic.
// It is unexported because its methods only restate Store.
type memoryStore struct {
	mu       sync.Mutex
	entries  map[memKey]*memEntry
	policies map[string]bool
}

// NewMemoryStore returns an empty in-process Store, for tests, examples and
// single-instance tools. One mutex serialises everything, which makes every
// method atomic; its state vanishes with the process.
func NewMemoryStore() Store {
	return &memoryStore{
		entries:  map[memKey]*memEntry{},
		policies: map[string]bool{},
	}
}

func cloneEnrollment(e Enrollment) Enrollment {
	e.SealedSecret = append([]byte(nil), e.SealedSecret...)
	e.Failures = append([]time.Time(nil), e.Failures...)
	return e
}

// BeginEnrollment implements Store.
func (s *memoryStore) BeginEnrollment(_ context.Context, e Enrollment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := memKey{e.Org, e.User}
	if cur, ok := s.entries[k]; ok && cur.e.Confirmed {
		return ErrAlreadyEnrolled
	}
	e = cloneEnrollment(e)
	e.Confirmed, e.LastStep, e.ConfirmedAt, e.Failures = false, -1, time.Time{}, nil
	if cur, ok := s.entries[k]; ok {
		e.Failures = cur.e.Failures // a new Begin does not reset the attempt limit
	}
	s.entries[k] = &memEntry{e: e, codes: map[string]struct{}{}}
	return nil
}

// Enrollment implements Store.
func (s *memoryStore) Enrollment(_ context.Context, org, user string) (Enrollment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.entries[memKey{org, user}]
	if !ok {
		return Enrollment{}, ErrNotEnrolled
	}
	return cloneEnrollment(cur.e), nil
}

// ConfirmEnrollment implements Store.
func (s *memoryStore) ConfirmEnrollment(_ context.Context, org, user, id string, step int64, at, since time.Time, limit int, codeHashes [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.entries[memKey{org, user}]
	if !ok || cur.e.Confirmed || cur.e.ID != id {
		return ErrNotPending
	}
	if countAfter(cur.e.Failures, since) >= limit {
		return ErrTooManyAttempts
	}
	cur.e.Confirmed, cur.e.LastStep, cur.e.ConfirmedAt, cur.e.Failures = true, step, at, nil
	cur.codes = hashSet(codeHashes)
	return nil
}

func hashSet(hs [][]byte) map[string]struct{} {
	m := make(map[string]struct{}, len(hs))
	for _, h := range hs {
		m[string(h)] = struct{}{}
	}
	return m
}

// DeleteEnrollment implements Store.
func (s *memoryStore) DeleteEnrollment(_ context.Context, org, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, memKey{org, user})
	return nil
}

// AcceptStep implements Store.
func (s *memoryStore) AcceptStep(_ context.Context, org, user, id string, step int64, since time.Time, limit int) (Verdict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.entries[memKey{org, user}]
	switch {
	case !ok || !cur.e.Confirmed || cur.e.ID != id:
		return Stale, nil
	case countAfter(cur.e.Failures, since) >= limit:
		return LockedOut, nil
	case step <= cur.e.LastStep:
		return Replayed, nil
	}
	cur.e.LastStep, cur.e.Failures = step, nil
	return Accepted, nil
}

// RecordFailure implements Store.
func (s *memoryStore) RecordFailure(_ context.Context, org, user string, now, since time.Time, limit int) ([]time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.entries[memKey{org, user}]
	if !ok {
		return nil, false, ErrNotEnrolled
	}
	kept := keepAfter(cur.e.Failures, since)
	if len(kept) >= limit {
		return kept, false, nil
	}
	cur.e.Failures = append(kept, now)
	return append([]time.Time(nil), cur.e.Failures...), true, nil
}

// ReplaceRecoveryCodes implements Store.
func (s *memoryStore) ReplaceRecoveryCodes(_ context.Context, org, user string, codeHashes [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.entries[memKey{org, user}]
	if !ok || !cur.e.Confirmed {
		return ErrNotEnrolled
	}
	cur.codes = hashSet(codeHashes)
	return nil
}

// UseRecoveryCode implements Store.
func (s *memoryStore) UseRecoveryCode(_ context.Context, org, user string, codeHash []byte, since time.Time, limit int) (bool, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.entries[memKey{org, user}]
	if !ok || !cur.e.Confirmed {
		return false, 0, nil
	}
	if _, ok := cur.codes[string(codeHash)]; !ok || countAfter(cur.e.Failures, since) >= limit {
		return false, len(cur.codes), nil
	}
	delete(cur.codes, string(codeHash))
	cur.e.Failures = nil
	return true, len(cur.codes), nil
}

// RecoveryCodesLeft implements Store.
func (s *memoryStore) RecoveryCodesLeft(_ context.Context, org, user string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.entries[memKey{org, user}]
	if !ok || !cur.e.Confirmed {
		return 0, nil
	}
	return len(cur.codes), nil
}

// SetOrgPolicy implements Store.
func (s *memoryStore) SetOrgPolicy(_ context.Context, org string, requireAll bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policies[org] = requireAll
	return nil
}

// OrgPolicy implements Store.
func (s *memoryStore) OrgPolicy(_ context.Context, org string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.policies[org], nil
}

// countAfter counts the times strictly after since.
func countAfter(ts []time.Time, since time.Time) int {
	n := 0
	for _, t := range ts {
		if t.After(since) {
			n++
		}
	}
	return n
}

// keepAfter returns the times strictly after since, in order.
func keepAfter(ts []time.Time, since time.Time) []time.Time {
	out := make([]time.Time, 0, len(ts))
	for _, t := range ts {
		if t.After(since) {
			out = append(out, t)
		}
	}
	return out
}
