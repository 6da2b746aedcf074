package pgstore_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/pgstore"
	"github.com/rampart-sdk/rampart/privacy/privacytest"
)

func newStore(t *testing.T) pgstore.Store {
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
	require.NoError(t, pgstore.Migrate(context.Background(), db.Pool), "idempotent")
	return mustNew(t, db.Pool)
}

func TestStore(t *testing.T) {
	t.Parallel()
	privacytest.TestStore(t, func(t *testing.T) privacy.Store { return newStore(t) })
}

// TestStoreInTx runs the suite on stores bound to a transaction that commits
// when each subtest ends (the commit fails the test if any operation left
// the transaction aborted). The subtests that race goroutines on one store
// run pool-bound: a transaction is one connection, one statement at a time,
// and cannot stage a race between two sessions.
func TestStoreInTx(t *testing.T) {
	t.Parallel()
	privacytest.TestStore(t, func(t *testing.T) privacy.Store {
		db := pgtest.New(t)
		require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
		return mustNew(t, db.Pool).WithTx(pgtest.Tx(t, db.Pool))
	}, privacytest.WithConcurrentStore(func(t *testing.T) privacy.Store { return newStore(t) }))
}

// mustNew is pgstore.New for a test that expects its options to be valid.
func mustNew(t testing.TB, pool *pgxpool.Pool, opts ...pgstore.Option) pgstore.Store {
	t.Helper()
	s, err := pgstore.New(pool, opts...)
	require.NoError(t, err)
	return s
}

// New refuses what it cannot serve safely, naming it, with an error that
// matches privacy.ErrInvalidConfig: a store asked to record through an
// outbox without a recorder, or to run cross-organisation operations on no
// pool, is never built (it used to be, and failed at every write).
func TestNewRefusesInvalidConfig(t *testing.T) {
	t.Parallel()
	// pgxpool.New connects lazily: the checks run without a database.
	pool := pgtest.IdlePool(t)
	for name, tc := range map[string]struct {
		pool *pgxpool.Pool
		opts []pgstore.Option
		want string
	}{
		"nil pool":                 {nil, nil, "nil pool"},
		"nil option":               {pool, []pgstore.Option{pgstore.WithTenantBinding(), nil}, "option 1 is nil"},
		"WithAuditOutbox(nil)":     {pool, []pgstore.Option{pgstore.WithAuditOutbox(nil)}, "WithAuditOutbox: nil recorder"},
		"WithMaintenancePool(nil)": {pool, []pgstore.Option{pgstore.WithTenantBinding(), pgstore.WithMaintenancePool(nil)}, "WithMaintenancePool: nil pool"},
		"WithMaintenancePool without WithTenantBinding": {pool, []pgstore.Option{pgstore.WithMaintenancePool(pool)}, "only used with WithTenantBinding"},
		// The first invalid option, in argument order.
		"invalid, then nil":   {pool, []pgstore.Option{pgstore.WithAuditOutbox(nil), nil}, "WithAuditOutbox: nil recorder"},
		"invalid, then valid": {pool, []pgstore.Option{pgstore.WithTenantBinding(), pgstore.WithMaintenancePool(nil), pgstore.WithMaintenancePool(pool)}, "WithMaintenancePool: nil pool"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := pgstore.New(tc.pool, tc.opts...)
			require.ErrorIs(t, err, privacy.ErrInvalidConfig)
			require.ErrorContains(t, err, tc.want)
			require.Nil(t, s)
		})
	}
	_, err := pgstore.New(pool, pgstore.WithTenantBinding(), pgstore.WithMaintenancePool(pool))
	require.NoError(t, err)
}
