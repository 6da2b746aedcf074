package mfa

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/rampart-sdk/rampart/internal/redact"
)

// Setup is what the user needs to add the account to an authenticator app:
// the otpauth:// URI (as a QR code, or typed by hand as Secret). It is shown
// once, at enrolment. It holds the secret, so it redacts itself in fmt, slog
// and JSON, in any field of a host's struct too; only URI, Secret and PNG
// reveal it.
type Setup struct {
	// uri prints as the URI with its secret redacted. It is kept instead
	// of the *otp.Key it came from: fmt's bad-verb path dereferences a
	// pointer to a struct found in an unexported field, and that struct
	// holds the URI in clear.
	uri    redact.Secret[string]
	secret redact.Secret[string]
}

func newSetup(key *otp.Key, secret string) *Setup {
	u := key.URL()
	return &Setup{uri: redact.New(u, redactURI(u)), secret: redact.New(secret, "")}
}

// URI returns the otpauth:// URI, secret included. Show it to the user only.
func (s Setup) URI() string { return s.uri.Reveal() }

// Secret returns the base32 secret for users who type it in by hand.
func (s Setup) Secret() string { return s.secret.Reveal() }

// RedactedURI returns the URI with the secret replaced, safe to log.
func (s Setup) RedactedURI() string { return s.uri.String() }

// PNG renders the URI as a QR code of size×size pixels, from 128 (smaller
// is hard to scan) to 2048 (larger only costs memory).
func (s Setup) PNG(size int) ([]byte, error) {
	if size < 128 || size > 2048 {
		return nil, fmt.Errorf("%w: QR code size %d is outside 128 to 2048 pixels", ErrInvalidConfig, size)
	}
	key, err := otp.NewKeyFromURL(s.uri.Reveal())
	if err != nil {
		// Not wrapped: a URL parse error quotes the URL, secret included.
		return nil, errors.New("mfa: qr code: unreadable otpauth uri")
	}
	img, err := key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("mfa: qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("mfa: qr code: %w", err)
	}
	return buf.Bytes(), nil
}

// String redacts the secret.
func (s Setup) String() string { return "mfa.Setup{" + s.RedactedURI() + "}" }

// Format redacts the secret for every verb, including %+v and %#v.
func (s Setup) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue redacts the secret in log/slog.
func (s Setup) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts the secret; send URI or PNG to the user explicitly.
func (s Setup) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"uri": s.RedactedURI()})
}

// redactURI replaces the secret parameter of an otpauth URI. Anything that
// does not parse is redacted entirely.
func redactURI(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "otpauth://REDACTED"
	}
	q := u.Query()
	if q.Has("secret") {
		q.Set("secret", "REDACTED")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func (a Algorithm) otp() otp.Algorithm {
	switch a {
	case SHA256:
		return otp.AlgorithmSHA256
	case SHA512:
		return otp.AlgorithmSHA512
	}
	return otp.AlgorithmSHA1
}

// Begin starts (or restarts) the enrolment of acct with a fresh secret and
// returns the Setup to show the user. The enrolment stays pending, and
// Verify refuses it, until Confirm receives a valid code: that proves the
// user's app holds the secret before the account depends on it. accountName
// is the label the app shows (usually the e-mail address).
func (m *Manager) Begin(ctx context.Context, acct Account, accountName string) (*Setup, error) {
	if acct.Org == "" || acct.User == "" || accountName == "" || strings.Contains(accountName, ":") {
		return nil, fmt.Errorf("%w: account needs an organisation, a user and a name without a colon", ErrInvalidConfig)
	}
	raw := make([]byte, m.alg.secretSize())
	if _, err := io.ReadFull(m.rand, raw); err != nil {
		return nil, fmt.Errorf("mfa: random: %w", err)
	}
	id, err := m.randomID()
	if err != nil {
		return nil, err
	}
	digits := otp.DigitsSix
	if m.digits == 8 {
		digits = otp.DigitsEight
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: m.issuer, AccountName: accountName, Secret: raw,
		Digits: digits, Algorithm: m.alg.otp(),
	})
	if err != nil {
		return nil, fmt.Errorf("mfa: otpauth uri: %w", err)
	}
	sealed, err := m.sealer.Seal(rowID(acct), raw)
	if err != nil {
		return nil, fmt.Errorf("mfa: seal secret: %w", err)
	}
	e := Enrollment{
		Org: acct.Org, User: acct.User, ID: id, SealedSecret: sealed,
		Algorithm: m.alg, Digits: m.digits, LastStep: -1, CreatedAt: m.now(),
	}
	if err := m.store.BeginEnrollment(ctx, e); err != nil {
		return nil, err
	}
	return newSetup(key, b32.EncodeToString(raw)), nil
}

// Confirm completes a pending enrolment with a code from the user's app and
// returns the recovery codes, to be shown once. The confirming code's step is
// recorded, so the same code cannot then be used to log in. If the audit
// entry cannot be written the enrolment stays confirmed but the error is
// returned: the user then logs in with TOTP and regenerates recovery codes.
func (m *Manager) Confirm(ctx context.Context, acct Account, code string) (*RecoveryCodes, error) {
	e, err := m.store.Enrollment(ctx, acct.Org, acct.User)
	if err != nil {
		return nil, err
	}
	if e.Confirmed {
		return nil, ErrAlreadyEnrolled
	}
	codes, hashes, err := m.newRecoveryCodes(acct)
	if err != nil {
		return nil, err
	}
	err = m.check(ctx, acct, e, code, func(now time.Time, step int64) error {
		err := m.store.ConfirmEnrollment(ctx, acct.Org, acct.User, e.ID, step, now, now.Add(-m.window), m.maxFails, hashes)
		if errors.Is(err, ErrTooManyAttempts) {
			return m.lockedOut(ctx, acct, now)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := m.record(ctx, acct.Org, "user:"+acct.User, ActionEnrolled, acct.target(), map[string]any{"algorithm": string(e.Algorithm), "digits": e.Digits}); err != nil {
		return nil, err
	}
	return codes, nil
}

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

// Status is what a settings page shows about an account's MFA.
type Status struct {
	Enrolled          bool
	Pending           bool
	RecoveryCodesLeft int
}

// Status reports acct's enrolment and how many recovery codes are left.
func (m *Manager) Status(ctx context.Context, acct Account) (Status, error) {
	e, err := m.store.Enrollment(ctx, acct.Org, acct.User)
	if errors.Is(err, ErrNotEnrolled) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, err
	}
	if !e.Confirmed {
		return Status{Pending: true}, nil
	}
	n, err := m.store.RecoveryCodesLeft(ctx, acct.Org, acct.User)
	if err != nil {
		return Status{}, err
	}
	return Status{Enrolled: true, RecoveryCodesLeft: n}, nil
}

// Required reports whether acct must have MFA: always for staff, affiliates
// and unknown kinds; for members when their organisation requires it.
func (m *Manager) Required(ctx context.Context, acct Account) (bool, error) {
	if acct.Kind != KindMember {
		return true, nil
	}
	return m.store.OrgPolicy(ctx, acct.Org)
}

// CheckLogin runs after the first factor. It reports challenge=true when the
// account is enrolled (ask for a code before completing the login), and
// ErrEnrollmentRequired when policy requires MFA the account lacks (route the
// user to enrolment, granting nothing else).
func (m *Manager) CheckLogin(ctx context.Context, acct Account) (challenge bool, err error) {
	st, err := m.Status(ctx, acct)
	if err != nil {
		return false, err
	}
	if st.Enrolled {
		return true, nil
	}
	req, err := m.Required(ctx, acct)
	if err != nil {
		return false, err
	}
	if req {
		why := "organisation policy"
		if acct.Kind != KindMember {
			why = fmt.Sprintf("account kind %q", string(acct.Kind))
		}
		return false, fmt.Errorf("%w: %s", ErrEnrollmentRequired, why)
	}
	return false, nil
}

// Reset removes acct's enrolment and recovery codes, e.g. when a member lost
// their phone and recovery codes; the member must enrol again. actor is the
// administrator ("user:<id>"). The audit entry is written first, so a reset
// never happens unaudited.
func (m *Manager) Reset(ctx context.Context, actor string, acct Account, reason string) error {
	if m.recorder == nil {
		return ErrNoRecorder
	}
	if err := m.record(ctx, acct.Org, actor, ActionReset, acct.target(), map[string]any{"reason": reason}); err != nil {
		return err
	}
	return m.store.DeleteEnrollment(ctx, acct.Org, acct.User)
}

// SetOrgPolicy sets whether every member of org must enrol; audited.
func (m *Manager) SetOrgPolicy(ctx context.Context, actor, org string, requireAll bool) error {
	if m.recorder == nil {
		return ErrNoRecorder
	}
	if err := m.record(ctx, org, actor, ActionPolicyChanged, "org:"+org, map[string]any{"require_all_members": requireAll}); err != nil {
		return err
	}
	return m.store.SetOrgPolicy(ctx, org, requireAll)
}
