package pgstore_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func hash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func txPool(t *testing.T) (*pgxpool.Pool, pgstore.Store) {
	t.Helper()
	pool := pgtest.Pool(t)
	require.NoError(t, pgstore.Migrate(context.Background(), pool))
	return pool, mustNew(t, pool)
}

func sessionRec(id string) authn.SessionRecord {
	return authn.SessionRecord{ID: id, TokenHash: hash(id), Org: "org", UserID: "u", Method: "password",
		CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}
}

// TestWithTxCommitsWithTheCaller: a write through a bound store is the
// caller's: rolled back, it never happened; committed, it is there. Each
// case writes through the store and checks the outcome on the pool.
func TestWithTxCommitsWithTheCaller(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name  string
		setup func(t *testing.T, s pgstore.Store)
		write func(t *testing.T, s pgstore.Store)
		// persisted reports, on the pool, whether the write is visible.
		persisted func(t *testing.T, s pgstore.Store) bool
	}{
		{
			name:  "CreateSession",
			write: func(t *testing.T, s pgstore.Store) { require.NoError(t, s.CreateSession(ctx, sessionRec("s1"))) },
			persisted: func(t *testing.T, s pgstore.Store) bool {
				_, err := s.SessionByTokenHash(ctx, hash("s1"))
				return err == nil
			},
		},
		{
			name:  "DeleteUserSessions",
			setup: func(t *testing.T, s pgstore.Store) { require.NoError(t, s.CreateSession(ctx, sessionRec("s1"))) },
			write: func(t *testing.T, s pgstore.Store) {
				n, err := s.DeleteUserSessions(ctx, "org", "u", "")
				require.NoError(t, err)
				require.Equal(t, 1, n)
			},
			persisted: func(t *testing.T, s pgstore.Store) bool {
				_, err := s.SessionByTokenHash(ctx, hash("s1"))
				return err != nil
			},
		},
		{
			name: "RevokeAPIKey",
			setup: func(t *testing.T, s pgstore.Store) {
				require.NoError(t, s.CreateAPIKey(ctx, authn.APIKeyRecord{ID: "k1", Prefix: "p", Org: "org", Owner: "u",
					HashAlg: authn.APIKeyHashHMAC, Hash: hash("k1"), CreatedAt: t0}))
			},
			write: func(t *testing.T, s pgstore.Store) { require.NoError(t, s.RevokeAPIKey(ctx, "org", "k1", t0)) },
			persisted: func(t *testing.T, s pgstore.Store) bool {
				k, err := s.APIKeyByID(ctx, "k1")
				require.NoError(t, err)
				return !k.RevokedAt.IsZero()
			},
		},
		{
			name: "InsertMagicLink (savepoint)",
			write: func(t *testing.T, s pgstore.Store) {
				require.NoError(t, s.InsertMagicLink(ctx, authn.MagicLinkRecord{TokenHash: hash("m1"), Org: "org",
					Email: "a@example.com", Purpose: "login", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, 3, t0.Add(-time.Hour)))
			},
			persisted: func(t *testing.T, s pgstore.Store) bool {
				_, err := s.ConsumeMagicLink(ctx, hash("m1"), t0)
				return err == nil
			},
		},
		{
			name: "TakeThrottle (savepoint)",
			write: func(t *testing.T, s pgstore.Store) {
				res, err := s.TakeThrottle(ctx, []authn.ThrottleRule{{Key: "k", Limit: 5, Window: time.Hour}}, t0)
				require.NoError(t, err)
				require.Zero(t, res.RetryAfter)
			},
			persisted: func(t *testing.T, s pgstore.Store) bool {
				b, err := s.ThrottleBuckets(ctx, []string{"k"}, t0)
				require.NoError(t, err)
				return len(b) == 1 && b[0].Count == 1
			},
		},
		{
			name: "SetOrgPolicy",
			write: func(t *testing.T, s pgstore.Store) {
				require.NoError(t, s.SetOrgPolicy(ctx, "org", authn.OrgPolicy{PasswordLoginDisabled: true}))
			},
			persisted: func(t *testing.T, s pgstore.Store) bool {
				p, err := s.OrgPolicy(ctx, "org")
				require.NoError(t, err)
				return p.PasswordLoginDisabled
			},
		},
	}
	for _, tc := range cases {
		pgtest.CommitsWithTheCaller(t, tc.name, txPool, pgstore.Store.WithTx, tc.setup, tc.write, tc.persisted)
	}
}

// TestWithTxRefusalLeavesTxUsable: an operation refused or failed inside
// the caller's transaction (a rate limit or a full throttle in a savepoint,
// a duplicate insert) leaves that transaction usable, and the caller's own
// write before it commits.
func TestWithTxRefusalLeavesTxUsable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	link := func(h string) authn.MagicLinkRecord {
		return authn.MagicLinkRecord{TokenHash: hash(h), Org: "org", Email: "a@example.com", Purpose: "login",
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	}
	cases := []struct {
		name string
		prep func(t *testing.T, s pgstore.Store)
		fail func(s pgstore.Store) error
		want error
	}{
		{"magic link rate limit", func(t *testing.T, s pgstore.Store) {
			require.NoError(t, s.InsertMagicLink(ctx, link("m1"), 1, t0.Add(-time.Hour)))
		},
			func(s pgstore.Store) error { return s.InsertMagicLink(ctx, link("m2"), 1, t0.Add(-time.Hour)) }, authn.ErrRateLimited},
		{"magic link duplicate in savepoint", func(t *testing.T, s pgstore.Store) {
			require.NoError(t, s.InsertMagicLink(ctx, link("m1"), 5, t0.Add(-time.Hour)))
		},
			func(s pgstore.Store) error { return s.InsertMagicLink(ctx, link("m1"), 5, t0.Add(-time.Hour)) }, authn.ErrConflict},
		{"duplicate session", func(t *testing.T, s pgstore.Store) { require.NoError(t, s.CreateSession(ctx, sessionRec("s1"))) },
			func(s pgstore.Store) error { return s.CreateSession(ctx, sessionRec("s1")) }, authn.ErrConflict},
		{"duplicate api key", func(t *testing.T, s pgstore.Store) {
			require.NoError(t, s.CreateAPIKey(ctx, authn.APIKeyRecord{ID: "k1", Prefix: "p", Org: "org", HashAlg: authn.APIKeyHashHMAC, Hash: hash("k1"), CreatedAt: t0}))
		}, func(s pgstore.Store) error {
			return s.CreateAPIKey(ctx, authn.APIKeyRecord{ID: "k1", Prefix: "p", Org: "org", HashAlg: authn.APIKeyHashHMAC, Hash: hash("k1"), CreatedAt: t0})
		}, authn.ErrConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool, s := txPool(t)
			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			t.Cleanup(func() { _ = tx.Rollback(context.Background()) }) // a failed test must not leave it holding locks
			bound := s.WithTx(tx)
			tc.prep(t, bound)
			require.ErrorIs(t, tc.fail(bound), tc.want)
			// The transaction goes on: the store and the caller's own SQL.
			require.NoError(t, bound.CreateSession(ctx, sessionRec("after")))
			_, err = tx.Exec(ctx, `CREATE TABLE host_rows (id int)`)
			require.NoError(t, err)
			require.NoError(t, tx.Commit(ctx))
			_, err = s.SessionByTokenHash(ctx, hash("after"))
			require.NoError(t, err)
		})
	}

	t.Run("full throttle", func(t *testing.T) {
		t.Parallel()
		pool, s := txPool(t)
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { _ = tx.Rollback(context.Background()) }) // a failed test must not leave it holding locks
		bound := s.WithTx(tx)
		rules := []authn.ThrottleRule{{Key: "k", Limit: 1, Window: time.Hour}}
		res, err := bound.TakeThrottle(ctx, rules, t0)
		require.NoError(t, err)
		require.Zero(t, res.RetryAfter)
		res, err = bound.TakeThrottle(ctx, rules, t0)
		require.NoError(t, err)
		require.Positive(t, res.RetryAfter, "refused")
		require.NoError(t, bound.CreateSession(ctx, sessionRec("after")))
		require.NoError(t, tx.Commit(ctx))
		b, err := s.ThrottleBuckets(ctx, []string{"k"}, t0)
		require.NoError(t, err)
		require.Equal(t, 1, b[0].Count, "the admitted attempt committed, the refused one did not count")
	})
}

// TestWithTxReadsItsOwnWrites: lookups on a bound store run on its
// transaction, not through the pool's coalesced queries, so they see what
// the transaction wrote; the pool-bound store does not until it commits.
func TestWithTxReadsItsOwnWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s := txPool(t)
	tx := pgtest.Tx(t, pool)
	bound := s.WithTx(tx)
	require.NoError(t, bound.CreateSession(ctx, sessionRec("s1")))
	require.NoError(t, bound.CreateAPIKey(ctx, authn.APIKeyRecord{ID: "k1", Prefix: "p", Org: "org", HashAlg: authn.APIKeyHashHMAC, Hash: hash("k1"), CreatedAt: t0}))
	_, err := bound.SessionByTokenHash(ctx, hash("s1"))
	require.NoError(t, err)
	_, err = bound.APIKeyByID(ctx, "k1")
	require.NoError(t, err)
	_, err = s.SessionByTokenHash(ctx, hash("s1"))
	require.ErrorIs(t, err, authn.ErrNotFound)
	_, err = s.APIKeyByID(ctx, "k1")
	require.ErrorIs(t, err, authn.ErrNotFound)
	_, err = bound.APIKeyByID(ctx, "nope")
	require.ErrorIs(t, err, authn.ErrNotFound)
}

// TestWithTxFinished: a store bound to a transaction that has ended, or to
// none, answers every kind of operation (a statement, a query, a row, a
// lookup, a savepoint, a batch) with an error matching pgx.ErrTxClosed,
// never a panic.
func TestWithTxFinished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s := txPool(t)
	committed, err := pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, committed.Commit(ctx))
	rolledBack, err := pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, rolledBack.Rollback(ctx))
	ops := map[string]func(s pgstore.Store) error{
		"exec": func(s pgstore.Store) error { return s.CreateSession(ctx, sessionRec("s1")) },
		"query": func(s pgstore.Store) error {
			_, err := s.ListSessions(ctx, "org", "u", authn.ListPage{Limit: 1})
			return err
		},
		"query row": func(s pgstore.Store) error { _, err := s.SessionByID(ctx, "s1"); return err },
		"lookup":    func(s pgstore.Store) error { _, err := s.SessionByTokenHash(ctx, hash("s1")); return err },
		"key":       func(s pgstore.Store) error { _, err := s.APIKeyByID(ctx, "k1"); return err },
		"savepoint": func(s pgstore.Store) error {
			return s.InsertMagicLink(ctx, authn.MagicLinkRecord{TokenHash: hash("m"), Email: "e"}, 1, t0)
		},
		"batch in savepoint": func(s pgstore.Store) error {
			_, err := s.TakeThrottle(ctx, []authn.ThrottleRule{{Key: "k", Limit: 1, Window: time.Hour}}, t0)
			return err
		},
	}
	for txName, tx := range map[string]pgx.Tx{"committed": committed, "rolled back": rolledBack, "nil": nil} {
		for name, op := range ops {
			t.Run(txName+"/"+name, func(t *testing.T) {
				var err error
				require.NotPanics(t, func() { err = op(s.WithTx(tx)) })
				require.ErrorIs(t, err, pgx.ErrTxClosed)
				require.Contains(t, err.Error(), "authn/pgstore: ")
			})
		}
	}
}
