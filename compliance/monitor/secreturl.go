package monitor

import (
	"fmt"
	"log/slog"

	"github.com/rampart-sdk/rampart/internal/redact"
)

// SecretURL is a URL that works as a credential. It prints as
// "[redacted]" with any fmt verb, in JSON and in slog, and Reveal returns
// it. It is held by the SDK's redaction type, so a JobSpec printed from an
// unexported field of a host's struct (where fmt cannot call these
// methods) does not leak it either.
type SecretURL struct{ v redact.Secret[string] }

// NewSecretURL returns u as a SecretURL; "" gives the zero SecretURL.
func NewSecretURL(u string) SecretURL {
	if u == "" {
		return SecretURL{}
	}
	return SecretURL{redact.New(u, "")}
}

// Reveal returns the URL ("" for the zero SecretURL). Call it only to send
// the ping.
func (s SecretURL) Reveal() string { return s.v.Reveal() }

// IsZero reports whether no URL is set.
func (s SecretURL) IsZero() bool { return s.Reveal() == "" }

// String returns "[redacted]".
func (s SecretURL) String() string { return s.v.String() }

// Format redacts the URL under every verb, %#v, %d and %x included.
func (s SecretURL) Format(f fmt.State, verb rune) { s.v.Format(f, verb) }

// LogValue redacts the URL in log/slog.
func (s SecretURL) LogValue() slog.Value { return s.v.LogValue() }

// MarshalJSON keeps the URL out of JSON.
func (s SecretURL) MarshalJSON() ([]byte, error) { return s.v.MarshalJSON() }

// MarshalText keeps the URL out of text encodings (encoding/xml, map keys).
func (s SecretURL) MarshalText() ([]byte, error) { return s.v.MarshalText() }
