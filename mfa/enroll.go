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

// redactedURI returns the URI with the secret replaced, safe to log.
func (s Setup) redactedURI() string { return s.uri.String() }

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
func (s Setup) String() string { return "mfa.Setup{" + s.redactedURI() + "}" }

// Format redacts the secret for every verb, including %+v and %#v.
func (s Setup) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue redacts the secret in log/slog.
func (s Setup) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts the secret; send URI or PNG to the user explicitly.
func (s Setup) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"uri": s.redactedURI()})
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
