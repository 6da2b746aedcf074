package redact_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/redact"
)

// formatterWithGoString implements both fmt.Formatter and fmt.GoStringer,
// recording which one fmt calls.
type formatterWithGoString struct{ calls *[]string }

func (f formatterWithGoString) Format(s fmt.State, verb rune) {
	*f.calls = append(*f.calls, "Format")
	_, _ = fmt.Fprint(s, "F")
}

func (f formatterWithGoString) GoString() string {
	*f.calls = append(*f.calls, "GoString")
	return "G"
}

// TestFormatShadowsGoString is why no secret type has a GoString method:
// fmt asks for Format before it looks for GoString, for %#v too, alone and
// in exported fields, so a GoString beside a Format is never called by fmt.
func TestFormatShadowsGoString(t *testing.T) {
	t.Parallel()
	var calls []string
	v := formatterWithGoString{calls: &calls}
	type host struct{ V formatterWithGoString }
	for _, out := range []string{
		fmt.Sprintf("%#v", v), fmt.Sprintf("%#v", &v), fmt.Sprintf("%#v", []any{v}),
		fmt.Sprintf("%#v", host{v}), fmt.Sprintf("%#v", map[string]any{"k": v}),
	} {
		require.NotContains(t, out, "G")
	}
	require.NotContains(t, calls, "GoString")
	require.Contains(t, calls, "Format")
}

func TestSecret(t *testing.T) {
	t.Parallel()
	b := []byte("0123456789abcdef")
	tests := []struct {
		name   string
		s      fmt.Stringer
		reveal any
		want   any
		form   string
		isZero bool
	}{
		{"string", redact.New("hunter2", ""), redact.New("hunter2", "").Reveal(), "hunter2", redact.Redacted, false},
		{"string with form", redact.New("hunter2", "pw(…)"), redact.New("hunter2", "pw(…)").Reveal(), "hunter2", "pw(…)", false},
		{"bytes", redact.New(b, ""), redact.New(b, "").Reveal(), b, redact.Redacted, false},
		{"zero string", redact.Secret[string]{}, redact.Secret[string]{}.Reveal(), "", redact.Redacted, true},
		{"zero bytes", redact.Secret[[]byte]{}, redact.Secret[[]byte]{}.Reveal(), []byte(nil), redact.Redacted, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.reveal)
			require.Equal(t, tt.form, tt.s.String())
			require.Equal(t, tt.form, fmt.Sprintf("%x", tt.s))
			require.Equal(t, tt.isZero, tt.s.(interface{ IsZero() bool }).IsZero())
		})
	}
}

// TestRevealDoesNotCopy: a []byte secret hands its own bytes to the caller
// (keyring builds ciphers from them), so a key is held once, not copied
// again on every use.
func TestRevealDoesNotCopy(t *testing.T) {
	t.Parallel()
	b := []byte("key material")
	s := redact.New(b, "")
	require.Same(t, &b[0], &s.Reveal()[0])
}

func TestEqual(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b redact.Secret[[]byte]
		want bool
	}{
		{"same bytes", redact.New([]byte("abc"), ""), redact.New([]byte("abc"), "other form"), true},
		{"different bytes", redact.New([]byte("abc"), ""), redact.New([]byte("abd"), ""), false},
		{"different lengths", redact.New([]byte("abc"), ""), redact.New([]byte("abcd"), ""), false},
		{"both zero", redact.Secret[[]byte]{}, redact.Secret[[]byte]{}, true},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, redact.Equal(tt.a, tt.b), tt.name)
	}
	require.True(t, redact.Equal(redact.New("x", ""), redact.New("x", "")))
}
