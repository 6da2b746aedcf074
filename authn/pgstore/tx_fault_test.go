package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgfault"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// TestFaultRevokeInHostTx kills the backend at every statement of a host
// transaction that disables a user and revokes their sessions and API key
// through a bound store: no panic; a failed run failed with the lost
// connection; and the user is disabled if and only if the credentials are
// revoked.
func TestFaultRevokeInHostTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	_, err := db.Pool.Exec(ctx, `CREATE TABLE users (id text PRIMARY KEY, disabled bool NOT NULL)`)
	require.NoError(t, err)
	fp := pgfault.New(t, db.URL, 2)
	store := mustNew(t, fp.Pool)
	clean := mustNew(t, db.Pool)

	run := 0
	points := fp.EachPoint(t, 30, func(ctx context.Context) error {
		run++
		u := fmt.Sprint("user", run)
		if _, err := db.Pool.Exec(ctx, `INSERT INTO users VALUES ($1, false)`, u); err != nil {
			return err
		}
		for i := range 2 {
			r := sessionRec(fmt.Sprint(u, "-s", i))
			r.UserID = u
			if err := clean.CreateSession(ctx, r); err != nil {
				return err
			}
		}
		if err := clean.CreateAPIKey(ctx, authn.APIKeyRecord{ID: u + "-k", Prefix: "p", Org: "org", Owner: u,
			HashAlg: authn.APIKeyHashHMAC, Hash: hash(u + "-k"), CreatedAt: t0}); err != nil {
			return err
		}
		return pgx.BeginFunc(ctx, fp.Pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE users SET disabled = true WHERE id = $1`, u); err != nil {
				return err
			}
			bound := store.WithTx(tx)
			if err := bound.RevokeAPIKey(ctx, "org", u+"-k", t0); err != nil {
				return err
			}
			sessions, err := authn.NewSessions(bound)
			if err != nil {
				return err
			}
			_, err = sessions.RevokeAll(ctx, "org", u)
			return err
		})
	}, func(o pgfault.Outcome) {
		u := fmt.Sprint("user", run)
		if o.Err != nil {
			require.True(t, o.Killed, "an error without a kill: %v", o.Err)
			require.True(t, pgfault.ConnectionLost(o.Err), "point %d: %v", o.Point, o.Err)
		}
		var disabled bool
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT disabled FROM users WHERE id = $1`, u).Scan(&disabled))
		live, err := clean.ListSessions(ctx, "org", u, authn.ListPage{Limit: 100})
		require.NoError(t, err)
		key, err := clean.APIKeyByID(ctx, u+"-k")
		require.NoError(t, err)
		if disabled {
			require.Empty(t, live, "point %d: disabled with live sessions", o.Point)
			require.False(t, key.RevokedAt.IsZero(), "point %d: disabled with a live key", o.Point)
		} else {
			require.Len(t, live, 2, "point %d: sessions revoked but the user is active", o.Point)
			require.True(t, key.RevokedAt.IsZero(), "point %d: key revoked but the user is active", o.Point)
		}
		if o.Err == nil {
			require.True(t, disabled, "point %d: acknowledged", o.Point)
		}
		require.False(t, errors.Is(o.Err, authn.ErrNotFound), "point %d: a lost connection is not 'not found'", o.Point)
	})
	require.GreaterOrEqual(t, points, 5, "begin, the host's update, two revocations, commit")
}
