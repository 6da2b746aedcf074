// Package textclip cuts untrusted or unbounded text to fit a stored column.
//
// PostgreSQL refuses a text value that is not valid UTF-8 or that holds a NUL
// byte, so a message cut at an arbitrary byte (through a multi-byte
// character) or carrying a NUL makes the write that should record it fail,
// and the record (a failed job's cause, a session's user agent) is lost.
package textclip

import (
	"strings"
	"unicode/utf8"
)

// Clip returns s with invalid UTF-8 and NUL bytes replaced by U+FFFD, cut to
// at most n bytes on a rune boundary. n < 0 is treated as 0.
func Clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if n < 0 {
		n = 0
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
