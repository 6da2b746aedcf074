package mfa

import (
	"context"
	"sync"
	"time"
)

// Enrollment is the stored state of one account's TOTP. The secret is only
// ever held sealed.
type Enrollment struct {
	Org  string
	User string
	// ID changes with every Begin, so a confirmation only confirms the
	// secret it was checked against.
	ID           string
	SealedSecret []byte
	Algorithm    Algorithm
	Digits       int
	Confirmed    bool
	// LastStep is the latest TOTP step accepted (-1 before confirmation).
	LastStep    int64
	CreatedAt   time.Time
	ConfirmedAt time.Time
}

// Store keeps MFA state. Every method that decides whether a code or a
// recovery code is accepted must be atomic across all instances sharing the
// store: that is what makes a code single-use even when two servers receive it
// at the same moment. Run mfatest.TestStore against an implementation.
type Store interface {
	// BeginEnrollment stores e as the account's pending enrolment, replacing
	// any pending one. It fails with ErrAlreadyEnrolled if a confirmed
	// enrolment exists.
	BeginEnrollment(ctx context.Context, e Enrollment) error
	// Enrollment returns the account's enrolment, pending or confirmed, or
	// ErrNotEnrolled.
	Enrollment(ctx context.Context, org, user string) (Enrollment, error)
	// ConfirmEnrollment atomically turns the pending enrolment with the
	// given id into a confirmed one whose last accepted step is step, and
	// installs the recovery code hashes. It fails with ErrNotPending when no
	// pending enrolment has that id.
	ConfirmEnrollment(ctx context.Context, org, user, id string, step int64, at time.Time, codeHashes [][]byte) error
	// DeleteEnrollment removes the enrolment, its recovery codes and its
	// failed attempts. Deleting nothing is not an error.
	DeleteEnrollment(ctx context.Context, org, user string) error
	// AdvanceStep atomically sets the last step of the confirmed enrolment
	// with the given id to step if, and only if, step is strictly greater
	// than it, and reports whether it did. This is the replay guard. The id
	// ties the step to the secret the code was checked against: a code of an
	// enrolment reset and replaced meanwhile is refused.
	AdvanceStep(ctx context.Context, org, user, id string, step int64) (bool, error)
	// ReserveAttempt atomically counts the attempts recorded after
	// now-window; if there are limit or more, it reports ok=false and when
	// the oldest of them leaves the window; otherwise it records one at now.
	// Reserving before evaluating a code bounds concurrent guessing too.
	ReserveAttempt(ctx context.Context, org, user string, now time.Time, window time.Duration, limit int) (retryAt time.Time, ok bool, err error)
	// ClearAttempts forgets the recorded attempts after a success.
	ClearAttempts(ctx context.Context, org, user string) error
	// ReplaceRecoveryCodes atomically replaces all recovery code hashes of a
	// confirmed enrolment (ErrNotEnrolled otherwise).
	ReplaceRecoveryCodes(ctx context.Context, org, user string, codeHashes [][]byte) error
	// UseRecoveryCode atomically deletes the code hash and reports whether
	// it existed: of two concurrent uses, exactly one succeeds.
	UseRecoveryCode(ctx context.Context, org, user string, codeHash []byte) (bool, error)
	// RecoveryCodesLeft counts the unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, org, user string) (int, error)
	// SetOrgPolicy records whether every member of org must enrol.
	SetOrgPolicy(ctx context.Context, org string, requireAll bool) error
	// OrgPolicy reports whether every member of org must enrol (false when
	// never set).
	OrgPolicy(ctx context.Context, org string) (bool, error)
}

type memKey struct{ org, user string }

type memEntry struct {
	e     Enrollment
	codes map[string]struct{}
}

// MemoryStore is an in-process Store for tests, examples and single-instance
// tools. One mutex serialises everything, which makes every method atomic.
type MemoryStore struct {
	mu       sync.Mutex
	entries  map[memKey]*memEntry
	attempts map[memKey][]time.Time
	policies map[string]bool
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		entries:  map[memKey]*memEntry{},
		attempts: map[memKey][]time.Time{},
		policies: map[string]bool{},
	}
}

var _ Store = (*MemoryStore)(nil)

func cloneEnrollment(e Enrollment) Enrollment {
	e.SealedSecret = append([]byte(nil), e.SealedSecret...)
	return e
}

// BeginEnrollment implements Store.
func (s *MemoryStore) BeginEnrollment(_ context.Context, e Enrollment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := memKey{e.Org, e.User}
	if cur, ok := s.entries[k]; ok && cur.e.Confirmed {
		return ErrAlreadyEnrolled
	}
	e = cloneEnrollment(e)
	e.Confirmed, e.LastStep, e.ConfirmedAt = false, -1, time.Time{}
	s.entries[k] = &memEntry{e: e, codes: map[string]struct{}{}}
	return nil
}

// Enrollment implements Store.
func (s *MemoryStore) Enrollment(_ context.Context, org, user string) (Enrollment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.entries[memKey{org, user}]
	if !ok {
		return Enrollment{}, ErrNotEnrolled
	}
	return cloneEnrollment(cur.e), nil
}

// ConfirmEnrollment implements Store.
func (s *MemoryStore) ConfirmEnrollment(_ context.Context, org, user, id string, step int64, at time.Time, codeHashes [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.entries[memKey{org, user}]
	if !ok || cur.e.Confirmed || cur.e.ID != id {
		return ErrNotPending
	}
	cur.e.Confirmed, cur.e.LastStep, cur.e.ConfirmedAt = true, step, at
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
func (s *MemoryStore) DeleteEnrollment(_ context.Context, org, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, memKey{org, user})
	delete(s.attempts, memKey{org, user})
	return nil
}

// AdvanceStep implements Store.
func (s *MemoryStore) AdvanceStep(_ context.Context, org, user, id string, step int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.entries[memKey{org, user}]
	if !ok || !cur.e.Confirmed || cur.e.ID != id || step <= cur.e.LastStep {
		return false, nil
	}
	cur.e.LastStep = step
	return true, nil
}

// ReserveAttempt implements Store.
func (s *MemoryStore) ReserveAttempt(_ context.Context, org, user string, now time.Time, window time.Duration, limit int) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := memKey{org, user}
	since := now.Add(-window)
	kept := s.attempts[k][:0]
	for _, at := range s.attempts[k] {
		if at.After(since) {
			kept = append(kept, at)
		}
	}
	if len(kept) >= limit {
		s.attempts[k] = kept
		oldest := kept[0]
		for _, at := range kept[1:] {
			if at.Before(oldest) {
				oldest = at
			}
		}
		return oldest.Add(window), false, nil
	}
	s.attempts[k] = append(kept, now)
	return time.Time{}, true, nil
}

// ClearAttempts implements Store.
func (s *MemoryStore) ClearAttempts(_ context.Context, org, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := memKey{org, user}
	if a, ok := s.attempts[k]; ok {
		s.attempts[k] = a[:0] // keep the backing array for the next login
	}
	return nil
}

// ReplaceRecoveryCodes implements Store.
func (s *MemoryStore) ReplaceRecoveryCodes(_ context.Context, org, user string, codeHashes [][]byte) error {
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
func (s *MemoryStore) UseRecoveryCode(_ context.Context, org, user string, codeHash []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.entries[memKey{org, user}]
	if !ok || !cur.e.Confirmed {
		return false, nil
	}
	if _, ok := cur.codes[string(codeHash)]; !ok {
		return false, nil
	}
	delete(cur.codes, string(codeHash))
	return true, nil
}

// RecoveryCodesLeft implements Store.
func (s *MemoryStore) RecoveryCodesLeft(_ context.Context, org, user string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.entries[memKey{org, user}]
	if !ok || !cur.e.Confirmed {
		return 0, nil
	}
	return len(cur.codes), nil
}

// SetOrgPolicy implements Store.
func (s *MemoryStore) SetOrgPolicy(_ context.Context, org string, requireAll bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policies[org] = requireAll
	return nil
}

// OrgPolicy implements Store.
func (s *MemoryStore) OrgPolicy(_ context.Context, org string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.policies[org], nil
}
