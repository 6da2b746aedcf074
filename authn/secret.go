package authn

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// secret holds a credential that must be shown exactly once, through Reveal,
// and redacts itself everywhere else: String, every fmt verb (including %#v),
// JSON and slog. Types embed it so that an accidental log line or error
// message never carries the credential.
type secret struct {
	// value sits behind a pointer: where fmt cannot call the methods below
	// (the credential kept in an unexported field of a host's struct and
	// printed with %v, %+v or %#v), it prints an address, never the value.
	value    *string
	redacted string
}

func newSecret(value, redacted string) secret { return secret{value: &value, redacted: redacted} }

// Reveal returns the raw credential. Call it only to hand the value to its
// owner (a response body shown once, a Set-Cookie header, an email).
func (s secret) Reveal() string {
	if s.value == nil {
		return ""
	}
	return *s.value
}

// String returns the redacted form.
func (s secret) String() string { return s.redacted }

// GoString returns the redacted form, so %#v does not print the value.
func (s secret) GoString() string { return s.redacted }

// Format prints the redacted form for every verb.
func (s secret) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, s.redacted) }

// MarshalJSON encodes the redacted form.
func (s secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.redacted) }

// MarshalText encodes the redacted form (used by encoding/xml, slog text).
func (s secret) MarshalText() ([]byte, error) { return []byte(s.redacted), nil }

// LogValue logs the redacted form.
func (s secret) LogValue() slog.Value { return slog.StringValue(s.redacted) }

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
