package mfa

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
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
	// ErrInvalidConfig reports an option or argument outside what is safe.
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

// Sealer encrypts the TOTP secret at rest. *keyring.Field satisfies it; rowID
// binds the ciphertext to its account (organisation and user) so it cannot be
// moved to another account's row.
type Sealer interface {
	Seal(rowID string, plaintext []byte) ([]byte, error)
	Open(rowID string, ciphertext []byte) ([]byte, error)
}

// Recorder appends audit entries. *auditlog.Log satisfies it.
type Recorder interface {
	Record(ctx context.Context, org, actor, action, target string, payload map[string]any) error
}

// SessionMarker records that a session has just passed an MFA challenge, so
// step-up freshness checks see it. *authn.Sessions satisfies it.
type SessionMarker interface {
	MarkMFAVerified(ctx context.Context, sessionID string, at time.Time) error
}

// Kind is the kind of an account, which decides whether MFA is mandatory.
type Kind string

// Account kinds. Staff and affiliates must always enrol; members must when
// their organisation's policy says so. Any other value, including "", is
// treated like staff (fail closed): a host that forgets to set the kind gets
// more MFA, never less.
const (
	KindMember    Kind = "member"
	KindStaff     Kind = "staff"
	KindAffiliate Kind = "affiliate"
)

// Account identifies whose MFA is meant. Every stored row carries Org.
type Account struct {
	Org  string
	User string
	Kind Kind
}

func (a Account) target() string { return "user:" + a.User }

// Manager runs enrolment, verification, recovery codes and enforcement over a
// Store. It is safe for concurrent use; all state that must be serialised
// across instances lives in the Store.
type Manager struct {
	issuer string
	store  Store
	sealer Sealer
	options
}

// Option configures New (and RequireRecent, which uses only WithClock).
type Option func(*options)

type options struct {
	alg      Algorithm
	digits   int
	maxFails int
	window   time.Duration
	now      func() time.Time
	rand     io.Reader
	recorder Recorder
}

func defaults() options {
	return options{alg: SHA1, digits: 6, maxFails: 5, window: 15 * time.Minute, now: time.Now, rand: rand.Reader}
}

// WithAlgorithm sets the HMAC hash of new enrolments (default SHA1, the only
// one all authenticator apps support). Existing enrolments keep theirs.
func WithAlgorithm(a Algorithm) Option { return func(o *options) { o.alg = a } }

// WithDigits sets the code length of new enrolments: 6 (default) or 8.
func WithDigits(n int) Option { return func(o *options) { o.digits = n } }

// WithAttemptLimit sets how many failures within window lock an account
// (default 5 in 15 minutes). With 3 valid steps per attempt, 5 failures per 15
// minutes give an attacker about a 1.5-in-a-million chance a day.
func WithAttemptLimit(failures int, window time.Duration) Option {
	return func(o *options) { o.maxFails, o.window = failures, window }
}

// WithClock replaces time.Now, for tests and simulations.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithRecorder sends audit entries (enrolment, resets, policy changes,
// recovery code use) to r. Without it, Reset and SetOrgPolicy fail with
// ErrNoRecorder.
func WithRecorder(r Recorder) Option { return func(o *options) { o.recorder = r } }

// New returns a Manager. issuer is the name authenticator apps show next to
// the code (your product's name); store keeps state; sealer encrypts secrets.
func New(issuer string, store Store, sealer Sealer, opts ...Option) (*Manager, error) {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case issuer == "" || strings.Contains(issuer, ":"):
		return nil, fmt.Errorf("%w: issuer must be non-empty and without a colon (otpauth label syntax)", ErrInvalidConfig)
	case store == nil || sealer == nil:
		return nil, fmt.Errorf("%w: store and sealer are required", ErrInvalidConfig)
	case o.alg.newHash() == nil:
		return nil, fmt.Errorf("%w: unknown algorithm %q", ErrInvalidConfig, string(o.alg))
	case o.digits != 6 && o.digits != 8:
		return nil, fmt.Errorf("%w: digits must be 6 or 8, not %d", ErrInvalidConfig, o.digits)
	case o.maxFails < 1 || o.maxFails > 20 || o.window < time.Minute:
		return nil, fmt.Errorf("%w: attempt limit must allow 1 to 20 failures in at least a minute", ErrInvalidConfig)
	case o.now == nil || o.rand == nil:
		return nil, fmt.Errorf("%w: nil clock or random source", ErrInvalidConfig)
	}
	return &Manager{issuer: issuer, store: store, sealer: sealer, options: o}, nil
}

// randomID returns a 128-bit hex identifier.
func (m *Manager) randomID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(m.rand, b[:]); err != nil {
		return "", fmt.Errorf("mfa: random: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// rowID is what binds a sealed secret to its account: the organisation and
// the user, length-prefixed so no two accounts share it. A sealed secret
// moved to another account's row, including the same user ID in another
// organisation, does not open.
func rowID(a Account) string { return strconv.Itoa(len(a.Org)) + ":" + a.Org + "/" + a.User }

// record writes an audit entry when a recorder is configured.
func (m *Manager) record(ctx context.Context, org, actor, action, target string, payload map[string]any) error {
	if m.recorder == nil {
		return nil
	}
	if err := m.recorder.Record(ctx, org, actor, action, target, payload); err != nil {
		return fmt.Errorf("mfa: audit %s: %w", action, err)
	}
	return nil
}
