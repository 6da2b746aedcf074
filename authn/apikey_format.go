package authn

import (
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"log/slog"
	"strings"
)

const (
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

	// APIKeyIDLength is the length of a key's public ID (base62, ~71 bits:
	// unique without coordination, and not a secret).
	APIKeyIDLength = 12
	// APIKeySecretLength is the length of a key's secret: 32 base62
	// characters carry 32·log2(62) ≈ 190.5 bits.
	APIKeySecretLength = 32
	// APIKeyChecksumLength is the length of the CRC32 checksum in base62.
	APIKeyChecksumLength = 6
	// MaxAPIKeyPrefixLength bounds the host-chosen prefix.
	MaxAPIKeyPrefixLength = 32

	maxAPIKeyLength = MaxAPIKeyPrefixLength + 1 + APIKeyIDLength + 1 + APIKeySecretLength + APIKeyChecksumLength
)

// APIKeyPattern is the regular expression every API key of this package
// matches, for secret scanners (GitHub push protection, gitleaks,
// trufflehog): a prefix of lower-case words joined by "_", a 12-character
// base62 public ID, "_", and 38 base62 characters (a 32-character secret and
// a 6-character CRC32 checksum of everything before it). A scanner can check
// the checksum to discard random matches. A host narrows it with its own
// prefix, e.g. `\batl_live_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}\b`.
const APIKeyPattern = `\b[a-z][a-z0-9]*(?:_[a-z0-9]+)*_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}\b`

// ParsedAPIKey is the result of ParseAPIKey: the parts of a well-formed key.
// The secret stays unexported and redacted (String, every fmt verb, JSON and
// slog show the prefix and public ID only), so a parsed key logged by
// mistake does not leak.
type ParsedAPIKey struct {
	Prefix string
	ID     string
	sec    secret
}

// String returns the redacted key: prefix and public ID, secret elided.
func (p ParsedAPIKey) String() string { return redactAPIKey(p.Prefix, p.ID) }

// Format prints String for every verb.
func (p ParsedAPIKey) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, p.String()) }

// LogValue logs String.
func (p ParsedAPIKey) LogValue() slog.Value { return slog.StringValue(p.String()) }

// ParseAPIKey checks the shape and checksum of s without any store access.
// Any failure is ErrMalformedAPIKey, and the message never echoes s.
func ParseAPIKey(s string) (ParsedAPIKey, error) {
	if len(s) > maxAPIKeyLength || len(s) < 2+APIKeyIDLength+1+APIKeySecretLength+APIKeyChecksumLength {
		return ParsedAPIKey{}, fmt.Errorf("%w: length", ErrMalformedAPIKey)
	}
	i := strings.LastIndexByte(s, '_')
	if i < 0 {
		return ParsedAPIKey{}, fmt.Errorf("%w: layout", ErrMalformedAPIKey)
	}
	head, tail := s[:i], s[i+1:]
	j := strings.LastIndexByte(head, '_')
	if j < 0 {
		return ParsedAPIKey{}, fmt.Errorf("%w: layout", ErrMalformedAPIKey)
	}
	prefix, id := head[:j], head[j+1:]
	if !validPrefix(prefix) || len(id) != APIKeyIDLength || !isBase62(id) ||
		len(tail) != APIKeySecretLength+APIKeyChecksumLength || !isBase62(tail) {
		return ParsedAPIKey{}, fmt.Errorf("%w: layout", ErrMalformedAPIKey)
	}
	sec, sum := tail[:APIKeySecretLength], tail[APIKeySecretLength:]
	if checksum(s[:len(s)-APIKeyChecksumLength]) != sum {
		return ParsedAPIKey{}, fmt.Errorf("%w: checksum", ErrMalformedAPIKey)
	}
	return ParsedAPIKey{Prefix: prefix, ID: id, sec: newSecret(sec, redactAPIKey(prefix, id))}, nil
}

// validPrefix accepts lower-case alphanumeric words joined by single "_",
// starting with a letter, up to MaxAPIKeyPrefixLength bytes.
func validPrefix(p string) bool {
	if p == "" || len(p) > MaxAPIKeyPrefixLength || p[0] < 'a' || p[0] > 'z' || p[len(p)-1] == '_' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '_' && p[i-1] != '_':
		default:
			return false
		}
	}
	return true
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// checksum is CRC32 (IEEE) of s in 6 base62 digits, most significant first.
func checksum(s string) string {
	v := uint64(crc32.ChecksumIEEE([]byte(s)))
	var out [APIKeyChecksumLength]byte
	for i := APIKeyChecksumLength - 1; i >= 0; i-- {
		out[i] = base62Alphabet[v%62]
		v /= 62
	}
	return string(out[:])
}

// randomBase62 returns n uniformly random base62 characters (rejection
// sampling over bytes, so no character is more likely than another).
func randomBase62(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		_, _ = rand.Read(buf)
		for _, b := range buf {
			if b < 248 { // 248 = 4·62: keep the distribution uniform
				out = append(out, base62Alphabet[b%62])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out)
}

func formatAPIKey(prefix, id, sec string) string {
	body := prefix + "_" + id + "_" + sec
	return body + checksum(body)
}

func redactAPIKey(prefix, id string) string {
	return prefix + "_" + id + "_" + strings.Repeat("*", 8)
}
