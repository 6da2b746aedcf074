package authn

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPasswordArgon2idDefault(t *testing.T) {
	t.Parallel()
	p, err := NewPasswords()
	require.NoError(t, err)
	h, err := p.Hash(ctx, "correct horse battery staple")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$"), h)
	require.NotContains(t, h[strings.LastIndex(h, "$"):], "=", "unpadded base64")

	rehash, err := p.Verify(ctx, "correct horse battery staple", h)
	require.NoError(t, err)
	require.False(t, rehash)
	_, err = p.Verify(ctx, "correct horse battery stapler", h)
	require.ErrorIs(t, err, ErrPasswordMismatch)

	h2, err := p.Hash(ctx, "correct horse battery staple")
	require.NoError(t, err)
	require.NotEqual(t, h, h2, "salted")
}

func TestPasswordNeedsRehash(t *testing.T) {
	t.Parallel()
	argon, err := NewPasswords()
	require.NoError(t, err)
	weak, err := NewPasswords(WithArgon2id(Argon2Params{MemoryKiB: 8192, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
	require.NoError(t, err)
	bc, err := NewPasswords(WithBcrypt(12), withFastBcrypt())
	require.NoError(t, err)

	weakHash, err := weak.Hash(ctx, "pw-1")
	require.NoError(t, err)
	bcHash, err := bc.Hash(ctx, "pw-1")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(bcHash, "$2a$04$"), bcHash)
	argonHash, err := argon.Hash(ctx, "pw-1")
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		p      *Passwords
		hash   string
		rehash bool
	}{
		{"argon default, weaker argon", argon, weakHash, true},
		{"argon default, bcrypt", argon, bcHash, true},
		{"argon default, same", argon, argonHash, false},
		{"bcrypt default, argon", bc, argonHash, true},
		{"bcrypt default, same", bc, bcHash, false},
		{"weak default, stronger argon", weak, argonHash, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rehash, err := tc.p.Verify(ctx, "pw-1", tc.hash)
			require.NoError(t, err)
			require.Equal(t, tc.rehash, rehash)
		})
	}
	// A bcrypt hash below the configured cost needs rehashing.
	bc12, err := NewPasswords(WithBcrypt(12))
	require.NoError(t, err)
	rehash, err := bc12.Verify(ctx, "pw-1", bcHash)
	require.NoError(t, err)
	require.True(t, rehash, "cost 4 < 12")
}

func TestPasswordWeakParametersRefused(t *testing.T) {
	t.Parallel()
	_, err := NewPasswords(WithBcrypt(10))
	require.ErrorIs(t, err, ErrWeakParameters)
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = NewPasswords(WithArgon2id(Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
	require.ErrorIs(t, err, ErrWeakParameters)
	require.ErrorIs(t, err, ErrInvalidConfig)
}

func TestPasswordLengthLimits(t *testing.T) {
	t.Parallel()
	argon, err := NewPasswords()
	require.NoError(t, err)
	bc, err := NewPasswords(WithBcrypt(12), withFastBcrypt())
	require.NoError(t, err)

	long73 := strings.Repeat("a", 73)
	// bcrypt refuses rather than truncates.
	_, err = bc.Hash(ctx, long73)
	require.ErrorIs(t, err, ErrPasswordTooLong)
	// A bcrypt hash of the first 72 bytes must not accept the 73-byte password.
	h72, err := bc.Hash(ctx, long73[:72])
	require.NoError(t, err)
	// It is a plain mismatch (not a distinct error), so a bcrypt account
	// looks like any other to an attacker probing with long passwords.
	_, err = bc.Verify(ctx, long73, h72)
	require.ErrorIs(t, err, ErrPasswordMismatch)
	require.NotErrorIs(t, err, ErrPasswordTooLong)
	_, err = argon.Verify(ctx, long73, h72)
	require.ErrorIs(t, err, ErrPasswordMismatch)
	require.ErrorIs(t, bc.VerifyUnknown(ctx, long73), ErrPasswordMismatch)

	// Argon2id has no 72-byte limit, and sees every byte.
	h, err := argon.Hash(ctx, long73)
	require.NoError(t, err)
	_, err = argon.Verify(ctx, long73, h)
	require.NoError(t, err)
	_, err = argon.Verify(ctx, long73[:72], h)
	require.ErrorIs(t, err, ErrPasswordMismatch)

	// The global bound stops hashing-cost abuse on every path.
	huge := strings.Repeat("x", MaxPasswordLength+1)
	_, err = argon.Hash(ctx, huge)
	require.ErrorIs(t, err, ErrPasswordTooLong)
	_, err = argon.Verify(ctx, huge, h)
	require.ErrorIs(t, err, ErrPasswordTooLong)
	require.ErrorIs(t, argon.VerifyUnknown(ctx, huge), ErrPasswordTooLong)
	_, err = argon.Hash(ctx, strings.Repeat("x", MaxPasswordLength))
	require.NoError(t, err)
	_, err = argon.Hash(ctx, "")
	require.ErrorIs(t, err, ErrEmptyPassword)
}

// TestUnknownUserRunsSameCodePath asserts, instead of timing, that an unknown
// user costs exactly what a wrong password costs: one key derivation with
// the same algorithm and parameters.
func TestUnknownUserRunsSameCodePath(t *testing.T) {
	t.Parallel()
	for _, opt := range []PasswordsOption{WithArgon2id(DefaultArgon2Params()), WithBcrypt(12)} {
		var known, unknown counter
		pk, err := NewPasswords(opt, withFastBcrypt(), withHashObserver(known.observe))
		require.NoError(t, err)
		pu, err := NewPasswords(opt, withFastBcrypt(), withHashObserver(unknown.observe))
		require.NoError(t, err)
		h, err := pk.Hash(ctx, "right")
		require.NoError(t, err)

		_, err = pk.Verify(ctx, "wrong", h)
		require.ErrorIs(t, err, ErrPasswordMismatch)
		require.ErrorIs(t, pu.VerifyUnknown(ctx, "wrong"), ErrPasswordMismatch)
		require.ErrorIs(t, pu.VerifyUnknown(ctx, "right"), ErrPasswordMismatch)
		require.Equal(t, known.argon.Load()*2, unknown.argon.Load())
		require.Equal(t, known.bcrypt.Load()*2, unknown.bcrypt.Load())
		require.Equal(t, int64(1), known.argon.Load()+known.bcrypt.Load())

		// The dummy hash has the configured parameters, so it costs the same.
		ph, perr := parsePHC(pu.dummy)
		if perr == nil {
			require.Equal(t, DefaultArgon2Params(), ph.params)
		} else {
			require.True(t, isBcrypt(pu.dummy))
			require.Contains(t, pu.dummy, "$04$", "the configured cost")
		}
	}
}

// TestBcryptCostBounded: a stored bcrypt hash at bcrypt's maximum cost (a
// tampered row) is refused at once instead of hashing for a day, and
// configuring such a cost is refused too.
func TestBcryptCostBounded(t *testing.T) {
	t.Parallel()
	var obs counter
	p, err := NewPasswords(withHashObserver(obs.observe))
	require.NoError(t, err)
	tampered := "$2a$31$" + strings.Repeat("A", 53)
	require.True(t, isBcrypt(tampered))
	_, err = p.Verify(ctx, "password", tampered)
	require.ErrorIs(t, err, ErrMalformedHash)
	require.Zero(t, obs.bcrypt.Load(), "refused before hashing")
	_, err = NewPasswords(WithBcrypt(maxBcryptCost + 1))
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.NotErrorIs(t, err, ErrWeakParameters)
	_, err = NewPasswords(WithBcrypt(maxBcryptCost))
	require.NoError(t, err)
}

func TestParsePHCRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"",
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ",
		"$argon2id$v=16$m=19456,t=2,p=1$c29tZXNhbHQ$qW4pdm62UlGUkURyVak7QNz4jQWQZnib5RWIbsW2Gu8",
		"$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$qW4pdm62UlGUkURyVak7QNz4jQWQZnib5RWIbsW2Gu8",
		"$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$qW4pdm62UlGUkURyVak7QNz4jQWQZnib5RWIbsW2Gu8",
		"$argon2id$v=19$m=19456,t=9999,p=1$c29tZXNhbHQ$qW4pdm62UlGUkURyVak7QNz4jQWQZnib5RWIbsW2Gu8",
		"$argon2id$v=19$t=2,m=19456,p=1$c29tZXNhbHQ$qW4pdm62UlGUkURyVak7QNz4jQWQZnib5RWIbsW2Gu8",
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ=$qW4pdm62UlGUkURyVak7QNz4jQWQZnib5RWIbsW2Gu8",
		"$argon2id$v=19$m=019456,t=2,p=1$c29tZXNhbHQ$qW4pdm62UlGUkURyVak7QNz4jQWQZnib5RWIbsW2Gu8",
	} {
		_, err := parsePHC(s)
		require.ErrorIs(t, err, ErrMalformedHash, s)
	}
}

func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=32768,t=2,p=1$c29tZXNhbHQ$qW4pdm62UlGUkURyVak7QNz4jQWQZnib5RWIbsW2Gu8")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Fuzz(func(t *testing.T, s string) {
		ph, err := parsePHC(s)
		if err != nil {
			return
		}
		if ph.params.MemoryKiB > maxArgonMemoryKiB || ph.params.Time > maxArgonTime || len(ph.key) > 128 {
			t.Fatalf("accepted out-of-bounds parameters: %+v", ph.params)
		}
	})
}

// Interoperability with Debian's reference argon2 CLI: its hashes verify, and
// ours are byte-identical to its output for the same salt and parameters.
func TestArgon2CLIInterop(t *testing.T) {
	t.Parallel()
	tool := lookTool(t, "argon2")
	p, err := NewPasswords()
	require.NoError(t, err)
	for _, tc := range []struct {
		pw, salt string
		args     []string
		params   Argon2Params
	}{
		{"pw", "somesalt", []string{"-t", "2", "-m", "15", "-p", "1", "-l", "32"}, Argon2Params{MemoryKiB: 1 << 15, Time: 2, Threads: 1, KeyLen: 32}},
		{"correct horse battery staple", "saltsaltsaltsalt", []string{"-t", "2", "-k", "19456", "-p", "1", "-l", "32"}, DefaultArgon2Params()},
		{"λ unicode pässwörd", "0123456789abcdef", []string{"-t", "3", "-k", "12288", "-p", "2", "-l", "32"}, Argon2Params{MemoryKiB: 12288, Time: 3, Threads: 2, KeyLen: 32}},
	} {
		cmd := exec.Command(tool, append([]string{tc.salt, "-id", "-e"}, tc.args...)...)
		cmd.Stdin = strings.NewReader(tc.pw)
		out, err := cmd.Output()
		if err != nil && strings.Contains(strings.Join(tc.args, " "), "-k") {
			// Older builds lack -k (memory in KiB); -m is enough to prove interop.
			continue
		}
		require.NoError(t, err)
		theirs := strings.TrimSpace(string(out))

		_, err = p.Verify(ctx, tc.pw, theirs)
		require.NoError(t, err, theirs)
		_, err = p.Verify(ctx, tc.pw+"x", theirs)
		require.ErrorIs(t, err, ErrPasswordMismatch)

		params := tc.params
		params.SaltLen = uint32(len(tc.salt))
		ours := encodeArgon2id(tc.pw, []byte(tc.salt), params)
		require.Equal(t, theirs, ours)
	}
}

// Interoperability with Apache's htpasswd: its bcrypt ($2y$) hashes verify
// here, and htpasswd accepts ours.
func TestHtpasswdInterop(t *testing.T) {
	t.Parallel()
	tool := lookTool(t, "htpasswd")
	bc, err := NewPasswords(WithBcrypt(12))
	require.NoError(t, err)
	argon, err := NewPasswords()
	require.NoError(t, err)

	out, err := exec.Command(tool, "-bnBC", "12", "alice", "s3cret pw").Output()
	require.NoError(t, err)
	_, theirs, ok := strings.Cut(strings.TrimSpace(string(out)), ":")
	require.True(t, ok)
	require.True(t, strings.HasPrefix(theirs, "$2y$12$"), theirs)
	rehash, err := bc.Verify(ctx, "s3cret pw", theirs)
	require.NoError(t, err)
	require.False(t, rehash)
	rehash, err = argon.Verify(ctx, "s3cret pw", theirs)
	require.NoError(t, err)
	require.True(t, rehash, "bcrypt is older than the argon2id default")
	_, err = bc.Verify(ctx, "s3cret pW", theirs)
	require.ErrorIs(t, err, ErrPasswordMismatch)

	ours, err := bc.Hash(ctx, "another pw")
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "htpasswd")
	require.NoError(t, os.WriteFile(file, []byte("bob:"+ours+"\n"), 0o600))
	require.NoError(t, exec.Command(tool, "-vb", file, "bob", "another pw").Run())
	require.Error(t, exec.Command(tool, "-vb", file, "bob", "another pW").Run())
}

var ctx = context.Background()
