package mfa

import (
	"crypto/hmac"
	"crypto/sha1"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// RFC 4226 Appendix D: secret "12345678901234567890", counters 0..9.
func TestHOTPRFC4226(t *testing.T) {
	t.Parallel()
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	secret := []byte("12345678901234567890")
	mac := hmac.New(sha1.New, secret)
	for i, w := range want {
		var out [6]byte
		hotpInto(mac, uint64(i), out[:])
		require.Equal(t, w, string(out[:]), "counter %d", i)
		got, err := hotp(secret, uint64(i), SHA1, 6)
		require.NoError(t, err)
		require.Equal(t, w, got)
	}
}

// RFC 6238 Appendix B, with the per-algorithm seeds of the RFC's reference
// implementation, 8 digits.
var rfc6238 = []struct {
	unix                 int64
	sha1, sha256, sha512 string
}{
	{59, "94287082", "46119246", "90693936"},
	{1111111109, "07081804", "68084774", "25091201"},
	{1111111111, "14050471", "67062674", "99943326"},
	{1234567890, "89005924", "91819424", "93441116"},
	{2000000000, "69279037", "90698825", "38618901"},
	{20000000000, "65353130", "77737706", "47863826"},
}

var rfcSeeds = map[Algorithm][]byte{
	SHA1:   []byte("12345678901234567890"),
	SHA256: []byte("12345678901234567890123456789012"),
	SHA512: []byte("1234567890123456789012345678901234567890123456789012345678901234"),
}

func TestTOTPRFC6238(t *testing.T) {
	t.Parallel()
	for _, v := range rfc6238 {
		for alg, want := range map[Algorithm]string{SHA1: v.sha1, SHA256: v.sha256, SHA512: v.sha512} {
			now := time.Unix(v.unix, 0)
			got, err := TOTP(rfcSeeds[alg], now, alg, 8)
			require.NoError(t, err)
			require.Equal(t, want, got, "%s at %d", alg, v.unix)
			step, ok := matchTOTP(rfcSeeds[alg], alg, []byte(want), now, -1)
			require.True(t, ok, "%s at %d", alg, v.unix)
			require.Equal(t, v.unix/30, step)
			// The 6-digit code is the last 6 digits of the 8-digit one.
			_, ok = matchTOTP(rfcSeeds[alg], alg, []byte(want[2:]), now, -1)
			require.True(t, ok)
		}
	}
}

func TestMatchTOTPWindow(t *testing.T) {
	t.Parallel()
	secret := rfcSeeds[SHA1]
	now := time.Unix(1111111111, 0)
	base := now.Unix() / 30
	for off := int64(-3); off <= 3; off++ {
		code, err := hotp(secret, uint64(base+off), SHA1, 6)
		require.NoError(t, err)
		step, ok := matchTOTP(secret, SHA1, []byte(code), now, -1)
		if off >= -1 && off <= 1 {
			require.True(t, ok, "offset %d within skew", off)
			require.Equal(t, base+off, step)
		} else {
			require.False(t, ok, "offset %d beyond skew", off)
		}
	}
	_, ok := matchTOTP(secret, SHA1, []byte("12345"), now, -1)
	require.False(t, ok)
	_, ok = matchTOTP(secret, Algorithm("MD5"), []byte("123456"), now, -1)
	require.False(t, ok)
	_, ok = matchTOTP(secret, SHA1, []byte("123456"), time.Unix(-100, 0), -1)
	require.False(t, ok)
	// The first step after the epoch has no step before it.
	code, _ := hotp(secret, 0, SHA1, 6)
	step, ok := matchTOTP(secret, SHA1, []byte(code), time.Unix(5, 0), -1)
	require.True(t, ok)
	require.Equal(t, int64(0), step)
}

// TestMatchTOTPCoincidence uses two adjacent steps whose codes are equal and checks that the earliest step after the replay guard wins.
func TestMatchTOTPCoincidence(t *testing.T) {
	t.Parallel()
	secret := rfcSeeds[SHA1]
	const s int64 = 910737 // found by search: the first adjacent pair for this seed
	a, _ := hotp(secret, uint64(s), SHA1, 6)
	b, _ := hotp(secret, uint64(s+1), SHA1, 6)
	require.Equal(t, a, b)
	code, _ := hotp(secret, uint64(s), SHA1, 6)
	now := time.Unix((s+1)*30, 0) // window s, s+1, s+2
	step, ok := matchTOTP(secret, SHA1, []byte(code), now, s-1)
	require.True(t, ok)
	require.Equal(t, s, step, "the earliest fresh step wins")
	step, ok = matchTOTP(secret, SHA1, []byte(code), now, s)
	require.True(t, ok)
	require.Equal(t, s+1, step, "the same digits are still the valid code of the next step")
	step, ok = matchTOTP(secret, SHA1, []byte(code), now, s+1)
	require.True(t, ok)
	require.LessOrEqual(t, step, s+1, "only used steps match: the replay guard refuses it")
}

func TestNormalizeCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     string
		digits int
		want   string
		ok     bool
	}{
		{"123456", 6, "123456", true},
		{"123 456", 6, "123456", true},
		{" 123-456\t", 6, "123456", true},
		{"12345678", 8, "12345678", true},
		{"1234 5678", 8, "12345678", true},
		{"12345", 6, "", false},
		{"1234567", 6, "", false},
		{"12345a", 6, "", false},
		{"١٢٣٤٥٦", 6, "", false}, // Arabic-Indic digits are not ASCII digits
		{"123456\x00", 6, "", false},
		{"", 6, "", false},
		{strings.Repeat(" ", 100) + "123456", 6, "", false},
		{"123456789", 9, "", false}, // a corrupted stored digit count fails, never indexes past the buffer
		{"123456", 0, "", false},
	} {
		var buf [maxDigits]byte
		got, ok := normalizeCode(&buf, tc.in, tc.digits)
		require.Equal(t, tc.ok, ok, "%q", tc.in)
		require.Equal(t, tc.want, string(got), "%q", tc.in)
	}
}

func TestNormalizeRecoveryCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"abcd-efgh-ijkl-mn23", "abcdefghijklmn23", true},
		{"ABCD EFGH IJKL MN23", "abcdefghijklmn23", true},
		{"abcdefghijklmn23", "abcdefghijklmn23", true},
		{"abcd-efgh-ijkl-mn2", "", false},
		{"abcd-efgh-ijkl-mn234", "", false},
		{"abcd-efgh-ijkl-mn01", "", false}, // 0, 1 are not base32
		{"abcd-efgh-ijkl-mn2é", "", false},
		{"", "", false},
	} {
		got, ok := normalizeRecoveryCode(tc.in)
		require.Equal(t, tc.ok, ok, "%q", tc.in)
		require.Equal(t, tc.want, got, "%q", tc.in)
	}
}

func TestRedactURI(t *testing.T) {
	t.Parallel()
	got := redactURI("otpauth://totp/Acme:ada@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Acme")
	require.NotContains(t, got, "JBSWY3DPEHPK3PXP")
	require.Contains(t, got, "secret=REDACTED")
	require.Contains(t, got, "issuer=Acme")
	require.Equal(t, "otpauth://REDACTED", redactURI("otpauth://%zz?secret=JBSWY3DPEHPK3PXP"))
}

func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "12345678", "", "abc", "1234-5678", "\x00"} {
		f.Add(s, 6)
		f.Add(s, 8)
	}
	f.Fuzz(func(t *testing.T, s string, digits int) {
		if digits != 6 && digits != 8 {
			digits = 6
		}
		var buf [maxDigits]byte
		got, ok := normalizeCode(&buf, s, digits)
		if !ok {
			return
		}
		if len(got) != digits {
			t.Fatalf("%q gave %q", s, got)
		}
		for _, c := range got {
			if c < '0' || c > '9' {
				t.Fatalf("%q gave non-digit %q", s, got)
			}
		}
		// Idempotent.
		again, ok := normalizeCode(&buf, string(got), digits)
		if !ok || string(again) != string(got) {
			t.Fatalf("not idempotent on %q", s)
		}
	})
}

func FuzzNormalizeRecoveryCode(f *testing.F) {
	for _, s := range []string{"abcd-efgh-ijkl-mn23", "ABCDEFGHIJKLMN23", "", "----", "abcd efgh"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := normalizeRecoveryCode(s)
		if !ok {
			return
		}
		if len(got) != recoveryCodeLen || strings.Trim(got, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("%q gave %q", s, got)
		}
		if again, ok := normalizeRecoveryCode(got); !ok || again != got {
			t.Fatalf("not idempotent on %q", s)
		}
	})
}

func FuzzRedactURI(f *testing.F) {
	f.Add("otpauth://totp/Acme:ada@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Acme")
	f.Add("otpauth://totp/x?secret=ABC&secret=DEF")
	f.Add("otpauth://totp/x?a=1;secret=ABC")
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, raw string) {
		out := redactURI(raw)
		u, err := url.Parse(out)
		if err != nil {
			t.Fatalf("redacted output %q does not parse: %v", out, err)
		}
		for _, v := range u.Query()["secret"] {
			if v != "REDACTED" {
				t.Fatalf("secret survived: %q -> %q", raw, out)
			}
		}
	})
}
