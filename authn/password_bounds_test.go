package authn

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestArgon2CeilingRefusedWithoutHashing: a stored hash above the accepted
// ceiling (a tampered row) is refused with a *HashCostError before any
// derivation runs. The first row is the largest hash the old bounds
// accepted: 1 GiB, 64 passes, 64 lanes (about a minute of CPU per attempt).
func TestArgon2CeilingRefusedWithoutHashing(t *testing.T) {
	t.Parallel()
	const salt, key = "c29tZXNhbHRzb21lc2FsdA", "qW4pdm62UlGUkURyVak7QNz4jQWQZnib5RWIbsW2Gu8"
	var obs counter
	p, err := NewPasswords(withHashObserver(obs.observe))
	require.NoError(t, err)
	for _, tc := range []struct{ params, detail string }{
		{"m=1048576,t=64,p=64", "m=1048576 KiB above 262144"},
		{"m=262145,t=1,p=1", "m=262145 KiB above 262144"},
		{"m=19456,t=17,p=1", "t=17 above 16"},
		{"m=19456,t=2,p=17", "p=17 above 16"},
		{"m=262144,t=5,p=1", "m*t=1310720 KiB above 1048576"},
		{"m=4194304,t=2,p=1", "m=4194304 KiB above 262144"},
	} {
		t.Run(tc.params, func(t *testing.T) {
			h := fmt.Sprintf("$argon2id$v=19$%s$%s$%s", tc.params, salt, key)
			_, err := p.Verify(context.Background(), "password", h)
			var ce *HashCostError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, "argon2id", ce.Alg)
			require.Equal(t, tc.detail, ce.Detail)
			require.ErrorIs(t, err, ErrMalformedHash, "still a malformed hash to callers that branch on it")
			require.NotContains(t, err.Error(), key)
		})
	}
	require.Zero(t, obs.argon.Load(), "nothing was derived")

	// The ceiling itself is accepted, and so is configuring it.
	for _, params := range []Argon2Params{
		{MemoryKiB: 64 * 1024, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}, // RFC 9106, second option
		{MemoryKiB: 46 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, // OWASP's largest
	} {
		_, err := NewPasswords(WithArgon2id(params))
		require.NoError(t, err, "%+v", params)
	}
	for _, params := range []Argon2Params{
		{MemoryKiB: 2 << 20, Time: 1, Threads: 4, SaltLen: 16, KeyLen: 32}, // RFC 9106, first option: 2 GiB
		{MemoryKiB: 256 * 1024, Time: 8, Threads: 1, SaltLen: 16, KeyLen: 32},
		{MemoryKiB: 19 * 1024, Time: 2, Threads: 32, SaltLen: 16, KeyLen: 32},
	} {
		_, err := NewPasswords(WithArgon2id(params))
		require.ErrorIs(t, err, ErrInvalidConfig, "%+v", params)
	}

	// bcrypt above its ceiling is the same typed error.
	_, err = p.Verify(context.Background(), "password", "$2a$31$"+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	var ce *HashCostError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "bcrypt", ce.Alg)
}

// TestHashConcurrencyBounded: with one hashing slot taken, Hash, Verify,
// VerifyUnknown and PasswordLogin.Check wait, and return the context's
// error, without hashing, once the context ends.
func TestHashConcurrencyBounded(t *testing.T) {
	t.Parallel()
	var obs counter
	p, err := NewPasswords(WithHashConcurrency(1), withHashObserver(obs.observe))
	require.NoError(t, err)
	require.Equal(t, 1, cap(p.slots))
	h, err := p.Hash(context.Background(), "pw")
	require.NoError(t, err)
	require.ErrorIs(t, p.VerifyUnknown(context.Background(), "pw"), ErrPasswordMismatch) // makes the dummy hash
	before := obs.argon.Load()

	store := NewMemoryStore()
	login, err := NewPasswordLogin(p, store)
	require.NoError(t, err)

	p.slots <- struct{}{} // another hash holds the only slot
	for name, call := range map[string]func(context.Context) error{
		"Hash":          func(ctx context.Context) error { _, err := p.Hash(ctx, "pw"); return err },
		"Verify":        func(ctx context.Context) error { _, err := p.Verify(ctx, "pw", h); return err },
		"VerifyUnknown": func(ctx context.Context) error { return p.VerifyUnknown(ctx, "pw") },
		"PasswordLogin.Check": func(ctx context.Context) error {
			_, err := login.Check(ctx, Client{Login: "a@example.com"}, Account{Found: true, Org: "o", PasswordHash: h}, "pw")
			return err
		},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- call(ctx) }()
		cancel()
		err := <-done
		require.ErrorIs(t, err, context.Canceled, name)
		require.False(t, errors.Is(err, ErrPasswordMismatch), name)
	}
	require.Equal(t, before, obs.argon.Load(), "no hash ran while the slot was held")
	<-p.slots
	_, err = p.Verify(context.Background(), "pw", h)
	require.NoError(t, err, "the slot freed, hashing resumes")

	def, err := NewPasswords()
	require.NoError(t, err)
	require.Positive(t, cap(def.slots), "sized to the CPUs by default")
}
