package pgstore_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/pgstore"
)

// TestWithTxCommitsWithTheCaller: a subject key created or destroyed
// through a bound store is the caller's: rolled back, it never happened;
// committed, it is there. Crypto-shredding commits with the account's
// deletion, or not at all.
func TestWithTxCommitsWithTheCaller(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name      string
		setup     func(t *testing.T, s pgstore.Store)
		write     func(t *testing.T, s pgstore.Store)
		persisted func(t *testing.T, s pgstore.Store) bool
	}{
		{"create", nil, func(t *testing.T, s pgstore.Store) {
			got, err := s.Create(ctx, "sub", []byte("wrapped"))
			require.NoError(t, err)
			require.Equal(t, "wrapped", string(got), "the bound store reads its own write")
		}, func(t *testing.T, s pgstore.Store) bool {
			_, err := s.Get(ctx, "sub")
			if err != nil {
				require.ErrorIs(t, err, keyring.ErrSubjectNotFound)
			}
			return err == nil
		}},
		{"destroy", func(t *testing.T, s pgstore.Store) {
			_, err := s.Create(ctx, "sub", []byte("wrapped"))
			require.NoError(t, err)
		}, func(t *testing.T, s pgstore.Store) {
			require.NoError(t, s.Destroy(ctx, "sub"))
		}, func(t *testing.T, s pgstore.Store) bool {
			_, err := s.Get(ctx, "sub")
			if err != nil {
				require.ErrorIs(t, err, keyring.ErrKeyDestroyed)
			}
			return err != nil
		}},
		{"checkpoint", nil, func(t *testing.T, s pgstore.Store) {
			require.NoError(t, s.SaveCheckpoint(ctx, "users", "email", "42"))
		}, func(t *testing.T, s pgstore.Store) bool {
			c, err := s.LoadCheckpoint(ctx, "users", "email")
			require.NoError(t, err)
			return c != keyring.Cursor{}
		}},
	}
	for _, tc := range cases {
		pgtest.CommitsWithTheCaller(t, tc.name, func(t *testing.T) (*pgxpool.Pool, pgstore.Store) {
			pool := migrated(t)
			return pool, pgstore.New(pool)
		}, pgstore.Store.WithTx, tc.setup, tc.write, tc.persisted)
	}
}

// TestWithTxRefusalLeavesTxUsable: a refusal inside the caller's
// transaction (a destroyed subject asked for a new key, an unknown subject)
// leaves it usable.
func TestWithTxRefusalLeavesTxUsable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := migrated(t)
	s := pgstore.New(pool)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) }) // a failed test must not leave it holding locks
	bound := s.WithTx(tx)
	require.NoError(t, bound.Destroy(ctx, "gone"))
	_, err = bound.Create(ctx, "gone", []byte("again"))
	require.ErrorIs(t, err, keyring.ErrKeyDestroyed)
	_, err = bound.Get(ctx, "unknown")
	require.ErrorIs(t, err, keyring.ErrSubjectNotFound)
	_, err = bound.Create(ctx, "sub", []byte("wrapped"))
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	got, err := s.Get(ctx, "sub")
	require.NoError(t, err)
	require.Equal(t, "wrapped", string(got))
}

// TestWithTxFinished: a store bound to a transaction that has ended, or to
// none, answers with an error matching pgx.ErrTxClosed, never a panic, and
// never one that reads as a refusal (a destroyed or unknown subject).
func TestWithTxFinished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := migrated(t)
	s := pgstore.New(pool)
	committed, err := pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, committed.Commit(ctx))
	ops := map[string]func(s pgstore.Store) error{
		"create":     func(s pgstore.Store) error { _, err := s.Create(ctx, "sub", []byte("w")); return err },
		"get":        func(s pgstore.Store) error { _, err := s.Get(ctx, "sub"); return err },
		"destroy":    func(s pgstore.Store) error { return s.Destroy(ctx, "sub") },
		"checkpoint": func(s pgstore.Store) error { _, err := s.LoadCheckpoint(ctx, "t", "c"); return err },
		"kcv":        func(s pgstore.Store) error { _, err := pgstore.KeyCheckValues(ctx, s); return err },
	}
	for txName, tx := range map[string]pgx.Tx{"committed": committed, "nil": nil} {
		for name, op := range ops {
			t.Run(txName+"/"+name, func(t *testing.T) {
				var err error
				require.NotPanics(t, func() { err = op(s.WithTx(tx)) })
				require.ErrorIs(t, err, pgx.ErrTxClosed)
				require.NotErrorIs(t, err, keyring.ErrKeyDestroyed)
				require.NotErrorIs(t, err, keyring.ErrSubjectNotFound)
				require.Contains(t, err.Error(), "keyring/pgstore: ")
			})
		}
	}
}
