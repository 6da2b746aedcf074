package pgstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/mfa/mfatest"
	"github.com/rampart-sdk/rampart/mfa/pgstore"
)

func newStore(t *testing.T) mfa.Store {
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
	return mustNew(t, db.Pool)
}

func TestStore(t *testing.T) {
	t.Parallel()
	mfatest.TestStore(t, newStore)
}

// TestStoreInTx runs the suite on stores bound to a transaction that commits
// when each subtest ends (the commit fails the test if any operation left
// the transaction aborted). The subtests that race goroutines on one store
// run pool-bound: a transaction is one connection, one statement at a time,
// and cannot stage a race between two sessions.
func TestStoreInTx(t *testing.T) {
	t.Parallel()
	mfatest.TestStore(t, func(t *testing.T) mfa.Store {
		db := pgtest.New(t)
		require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
		return mustNew(t, db.Pool).WithTx(pgtest.Tx(t, db.Pool))
	}, mfatest.WithConcurrentStore(newStore))
}

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
}

// TestTwoInstancesRaceOneCode plays two application instances, each with its
// own connection pool, receiving the same valid code at the same moment:
// exactly one may accept it. Then the lock-out holds across instances too.
func TestTwoInstancesRaceOneCode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	other, err := pgxpool.New(ctx, db.URL)
	require.NoError(t, err)
	t.Cleanup(other.Close)

	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	sealer := mfatest.NewSealer()
	a, err := mfa.New("Acme", mustNew(t, db.Pool), sealer, mfa.WithClock(clock))
	require.NoError(t, err)
	b, err := mfa.New("Acme", mustNew(t, other), sealer, mfa.WithClock(clock))
	require.NoError(t, err)

	acct := mfa.Account{Org: "org_1", User: "u_1", Kind: mfa.KindStaff}
	setup, err := a.Begin(ctx, acct, "ada@example.com")
	require.NoError(t, err)
	secret := mfatest.SecretOf(t, setup)
	code, err := mfa.TOTP(secret, clock(), mfa.SHA1, 6)
	require.NoError(t, err)
	_, err = b.Confirm(ctx, acct, code)
	require.NoError(t, err)

	for round := range 3 {
		// Replays count as failed attempts; let the window pass between rounds.
		advance(16 * time.Minute)
		code, err := mfa.TOTP(secret, clock(), mfa.SHA1, 6)
		require.NoError(t, err)
		var wins, reused atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 4 {
			m := a
			if i%2 == 1 {
				m = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := m.Verify(ctx, acct, code)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, mfa.ErrCodeReused):
					reused.Add(1)
				default:
					t.Errorf("round %d: unexpected %v", round, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		require.Equal(t, int32(1), wins.Load(), "round %d: exactly one instance accepts the code", round)
		require.Equal(t, int32(3), reused.Load())
	}

	// Failures on one instance lock the account on the other.
	advance(16 * time.Minute)
	for range 5 {
		require.ErrorIs(t, a.Verify(ctx, acct, "000000"), mfa.ErrInvalidCode)
	}
	advance(mfa.Period)
	code, err = mfa.TOTP(secret, clock(), mfa.SHA1, 6)
	require.NoError(t, err)
	var tm *mfa.TooManyAttemptsError
	require.ErrorAs(t, b.Verify(ctx, acct, code), &tm)
}

// mustNew is pgstore.New for a test that expects its options to be valid.
func mustNew(t testing.TB, pool *pgxpool.Pool, opts ...pgstore.Option) pgstore.Store {
	t.Helper()
	s, err := pgstore.New(pool, opts...)
	require.NoError(t, err)
	return s
}

// New refuses a nil pool and a nil option, naming them, with an error that
// matches mfa.ErrInvalidConfig.
func TestNewRefusesInvalidConfig(t *testing.T) {
	t.Parallel()
	// pgxpool.New connects lazily: the checks run without a database.
	pool := pgtest.IdlePool(t)
	for name, tc := range map[string]struct {
		pool *pgxpool.Pool
		opts []pgstore.Option
		want string
	}{
		"nil pool":   {nil, nil, "nil pool"},
		"nil option": {pool, []pgstore.Option{pgstore.WithTenantBinding(), nil}, "option 1 is nil"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := pgstore.New(tc.pool, tc.opts...)
			require.ErrorIs(t, err, mfa.ErrInvalidConfig)
			require.ErrorContains(t, err, tc.want)
			require.Nil(t, s)
		})
	}
	_, err := pgstore.New(pool, pgstore.WithTenantBinding())
	require.NoError(t, err)
}
