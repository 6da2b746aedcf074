package mfa

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"time"
)

// Period is the TOTP time step. Thirty seconds is what every common
// authenticator app assumes; a different period would silently break them, so
// it is not configurable.
const Period = 30 * time.Second

// skew is the number of steps either side of the current one that are
// accepted, to absorb clock drift between the server and the user's phone and
// the time it takes to type the code. RFC 6238 section 5.2 recommends at most
// one.
const skew = 1

// Algorithm names the HMAC hash of a TOTP enrolment, spelt as in the
// otpauth:// URI's algorithm parameter.
type Algorithm string

// The algorithms RFC 6238 defines. New enrolments always use SHA1, the only
// one every authenticator app implements (HMAC-SHA-1 is not affected by the
// collision attacks on SHA-1); an enrolment stored with SHA256 or SHA512 (by
// another system, or an earlier version's WithAlgorithm) keeps verifying
// with its own.
const (
	SHA1   Algorithm = "SHA1"
	SHA256 Algorithm = "SHA256"
	SHA512 Algorithm = "SHA512"
)

// newHash returns the hash constructor of a, or nil for an unknown algorithm.
func (a Algorithm) newHash() func() hash.Hash {
	switch a {
	case SHA1:
		return sha1.New
	case SHA256:
		return sha256.New
	case SHA512:
		return sha512.New
	}
	return nil
}

// secretSize is the length of a generated secret: the hash's output size, as
// RFC 6238 Appendix B's seeds are, and never below RFC 4226's 160 bits.
func (a Algorithm) secretSize() int {
	switch a {
	case SHA256:
		return 32
	case SHA512:
		return 64
	}
	return 20
}

// maxDigits is the longest code supported.
const maxDigits = 8

var pow10 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// hotpInto writes the RFC 4226 HOTP value of counter, zero-padded to
// len(dst) decimal digits, into dst. mac must be keyed with the secret; it is
// reset first, so one keyed MAC serves every candidate step.
func hotpInto(mac hash.Hash, counter uint64, dst []byte) {
	var msg [8]byte
	var sumBuf [sha512.Size]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Reset()
	mac.Write(msg[:])
	sum := mac.Sum(sumBuf[:0])
	// Dynamic truncation, RFC 4226 section 5.4.
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	v := bin % pow10[len(dst)]
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
}

// hotp returns the RFC 4226 one-time password of secret at counter with the
// given algorithm and number of digits (6 or 8), for TOTP; verification
// never calls it.
func hotp(secret []byte, counter uint64, alg Algorithm, digits int) (string, error) {
	h := alg.newHash()
	if h == nil {
		return "", fmt.Errorf("%w: unknown algorithm %q", ErrInvalidConfig, string(alg))
	}
	if digits != 6 && digits != 8 {
		return "", fmt.Errorf("%w: digits must be 6 or 8, not %d", ErrInvalidConfig, digits)
	}
	var out [maxDigits]byte
	hotpInto(hmac.New(h, secret), counter, out[:digits])
	return string(out[:digits]), nil
}

// TOTP returns the RFC 6238 code of secret at time t (30-second steps).
// It exists for tests, tools and the quickstart, which need to play the
// authenticator app's part; verification never calls it.
func TOTP(secret []byte, t time.Time, alg Algorithm, digits int) (string, error) {
	step, ok := stepAt(t)
	if !ok {
		return "", fmt.Errorf("%w: time before the Unix epoch", ErrInvalidConfig)
	}
	return hotp(secret, uint64(step), alg, digits)
}

// stepAt is the TOTP step of t: floor(unix seconds / 30).
func stepAt(t time.Time) (int64, bool) {
	u := t.Unix()
	if u < 0 {
		return 0, false
	}
	return u / int64(Period/time.Second), true
}

// matchTOTP compares code against every step in [now-skew, now+skew]. Every
// candidate is computed and compared in constant time, with no early return,
// so the response time does not depend on which step (if any) matched. When
// several steps match (a one-in-a-million coincidence), the earliest one after
// the last accepted step wins, so a coincidence never burns the next step of
// an honest user. If the code matches only steps at or before after, it
// reports one of them, and the store's replay guard refuses it.
func matchTOTP(secret []byte, alg Algorithm, code []byte, now time.Time, after int64) (int64, bool) {
	h := alg.newHash()
	t, okTime := stepAt(now)
	if h == nil || !okTime || len(code) < 6 || len(code) > maxDigits {
		return 0, false
	}
	mac := hmac.New(h, secret)
	var want [maxDigits]byte
	found, selAny := 0, 0
	fresh, selFresh := 0, 0
	for i := 2 * skew; i >= 0; i-- { // latest first: the last selection is the earliest
		c := t - skew + int64(i)
		if c < 0 {
			continue // public: only the first minute after the epoch
		}
		hotpInto(mac, uint64(c), want[:len(code)])
		eq := subtle.ConstantTimeCompare(code, want[:len(code)])
		later := 0
		if c > after { // public: steps and the replay guard are not secret
			later = 1
		}
		selAny = subtle.ConstantTimeSelect(eq, i, selAny)
		found |= eq
		selFresh = subtle.ConstantTimeSelect(eq&later, i, selFresh)
		fresh |= eq & later
	}
	if fresh == 1 {
		return t - skew + int64(selFresh), true
	}
	return t - skew + int64(selAny), found == 1
}

// normalizeCode turns what a user typed into the code's digits: spaces and a
// middle separator ("123 456", "123-456") are dropped, and anything but
// exactly digits ASCII digits is refused. It writes into dst to avoid an
// allocation on the verification path.
func normalizeCode(dst *[maxDigits]byte, s string, digits int) ([]byte, bool) {
	// digits comes from the store: a corrupted row must fail, not panic.
	if len(s) > 4*maxDigits || digits < 1 || digits > maxDigits {
		return nil, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n == digits {
				return nil, false
			}
			dst[n] = c
			n++
		case c == ' ' || c == '-' || c == '\t':
		default:
			return nil, false
		}
	}
	if n != digits {
		return nil, false
	}
	return dst[:n], true
}
