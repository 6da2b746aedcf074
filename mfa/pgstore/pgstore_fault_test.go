package pgstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgfault"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/mfa/mfatest"
	"github.com/rampart-sdk/rampart/mfa/pgstore"
)

// TestFaultVerify kills the backend at every statement of a TOTP
// verification: no panic; each run accepts the code or fails with an
// error that says the connection was lost (never ErrInvalidCode for a
// right code); and a code is never accepted twice, whatever the kill left
// behind.
func TestFaultVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	fp := pgfault.New(t, db.URL, 2)

	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	sealer := mfatest.NewSealer()
	clean, err := mfa.New("Acme", mustNew(t, db.Pool), sealer, mfa.WithClock(clock))
	require.NoError(t, err)
	faulty, err := mfa.New("Acme", mustNew(t, fp.Pool), sealer, mfa.WithClock(clock))
	require.NoError(t, err)

	acct := mfa.Account{Org: "org_1", User: "u_1", Kind: mfa.KindStaff}
	setup, err := clean.Begin(ctx, acct, "ada@example.com")
	require.NoError(t, err)
	secret := mfatest.SecretOf(t, setup)
	code, err := mfa.TOTP(secret, clock(), mfa.SHA1, 6)
	require.NoError(t, err)
	_, err = clean.Confirm(ctx, acct, code)
	require.NoError(t, err)

	var used []string // codes of runs, to replay afterwards
	fp.EachPoint(t, 50, func(ctx context.Context) error {
		advance(16 * time.Minute) // a fresh step, and a fresh attempt window
		code, err := mfa.TOTP(secret, clock(), mfa.SHA1, 6)
		require.NoError(t, err)
		used = append(used, code)
		return faulty.Verify(ctx, acct, code)
	}, func(o pgfault.Outcome) {
		if o.Err != nil {
			require.True(t, o.Killed, "an error without a kill: %v", o.Err)
			require.True(t, pgfault.ConnectionLost(o.Err), "point %d: %v", o.Point, o.Err)
			require.NotErrorIs(t, o.Err, mfa.ErrInvalidCode)
		}
		// Whatever the kill left behind, the code of this run is accepted
		// at most once: by the run, or (if the run's step was not stored)
		// by one replay.
		accepted := 0
		if o.Err == nil {
			accepted++
		}
		for range 2 {
			if clean.Verify(ctx, acct, used[len(used)-1]) == nil {
				accepted++
			}
		}
		require.LessOrEqual(t, accepted, 1, "point %d: code accepted twice", o.Point)
	})
}
