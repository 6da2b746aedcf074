package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgfault"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/pgstore"
)

// TestFaultDeletionInHostTx kills the backend at every statement of a host
// transaction that deactivates an account and requests its deletion
// through a bound store: no panic; a failed run failed with the lost
// connection; and the account's deactivation and the deletion request are
// always both stored or both absent, never one without the other.
func TestFaultDeletionInHostTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	_, err := db.Pool.Exec(ctx, `CREATE TABLE accounts (id text PRIMARY KEY, active bool NOT NULL)`)
	require.NoError(t, err)
	fp := pgfault.New(t, db.URL, 2)
	store := mustNew(t, fp.Pool)
	clean := newServices(t, mustNew(t, db.Pool), privacy.WithClock(func() time.Time { return t0 }))

	run := 0
	points := fp.EachPoint(t, 30, func(ctx context.Context) error {
		run++
		id := fmt.Sprint("user", run)
		if _, err := db.Pool.Exec(ctx, `INSERT INTO accounts VALUES ($1, true)`, id); err != nil {
			return err
		}
		return pgx.BeginFunc(ctx, fp.Pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE accounts SET active = false WHERE id = $1`, id); err != nil {
				return err
			}
			m := newServices(t, store.WithTx(tx), privacy.WithClock(func() time.Time { return t0 }))
			_, err := m.RequestDeletion(ctx, privacy.Ref{Org: "o", ID: id}, "user:"+id, "closed")
			return err
		})
	}, func(o pgfault.Outcome) {
		id := fmt.Sprint("user", run)
		if o.Err != nil {
			require.True(t, o.Killed, "an error without a kill: %v", o.Err)
			require.True(t, pgfault.ConnectionLost(o.Err), "point %d: %v", o.Point, o.Err)
		}
		var active bool
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT active FROM accounts WHERE id = $1`, id).Scan(&active))
		sub, err := clean.Status(ctx, privacy.Ref{Org: "o", ID: id})
		require.NoError(t, err)
		requested := sub.State == privacy.StateDeletionRequested
		require.Equal(t, !active, requested, "point %d: deactivated=%v but deletion requested=%v", o.Point, !active, requested)
		if o.Err == nil {
			require.True(t, requested, "point %d: acknowledged", o.Point)
		}
	})
	// begin, the host's update, the savepoint, the subject's row lock, its
	// insert, the event, the release and the commit, at least.
	require.GreaterOrEqual(t, points, 8)
	t.Logf("%d kill points", points)
}
