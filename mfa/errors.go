package mfa

import (
	"errors"
	"fmt"
	"time"
)

// Errors. Each is a sentinel usable with errors.Is; messages never contain a
// secret, a code or a recovery code.
var (
	// ErrNotEnrolled reports an account without a confirmed TOTP enrolment.
	ErrNotEnrolled = errors.New("mfa: not enrolled")
	// ErrAlreadyEnrolled reports Begin on an account whose enrolment is
	// confirmed: an admin Reset must come first, so a stolen session cannot
	// silently swap the victim's authenticator for the attacker's.
	ErrAlreadyEnrolled = errors.New("mfa: already enrolled")
	// ErrNotPending reports a confirmation of an enrolment that is no longer
	// pending (confirmed meanwhile, reset, or replaced by a newer Begin).
	ErrNotPending = errors.New("mfa: no pending enrolment")
	// ErrInvalidCode reports a wrong, malformed or reused code.
	ErrInvalidCode = errors.New("mfa: invalid code")
	// ErrCodeReused accompanies ErrInvalidCode when the code was right but
	// its step was already used (a replay, or an earlier step after a later
	// one). Hosts may log it as a possible phishing relay.
	ErrCodeReused = errors.New("mfa: code already used")
	// ErrTooManyAttempts is matched by *TooManyAttemptsError.
	ErrTooManyAttempts = errors.New("mfa: too many attempts")
	// ErrEnrollmentRequired is reported at login when policy requires MFA
	// and the account has not enrolled: the host routes to enrolment.
	ErrEnrollmentRequired = errors.New("mfa: enrolment required")
	// ErrNoRecorder reports an administrative action attempted on a Manager
	// built without WithRecorder: such actions are never performed unaudited.
	ErrNoRecorder = errors.New("mfa: administrative actions need an audit recorder (WithRecorder)")
	// ErrInvalidConfig reports an option or argument outside what is safe
	// (of New, RequireRecent or mfa/pgstore.New).
	ErrInvalidConfig = errors.New("mfa: invalid configuration")
)

// TooManyAttemptsError is returned while an account is locked out after too
// many failures. Its answer is the same whether or not the code presented was
// right: the code is not even evaluated.
type TooManyAttemptsError struct {
	// RetryAfter is how long until the oldest failure leaves the window and
	// one more attempt is allowed; hosts put it in a Retry-After header.
	RetryAfter time.Duration
}

// Error names the wait, rounded to the second, and nothing about the code.
func (e *TooManyAttemptsError) Error() string {
	return fmt.Sprintf("mfa: too many attempts, retry after %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrTooManyAttempts) true.
func (e *TooManyAttemptsError) Is(target error) bool { return target == ErrTooManyAttempts }
