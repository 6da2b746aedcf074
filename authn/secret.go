package authn

import (
	"fmt"
	"log/slog"

	"github.com/rampart-sdk/rampart/internal/redact"
)

// secret holds a credential that must be shown exactly once, through Reveal,
// and redacts itself everywhere else: String, every fmt verb (including %#v),
// JSON and slog, and in any field of a host's struct (see internal/redact).
// Types embed it so that an accidental log line or error message never
// carries the credential.
type secret struct{ v redact.Secret[string] }

func newSecret(value, redacted string) secret { return secret{redact.New(value, redacted)} }

// Reveal returns the raw credential. Call it only to hand the value to its
// owner (a response body shown once, a Set-Cookie header, an email).
func (s secret) Reveal() string { return s.v.Reveal() }

// String returns the redacted form.
func (s secret) String() string { return s.v.String() }

// Format prints the redacted form for every verb.
func (s secret) Format(f fmt.State, verb rune) { s.v.Format(f, verb) }

// MarshalJSON encodes the redacted form.
func (s secret) MarshalJSON() ([]byte, error) { return s.v.MarshalJSON() }

// MarshalText encodes the redacted form (used by encoding/xml, slog text).
func (s secret) MarshalText() ([]byte, error) { return s.v.MarshalText() }

// LogValue logs the redacted form.
func (s secret) LogValue() slog.Value { return s.v.LogValue() }

// IsZero reports whether no credential is held.
func (s secret) IsZero() bool { return s.Reveal() == "" }

// RawAPIKey is an API key as returned once by APIKeys.Create. It prints as its
// redacted form (prefix and public ID, secret elided); Reveal returns the key.
type RawAPIKey struct{ secret }

// MagicToken is a magic-link token as returned once by MagicLinks.Issue, to be
// put in the link the user receives. It prints redacted; Reveal returns it.
type MagicToken struct{ secret }

// SessionToken is a session token as returned by Sessions.Create and Rotate,
// to be set in a cookie. It prints redacted; Reveal returns it.
type SessionToken struct{ secret }
