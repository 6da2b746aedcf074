package pgstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgfault"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/pgstore"
)

// TestFaultSweep kills the backend at every statement of a privacy sweep
// (claiming, erasing in each domain, recording progress, releasing): no
// panic; a sweep either succeeds or fails with an error that says the
// connection was lost; and after the next sweep every subject is erased in
// every domain, with exactly one erasure in its history.
func TestFaultSweep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	_, err := db.Pool.Exec(ctx, `
		CREATE TABLE users (org text, id text, email bytea, name text, city text);
		CREATE TABLE invoices (org text, subject text, number text, amount int, name text, address text);`)
	require.NoError(t, err)
	fp := pgfault.New(t, db.URL, 2)

	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	manager := func(pool *pgxpool.Pool) *services {
		m := newServices(t, mustNew(t, pool), privacy.WithClock(clock))
		users, err := pgstore.NewTableEraser(pool, pgstore.Table{Name: "users", OrgColumn: "org", SubjectColumn: "id"})
		require.NoError(t, err)
		invoices, err := pgstore.NewTableEraser(pool, pgstore.Table{Name: "invoices", OrgColumn: "org", SubjectColumn: "subject",
			Minimise: privacy.Plan{"name": privacy.SetNull(), "address": privacy.SetNull()}})
		require.NoError(t, err)
		require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: users}))
		require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "invoices", Eraser: invoices, Retention: 7 * 365 * 24 * time.Hour}))
		return m
	}
	clean, faulty := manager(db.Pool), manager(fp.Pool)

	run := 0
	var subjects []string
	fp.EachPoint(t, 100, func(ctx context.Context) error {
		run++
		// Each run erases subjects of its own, so that every run passes
		// the same statements.
		for i := range 2 {
			id := fmt.Sprintf("r%d-%d", run, i)
			subjects = append(subjects, id)
			_, err := db.Pool.Exec(ctx, `INSERT INTO users VALUES ('o1', $1, '\x01', 'N', 'C')`, id)
			require.NoError(t, err)
			_, err = db.Pool.Exec(ctx, `INSERT INTO invoices VALUES ('o1', $1, 'INV', 1, 'N', 'A')`, id)
			require.NoError(t, err)
			_, err = clean.RequestDeletion(ctx, privacy.Ref{Org: "o1", ID: id}, "user:"+id, "")
			require.NoError(t, err)
		}
		advance(31 * 24 * time.Hour)
		_, err := faulty.Sweep(ctx, privacy.SweepOptions{})
		return err
	}, func(o pgfault.Outcome) {
		if o.Err != nil {
			require.True(t, o.Killed, "an error without a kill: %v", o.Err)
			require.True(t, pgfault.ConnectionLost(o.Err), "point %d: %v", o.Point, o.Err)
		}
		// The next sweep, once any lease of the killed one has passed,
		// finishes the work.
		advance(time.Hour)
		_, err := clean.Sweep(ctx, privacy.SweepOptions{})
		require.NoError(t, err, "point %d", o.Point)
	})

	var left int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM invoices WHERE name IS NOT NULL)`).Scan(&left))
	require.Zero(t, left, "every subject erased in every domain")
	for _, id := range subjects {
		hist, err := clean.History(ctx, privacy.Ref{Org: "o1", ID: id})
		require.NoError(t, err)
		erased := 0
		for _, ev := range hist {
			if ev.Action == privacy.ActionErased {
				erased++
			}
		}
		require.Equal(t, 1, erased, "subject %s: one erasure in its history", id)
	}
}
