package pgstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/pgstore"
	"github.com/rampart-sdk/rampart/privacy/privacytest"
)

func newStore(t *testing.T) *pgstore.Store {
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
	require.NoError(t, pgstore.Migrate(context.Background(), db.Pool), "idempotent")
	return pgstore.New(db.Pool)
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
		return pgstore.New(db.Pool).WithTx(pgtest.Tx(t, db.Pool))
	}, privacytest.WithConcurrentStore(func(t *testing.T) privacy.Store { return newStore(t) }))
}
