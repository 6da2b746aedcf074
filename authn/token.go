package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

const (
	magicTokenPrefix   = "ml_"
	sessionTokenPrefix = "ses_"
	tokenBytes         = 32 // 256 bits
	tokenEncodedLen    = 43 // unpadded base64url of 32 bytes
)

// newToken returns prefix followed by 256 random bits in unpadded base64url,
// and the SHA-256 that is stored in its place.
func newToken(prefix string) (string, []byte) {
	var b [tokenBytes]byte
	_, _ = rand.Read(b[:])
	s := prefix + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256(b[:])
	return s, h[:]
}

// parseToken checks that s is prefix plus exactly 256 bits in canonical
// unpadded base64url and returns the SHA-256 to look up. Errors never echo s.
func parseToken(prefix, s string) ([]byte, error) {
	if len(s) != len(prefix)+tokenEncodedLen || s[:len(prefix)] != prefix {
		return nil, fmt.Errorf("%w: layout", ErrMalformedToken)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s[len(prefix):])
	if err != nil || len(b) != tokenBytes {
		return nil, fmt.Errorf("%w: encoding", ErrMalformedToken)
	}
	h := sha256.Sum256(b)
	return h[:], nil
}

func redactToken(prefix string) string { return prefix + "********" }
