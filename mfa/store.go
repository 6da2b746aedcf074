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
	// Failures are the failed attempts recorded since the last success,
	// oldest first; entries older than the limiting window may remain until
	// the next failure prunes them. BeginEnrollment ignores it and keeps
	// those of a replaced pending enrolment.
	Failures []time.Time
}

// Verdict is what AcceptStep decided about a code that matched.
type Verdict int

// Verdicts of AcceptStep.
const (
	// Accepted: the step was recorded and the failures forgotten.
	Accepted Verdict = iota + 1
	// Replayed: the step is not after the last accepted one.
	Replayed
	// LockedOut: limit or more failures were recorded within the window.
	LockedOut
	// Stale: no confirmed enrolment with that id (reset or replaced).
	Stale
)

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
	// given id into a confirmed one whose last accepted step is step,
	// forgets its failed attempts and installs the recovery code hashes. It
	// fails with ErrNotPending when no pending enrolment has that id, and
	// with ErrTooManyAttempts when limit or more failures were recorded
	// after since.
	ConfirmEnrollment(ctx context.Context, org, user, id string, step int64, at, since time.Time, limit int, codeHashes [][]byte) error
	// DeleteEnrollment removes the enrolment, its recovery codes and its
	// failed attempts. Deleting nothing is not an error.
	DeleteEnrollment(ctx context.Context, org, user string) error
	// AcceptStep is the replay guard and the attempt limit in one atomic
	// step, for a code that matched: if the confirmed enrolment with the
	// given id exists, fewer than limit failures were recorded after since,
	// and step is strictly greater than its last step, it sets the last step
	// to step, forgets the failures and returns Accepted. Otherwise it
	// changes nothing and says why. The id ties the step to the secret the
	// code was checked against: a code of an enrolment reset and replaced
	// meanwhile is refused (Stale).
	AcceptStep(ctx context.Context, org, user, id string, step int64, since time.Time, limit int) (Verdict, error)
	// RecordFailure counts a failed attempt: atomically, if the account has
	// an enrolment and fewer than limit failures were recorded after since,
	// it forgets the failures at or before since, records one at now and
	// reports counted=true; otherwise it changes nothing (counted=false).
	// Either way it returns the failures recorded after since, oldest
	// first. Without an enrolment it fails with ErrNotEnrolled.
	RecordFailure(ctx context.Context, org, user string, now, since time.Time, limit int) (failures []time.Time, counted bool, err error)
	// ReplaceRecoveryCodes atomically replaces all recovery code hashes of a
	// confirmed enrolment (ErrNotEnrolled otherwise).
	ReplaceRecoveryCodes(ctx context.Context, org, user string, codeHashes [][]byte) error
	// UseRecoveryCode atomically, if the account's enrolment is confirmed
	// and fewer than limit failures were recorded after since, deletes the
	// code hash and, if it existed, forgets the failures. It reports whether
	// the code was used (of two concurrent uses, exactly one is) and how
	// many codes are left.
	UseRecoveryCode(ctx context.Context, org, user string, codeHash []byte, since time.Time, limit int) (used bool, left int, err error)
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
