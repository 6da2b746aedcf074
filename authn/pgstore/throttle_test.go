package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/authn/authntest"
	"github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// twoInstances returns two stores on the same schema, each with its own
// pool: two application instances sharing one database.
func twoInstances(t *testing.T, conns int32) (pgstore.Store, pgstore.Store) {
	db := pgtest.New(t)
	ctx := context.Background()
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	instance := func() pgstore.Store {
		cfg, err := pgxpool.ParseConfig(db.URL)
		require.NoError(t, err)
		cfg.MaxConns = conns
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		return mustNew(t, pool)
	}
	return instance(), instance()
}

// TestThrottleTwoPools: attempts fired at once through two pools never
// count more than the limit, at the store and through PasswordLogin.
func TestThrottleTwoPools(t *testing.T) {
	t.Parallel()
	a, b := twoInstances(t, 4)
	authntest.TestThrottleConcurrent(t, a, b)

	// Through the login path: 24 wrong guesses at one account from 24
	// addresses, split over both instances; the account limit is 5.
	ctx := context.Background()
	clock := func() time.Time { return time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC) }
	pw, err := authn.NewPasswords(authn.WithArgon2id(authn.Argon2Params{MemoryKiB: 7 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
	require.NoError(t, err)
	hash, err := pw.Hash(ctx, "right")
	require.NoError(t, err)
	lim := authn.DefaultThrottleLimits()
	lim.Account, lim.Window = 5, time.Hour
	var guessed, throttled atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 24 {
		store := a
		if i%2 == 1 {
			store = b
		}
		login, err := authn.NewPasswordLogin(pw, store, authn.WithClock(clock), authn.WithThrottleLimits(lim))
		require.NoError(t, err)
		wg.Go(func() {
			<-start
			c := authn.Client{Login: "victim@example.com", Addr: fmt.Sprintf("2001:db8:%x::1", i)} // a /64 each
			_, err := login.Check(ctx, c, authn.Account{Found: true, Org: "o", PasswordHash: hash}, "guess")
			switch {
			case errors.Is(err, authn.ErrPasswordMismatch):
				guessed.Add(1)
			case errors.Is(err, authn.ErrThrottled):
				throttled.Add(1)
			default:
				t.Errorf("check: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	require.Equal(t, int64(5), guessed.Load(), "only the account limit's worth of guesses is ever checked")
	require.Equal(t, int64(19), throttled.Load())
}
