package mfa

import (
	"context"
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
