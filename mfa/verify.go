package mfa

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Verify checks a TOTP code for acct's confirmed enrolment. It returns nil
// exactly once per step: the replay guard in the store refuses the same step
// (or an earlier one) afterwards, on every instance. Failures count towards
// the attempt limit; while locked, it returns *TooManyAttemptsError without
// evaluating the code at all.
//
// On a store it costs one read (the sealed secret, the last step and the
// failures) and one conditional write: the step is accepted and the failures
// forgotten, or one failure is counted.
func (m *Manager) Verify(ctx context.Context, acct Account, code string) error {
	e, err := m.store.Enrollment(ctx, acct.Org, acct.User)
	if err != nil {
		return err
	}
	if !e.Confirmed {
		return ErrNotEnrolled
	}
	return m.check(ctx, acct, e, code, func(now time.Time, step int64) error {
		v := Replayed // already known from the read; the store decides races
		if step > e.LastStep {
			if v, err = m.store.AcceptStep(ctx, acct.Org, acct.User, e.ID, step, now.Add(-m.window), m.maxFails); err != nil {
				return err
			}
		}
		switch v {
		case Accepted:
			return nil
		case LockedOut:
			return m.lockedOut(ctx, acct, now)
		case Replayed:
			// A right code presented again is still an attempt.
			if err := m.fail(ctx, acct, now); !errors.Is(err, ErrInvalidCode) {
				return err
			}
			return fmt.Errorf("%w (%w)", ErrInvalidCode, ErrCodeReused)
		default: // Stale: the enrolment was reset or replaced meanwhile.
			return ErrInvalidCode
		}
	})
}

// Challenge is Verify for a step-up: on success it marks the session as
// freshly MFA-verified through sessions (authn's session manager), so
// RequireRecent lets it through.
func (m *Manager) Challenge(ctx context.Context, acct Account, code string, sessions SessionMarker, sessionID string) error {
	if sessions == nil || sessionID == "" {
		return fmt.Errorf("%w: challenge needs a session", ErrInvalidConfig)
	}
	if err := m.Verify(ctx, acct, code); err != nil {
		return err
	}
	if err := sessions.MarkMFAVerified(ctx, sessionID, m.now()); err != nil {
		return fmt.Errorf("mfa: mark session verified: %w", err)
	}
	return nil
}

// check runs one attempt against the state e read from the store: refuse
// it unevaluated while the account is locked, evaluate the code in constant
// time, then either let accept commit the step (atomically with the attempt
// limit) or count the failure.
//
// Why reading then writing still bounds guessing: a failure is counted only
// while fewer than the limit are recorded, and a right code is accepted only
// while fewer than the limit are recorded, both atomically in the store. A
// burst of concurrent guesses may all be evaluated, but only the first limit
// of them to reach the store get an answer other than the lock-out, and a
// right code among the rest is refused with the very same lock-out, so the
// burst learns and wins no more than limit guesses made one after another.
func (m *Manager) check(ctx context.Context, acct Account, e Enrollment, code string, accept func(now time.Time, step int64) error) error {
	now := m.now()
	if err := m.refuseIfLocked(e.Failures, now); err != nil {
		return err
	}
	var buf [maxDigits]byte
	norm, ok := normalizeCode(&buf, code, e.Digits)
	if !ok {
		return m.fail(ctx, acct, now)
	}
	secret, err := m.sealer.Open(rowID(acct), e.SealedSecret)
	if err != nil {
		return fmt.Errorf("mfa: open secret: %w", err)
	}
	step, ok := matchTOTP(secret, e.Algorithm, norm, now, e.LastStep)
	clear(secret)
	if !ok {
		return m.fail(ctx, acct, now)
	}
	return accept(now, step)
}

// refuseIfLocked returns *TooManyAttemptsError when failures hold the limit
// within the window ending at now.
func (m *Manager) refuseIfLocked(failures []time.Time, now time.Time) error {
	since := now.Add(-m.window)
	live := make([]time.Time, 0, len(failures))
	for _, t := range failures {
		if t.After(since) {
			live = append(live, t)
		}
	}
	if len(live) < m.maxFails {
		return nil
	}
	slices.SortFunc(live, time.Time.Compare)
	// One more attempt is allowed once all but maxFails-1 have left the
	// window, that is when the (len-maxFails)-th oldest leaves it.
	retryAt := live[len(live)-m.maxFails].Add(m.window)
	return &TooManyAttemptsError{RetryAfter: max(retryAt.Sub(now), time.Second)}
}

// fail counts a failed attempt and returns ErrInvalidCode, or the lock-out
// when the limit was reached meanwhile (the failure is then not counted, and
// the answer is the one a right code would get).
func (m *Manager) fail(ctx context.Context, acct Account, now time.Time) error {
	failures, counted, err := m.store.RecordFailure(ctx, acct.Org, acct.User, now, now.Add(-m.window), m.maxFails)
	if errors.Is(err, ErrNotEnrolled) {
		return ErrInvalidCode // reset meanwhile: nothing left to lock
	}
	if err != nil {
		return err
	}
	if !counted {
		if err := m.refuseIfLocked(failures, now); err != nil {
			return err
		}
	}
	return ErrInvalidCode
}

// lockedOut reports the lock-out found by a conditional write, with the
// wait read back from the store.
func (m *Manager) lockedOut(ctx context.Context, acct Account, now time.Time) error {
	e, err := m.store.Enrollment(ctx, acct.Org, acct.User)
	if err != nil && !errors.Is(err, ErrNotEnrolled) {
		return err
	}
	if err := m.refuseIfLocked(e.Failures, now); err != nil {
		return err
	}
	return &TooManyAttemptsError{RetryAfter: time.Second}
}
