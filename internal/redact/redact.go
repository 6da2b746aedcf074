// Package redact holds the one secret type of the SDK: a value that prints,
// marshals and logs as a redacted form, and that only Reveal returns.
//
// Every public secret type (authn's tokens and pepper keys, keyring's key
// material and plaintexts, mfa's setup secrets and recovery codes,
// compliance's ping URLs) keeps a Secret in an unexported field and forwards
// its printing methods to it, so the guarantees below are proved once, by
// this package's tests, for all of them.
//
// # What fmt can and cannot reach
//
// fmt calls a value's Format method (before String, and before GoString
// for %#v) when it can: on the value itself, or on a value held in an
// exported field, a slice, a map or an interface. It cannot call methods of
// a value reached through an unexported struct field (reflection forbids
// it); there it walks the value's fields and prints what it finds. So the
// method set alone does not keep a secret from a host that logs
// fmt.Sprintf("%+v", cfg) where cfg has an unexported field holding it.
//
// Secret therefore keeps its value behind two pointers. A walked pointer is
// printed as an address, except in one path: for a verb that does not suit
// a pointer (%s, %q...), fmt reports a bad verb and prints the pointer's
// target once, at the top level, where it dereferences a pointer to an
// array, a slice, a struct or a map. A pointer to a string would be safe
// there, but a pointer to a []byte would print its bytes; a pointer to a
// pointer is printed as an address whatever the value's type, so Secret
// holds any T the same way and []byte secrets need no string copy.
package redact

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
)

// Redacted is the form a Secret prints when it is given none.
const Redacted = "[redacted]"

// Secret is a value of type T that redacts itself: String, every fmt verb,
// MarshalJSON, MarshalText and LogValue give its redacted form; Reveal
// returns the value. The zero Secret holds the zero T and prints Redacted.
type Secret[T any] struct {
	// p is a pointer to a pointer, never a pointer to T: see the package
	// doc for the fmt path that dereferences one level.
	p **T
	// form is what the secret prints as; it is public by construction
	// (a key's prefix and public ID, a count), so a walked struct showing
	// it shows nothing secret.
	form string
}

// New returns a Secret holding v that prints as form ("" means Redacted).
// It does not copy v: a caller that keeps v (a slice it will reuse) passes
// a copy.
func New[T any](v T, form string) Secret[T] {
	if form == "" {
		form = Redacted
	}
	p := &v
	return Secret[T]{p: &p, form: form}
}

// Reveal returns the value (the zero T for the zero Secret). It does not
// copy: a []byte it returns is the Secret's own, for reading only.
func (s Secret[T]) Reveal() T {
	if s.p == nil {
		var zero T
		return zero
	}
	return **s.p
}

// IsZero reports whether s is the zero Secret (holds no value).
func (s Secret[T]) IsZero() bool { return s.p == nil }

// String returns the redacted form.
func (s Secret[T]) String() string {
	if s.form == "" {
		return Redacted
	}
	return s.form
}

// Format writes the redacted form for every verb and flag: without it, %x
// or %d would print a string's or a byte slice's contents.
func (s Secret[T]) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// MarshalJSON encodes the redacted form as a JSON string.
func (s Secret[T]) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText encodes the redacted form (encoding/xml, map keys, slog's
// handlers for values that are not LogValuers).
func (s Secret[T]) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue logs the redacted form: slog's text handler prints a []byte as a
// string without consulting fmt, so a Secret must resolve before it does.
func (s Secret[T]) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Equal reports whether a and b hold the same bytes, in time that depends
// on their lengths only (the lengths of keys and tokens are not secret).
func Equal[T ~string | ~[]byte](a, b Secret[T]) bool {
	return subtle.ConstantTimeCompare([]byte(a.Reveal()), []byte(b.Reveal())) == 1
}
