package mfa

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Sealer encrypts the TOTP secret at rest. *keyring.Field satisfies it; rowID
// binds the ciphertext to its account (organisation and user) so it cannot be
// moved to another account's row.
type Sealer interface {
	Seal(rowID string, plaintext []byte) ([]byte, error)
	Open(rowID string, ciphertext []byte) ([]byte, error)
}

// Recorder is rampart's audit seam. authn, mfa, rbac, privacy, compliance
// and compliance/nec1099 each declare this same method (a core package
// imports no sibling), so one *auditlog.Log, or one adapter of a host's own
// trail, records for all of them. org "" is the global chain; actor is
// "user:<id>", "apikey:<id>" or "system:<source>"; target is "<type>:<id>"
// or "". *auditlog.Log refuses an unregistered action and a malformed actor
// or target, so arguments passed in the wrong order fail instead of being
// recorded.
//
// mfa records enrolments, resets, policy changes and recovery-code use.
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

// New returns a Manager. issuer is the name authenticator apps show next to
// the code (your product's name); store keeps state; sealer encrypts secrets.
// Options: WithDigits, WithAttemptLimit, WithRecorder, WithClock. A missing
// argument, or an option outside its documented range, is an error wrapping
// ErrInvalidConfig.
func New(issuer string, store Store, sealer Sealer, opts ...ManagerOption) (*Manager, error) {
	switch {
	case issuer == "" || strings.Contains(issuer, ":"):
		return nil, fmt.Errorf("%w: issuer must be non-empty and without a colon (otpauth label syntax)", ErrInvalidConfig)
	case store == nil || sealer == nil:
		return nil, fmt.Errorf("%w: store and sealer are required", ErrInvalidConfig)
	}
	o, err := configure(opts, ManagerOption.applyManager)
	if err != nil {
		return nil, err
	}
	if o.alg.newHash() == nil { // only this package's tests choose another algorithm
		return nil, fmt.Errorf("%w: unknown algorithm %q", ErrInvalidConfig, string(o.alg))
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
