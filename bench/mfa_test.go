package bench

import (
	"context"
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/mfa/mfatest"
	"github.com/rampart-sdk/rampart/mfa/pgstore"
)

// benchVerify measures mfa.Manager.Verify end to end: opening the sealed
// secret (AES-256-GCM), the attempt-state check, three constant-time HOTP
// candidates, the replay guard and clearing the attempts. Every iteration
// presents a new, valid code one step later, so each is accepted.
func benchVerify(b *testing.B, store mfa.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	now := t0
	m, err := mfa.New("Acme", store, mfatest.NewSealer(), mfa.WithClock(func() time.Time { return now }))
	if err != nil {
		b.Fatal(err)
	}
	acct := mfa.Account{Org: "org_1", User: "u_ada", Kind: mfa.KindStaff}
	setup, err := m.Begin(ctx, acct, "ada@example.com")
	if err != nil {
		b.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(setup.Secret())
	if err != nil {
		b.Fatal(err)
	}
	first, _ := mfa.TOTP(secret, now, mfa.SHA1, 6)
	if _, err := m.Confirm(ctx, acct, first); err != nil {
		b.Fatal(err)
	}
	// One pointer-free string holds every code, so the garbage collector
	// has nothing to scan during the timed loop.
	var all strings.Builder
	all.Grow(6 * b.N)
	for i := range b.N {
		c, _ := mfa.TOTP(secret, t0.Add(time.Duration(i+1)*mfa.Period), mfa.SHA1, 6)
		all.WriteString(c)
	}
	codes := all.String()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		now = t0.Add(time.Duration(i+1) * mfa.Period)
		if err := m.Verify(ctx, acct, codes[6*i:6*i+6]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
}

// BenchmarkMFAVerify compares rampart's verification, replay guard included,
// with pquerna/otp's totp.Validate (no replay guard, no attempt limiting,
// secret in plain text, early return on the first matching step).
func BenchmarkMFAVerify(b *testing.B) {
	b.Run("rampart-memory", func(b *testing.B) {
		benchVerify(b, mfa.NewMemoryStore())
	})
	b.Run("rampart-postgres", func(b *testing.B) {
		db := pgtest.New(b)
		if err := pgstore.Migrate(context.Background(), db.Pool); err != nil {
			b.Fatal(err)
		}
		s, err := pgstore.New(db.Pool)
		if err != nil {
			b.Fatal(err)
		}
		benchVerify(b, s)
	})
	b.Run("pquerna-totp.Validate", func(b *testing.B) {
		key, err := totp.Generate(totp.GenerateOpts{Issuer: "Acme", AccountName: "ada@example.com"})
		if err != nil {
			b.Fatal(err)
		}
		code, err := totp.GenerateCode(key.Secret(), time.Now())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if !totp.Validate(code, key.Secret()) {
				b.Fatal("rejected")
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
	})
}
