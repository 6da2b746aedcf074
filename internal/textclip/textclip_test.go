package textclip_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/textclip"
)

func TestClip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"short", "abc", 10, "abc"},
		{"exact", "abc", 3, "abc"},
		{"ascii cut", "abcdef", 4, "abcd"},
		{"never inside a two-byte rune", "aé", 2, "a"},
		{"never inside a three-byte rune", "a€", 3, "a"},
		{"never inside a four-byte rune", "a😀", 4, "a"},
		{"whole four-byte rune fits", "a😀", 5, "a😀"},
		{"invalid bytes replaced", "a\xffb", 10, "a\uFFFDb"},
		{"NUL replaced", "a\x00b", 10, "a\uFFFDb"},
		{"zero", "abc", 0, ""},
		{"negative", "abc", -1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, textclip.Clip(tc.in, tc.n))
		})
	}
}

// TestClipAtEveryLength cuts text of every rune width at every length: the
// result is always valid UTF-8, NUL-free, within n and a prefix of the input.
func TestClipAtEveryLength(t *testing.T) {
	t.Parallel()
	s := strings.Repeat("aé€😀\u2028", 50)
	for n := 0; n <= len(s)+1; n++ {
		got := textclip.Clip(s, n)
		require.True(t, utf8.ValidString(got), "n=%d", n)
		require.LessOrEqual(t, len(got), n)
		require.True(t, strings.HasPrefix(s, got))
		require.Greater(t, len(got), n-4, "cuts at most one rune short")
	}
}

func FuzzClip(f *testing.F) {
	f.Add("a€b", 2)
	f.Add("\xff\x00", 1)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 4096
		got := textclip.Clip(s, n)
		if !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 || len(got) > max(n, 0) {
			t.Fatalf("Clip(%q, %d) = %q", s, n, got)
		}
	})
}
