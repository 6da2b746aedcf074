package mfa

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/rampart-sdk/rampart/internal/redact"
)

// RecoveryCodeCount is how many recovery codes an enrolment gets.
const RecoveryCodeCount = 10

// recoveryCodeLen is the length of a recovery code without separators: 16
// base32 characters, 80 random bits.
const recoveryCodeLen = 16

// RecoveryCodes are the single-use codes shown to the user once, at
// enrolment or regeneration. Only their hashes are stored.
//
// Why a fast hash (SHA-256) is enough: slow password hashes exist because
// human-chosen passwords have little entropy and can be guessed offline.
// These codes are 80 uniformly random bits, so even an attacker holding the
// hashes must try 2^79 candidates on average per code, whatever the hash
// speed. The hash is domain-separated and bound to the organisation and user,
// so a hash copied to another account, or a table precomputed for all
// accounts, does not help.
type RecoveryCodes struct {
	// codes are held by the SDK's redaction type, so that a RecoveryCodes
	// in an unexported field of a host's struct prints no code either.
	codes redact.Secret[[]string]
}

// Codes returns the codes, formatted "xxxx-xxxx-xxxx-xxxx", to show once.
func (r RecoveryCodes) Codes() []string { return append([]string(nil), r.codes.Reveal()...) }

// String redacts the codes.
func (r RecoveryCodes) String() string {
	return fmt.Sprintf("mfa.RecoveryCodes{%d codes REDACTED}", len(r.codes.Reveal()))
}

// Format redacts the codes for every verb.
func (r RecoveryCodes) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(r.String())) }

// LogValue redacts the codes in log/slog.
func (r RecoveryCodes) LogValue() slog.Value { return slog.StringValue(r.String()) }

// MarshalJSON redacts the codes; send Codes() explicitly.
func (r RecoveryCodes) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]int{"count": len(r.codes.Reveal())})
}

// newRecoveryCodes draws a fresh set and their hashes for acct.
func (m *Manager) newRecoveryCodes(acct Account) (*RecoveryCodes, [][]byte, error) {
	codes := make([]string, RecoveryCodeCount)
	hashes := make([][]byte, RecoveryCodeCount)
	for i := range codes {
		var raw [recoveryCodeLen * 5 / 8]byte
		if _, err := io.ReadFull(m.rand, raw[:]); err != nil {
			return nil, nil, fmt.Errorf("mfa: random: %w", err)
		}
		c := strings.ToLower(b32.EncodeToString(raw[:]))
		codes[i] = c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
		hashes[i] = hashRecoveryCode(acct, c)
	}
	return &RecoveryCodes{codes: redact.New(codes, "")}, hashes, nil
}

// hashRecoveryCode binds a normalised code to its account.
func hashRecoveryCode(acct Account, norm string) []byte {
	h := sha256.New()
	h.Write([]byte("rampart/mfa/recovery-code/v1"))
	for _, s := range []string{acct.Org, acct.User, norm} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return h.Sum(nil)
}

// normalizeRecoveryCode accepts what users type (any case, spaces and
// dashes anywhere) and returns the 16 base32 characters, lower case.
func normalizeRecoveryCode(s string) (string, bool) {
	if len(s) > 4*recoveryCodeLen {
		return "", false
	}
	var out [recoveryCodeLen]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 'a' && c <= 'z', c >= '2' && c <= '7':
		case c == ' ' || c == '-' || c == '\t':
			continue
		default:
			return "", false
		}
		if n == recoveryCodeLen {
			return "", false
		}
		out[n] = c
		n++
	}
	if n != recoveryCodeLen {
		return "", false
	}
	return string(out[:]), true
}

// UseRecoveryCode accepts one of acct's recovery codes in place of a TOTP
// code, consuming it atomically: of two concurrent uses of the same code,
// exactly one succeeds. Failures count towards the same attempt limit as
// TOTP codes. When a recorder is configured the use is audited, and a
// failure to audit fails the login.
func (m *Manager) UseRecoveryCode(ctx context.Context, acct Account, code string) error {
	e, err := m.store.Enrollment(ctx, acct.Org, acct.User)
	if err != nil {
		return err
	}
	if !e.Confirmed {
		return ErrNotEnrolled
	}
	now := m.now()
	if err := m.refuseIfLocked(e.Failures, now); err != nil {
		return err
	}
	norm, ok := normalizeRecoveryCode(code)
	if !ok {
		return m.fail(ctx, acct, now)
	}
	used, left, err := m.store.UseRecoveryCode(ctx, acct.Org, acct.User, hashRecoveryCode(acct, norm), now.Add(-m.window), m.maxFails)
	if err != nil {
		return err
	}
	if !used {
		// A wrong code, or the limit reached meanwhile: fail says which,
		// with the answer a right code would get while locked.
		return m.fail(ctx, acct, now)
	}
	// The code is consumed and the failures forgotten in the same write.
	return m.record(ctx, acct.Org, "user:"+acct.User, ActionRecoveryCodeUsed, acct.target(), map[string]any{"left": left})
}

// RegenerateRecoveryCodes replaces all of acct's recovery codes with a fresh
// set, invalidating every old one, and returns the new set to show once.
// Call it only after a fresh MFA verification (behind RequireRecent).
//
// The audit entry is written before the old codes are replaced: were it
// written after, a failure to audit would leave the user with the old codes
// invalidated and the new ones never shown.
func (m *Manager) RegenerateRecoveryCodes(ctx context.Context, acct Account) (*RecoveryCodes, error) {
	e, err := m.store.Enrollment(ctx, acct.Org, acct.User)
	if err != nil {
		return nil, err
	}
	if !e.Confirmed {
		return nil, ErrNotEnrolled
	}
	codes, hashes, err := m.newRecoveryCodes(acct)
	if err != nil {
		return nil, err
	}
	if err := m.record(ctx, acct.Org, "user:"+acct.User, ActionRecoveryCodesRegenerated, acct.target(), nil); err != nil {
		return nil, err
	}
	if err := m.store.ReplaceRecoveryCodes(ctx, acct.Org, acct.User, hashes); err != nil {
		return nil, err
	}
	return codes, nil
}

// RecoveryCodesLeft reports how many unused recovery codes acct has, so the
// user can be nudged to regenerate before running out.
func (m *Manager) RecoveryCodesLeft(ctx context.Context, acct Account) (int, error) {
	return m.store.RecoveryCodesLeft(ctx, acct.Org, acct.User)
}
