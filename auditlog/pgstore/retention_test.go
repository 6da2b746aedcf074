package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
	"github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// loginRole creates a login role with a random name and returns it with a
// pool connected as it; opts (given the role) are applied by a Migrate run
// as the schema owner.
func loginRole(t *testing.T, db *pgtest.DB, prefix string, opt func(role string) pgstore.MigrateOption) (string, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	role := prefix + hex.EncodeToString(b[:])
	_, err := db.Pool.Exec(ctx, "CREATE ROLE "+role+" LOGIN")
	require.NoError(t, err)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool, opt(role)))
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	cfg.ConnConfig.User = role
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		pool.Close()
		_, _ = db.Pool.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = db.Pool.Exec(context.Background(), "DROP ROLE "+role)
	})
	return role, pool
}

// newLogAt returns a Log over s whose clock starts at t (real time, since
// the database compares cutoffs with its own now()).
func newLogAt(t *testing.T, s auditlog.Store, at time.Time) *auditlog.Log {
	t.Helper()
	c := auditlogtest.NewClock(at)
	l, err := auditlog.New(s, auditlog.WithClock(c.Now))
	require.NoError(t, err)
	require.NoError(t, l.Register(auditlogtest.Actions...))
	return l
}

const day = 24 * time.Hour

// The application role cannot lift holds or prune at all; the maintenance
// role can, outside the retention stored in the database only, and each
// change it makes is in the chain it affected, which still verifies.
func TestRetentionBelongsToTheMaintenanceRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool, pgstore.WithRetention(30*day)))
	appName, appPool := loginRole(t, db, "rampart_audit_app_", pgstore.WithAppRole)
	maintName, maintPool := loginRole(t, db, "rampart_audit_maint_", pgstore.WithMaintenanceRole)
	app, maint := pgstore.New(appPool), pgstore.New(maintPool)

	// The application writes entries (100 days ago) and places holds.
	appLog := newLogAt(t, app, time.Now().Add(-100*day))
	for i := range 6 {
		require.NoError(t, appLog.Record(ctx, "acme", fmt.Sprintf("user:u%d", i%3), "test.created", fmt.Sprintf("doc:%d", i), map[string]any{"i": i}))
	}
	require.NoError(t, appLog.PlaceHold(ctx, "user:legal", auditlog.Hold{ID: "h1", Kind: auditlog.HoldActor, Value: "user:u1", Reason: "litigation", Owner: "legal@example.com"}))
	require.NoError(t, appLog.PlaceHold(ctx, "user:legal", auditlog.Hold{ID: "h2", Kind: auditlog.HoldOrg, Value: "globex", Reason: "audit", Owner: "legal@example.com"}))

	// The application role: permission denied, however it asks.
	appNow := newLogAt(t, app, time.Now())
	_, err := appNow.Prune(ctx, "org:acme", 60*day)
	require.ErrorContains(t, err, "SQLSTATE 42501")
	require.ErrorContains(t, appNow.LiftHold(ctx, "user:evil", "h1", "no reason"), "SQLSTATE 42501")
	_, err = app.PrunePayloads(ctx, "org:acme", time.Now())
	require.ErrorContains(t, err, "SQLSTATE 42501")
	require.ErrorContains(t, app.LiftHold(ctx, "h1", time.Now()), "SQLSTATE 42501")
	for _, q := range []string{`SELECT auditlog_prune_payloads('org:acme', now())`, `SELECT auditlog_lift_hold('h1', now())`} {
		_, err := appPool.Exec(ctx, q)
		require.ErrorContains(t, err, "SQLSTATE 42501", q)
	}
	for _, q := range []string{`UPDATE auditlog_retention SET min_age = '0'`, `INSERT INTO auditlog_maintenance (action, chain, target, affected) VALUES ('x', 'y', 'z', 0)`} {
		_, err := appPool.Exec(ctx, q)
		require.ErrorContains(t, err, "SQLSTATE 42501", q)
	}
	rep, err := pgstore.Posture(ctx, db.Pool, appName)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Failed())

	maintLog := newLogAt(t, maint, time.Now())
	// Inside the retention: refused, whatever the role.
	for _, keep := range []time.Duration{time.Hour, 29 * day} {
		_, err := maintLog.Prune(ctx, "org:acme", keep)
		require.ErrorIs(t, err, auditlog.ErrInsideRetention, "%s", keep)
	}
	// Called alone, without the entry recording it: refused at commit, nothing pruned.
	_, err = maint.PrunePayloads(ctx, "org:acme", time.Now().Add(-60*day))
	require.ErrorIs(t, err, auditlog.ErrNotRecorded)
	require.ErrorIs(t, maint.LiftHold(ctx, "h1", time.Now()), auditlog.ErrNotRecorded)
	// A record that misstates what was done: refused at commit.
	_, err = maint.PruneRecorded(ctx, "org:acme", time.UnixMicro(time.Now().Add(-60*day).UnixMicro()), func(n int64) (auditlog.Entry, error) {
		p := []byte(fmt.Sprintf(`{"before":"2000-01-01T00:00:00.000000Z","chain":"org:acme","pruned":%d}`, n))
		return auditlog.Entry{Chain: "org:acme", Org: "acme", Actor: "system:x", Action: auditlog.ActionPruned, SchemaVersion: 1,
			Target: "chain:org:acme", Time: time.Now().UTC().Truncate(time.Microsecond), Payload: p, PayloadDigest: auditlog.PayloadDigest(p)}, nil
	})
	require.ErrorIs(t, err, auditlog.ErrNotRecorded)
	for _, e := range auditlogtest.Entries(t, maint, "org:acme") {
		require.NotNil(t, e.Payload, "entry %d: nothing was pruned by a refused call", e.Seq)
	}
	holds, err := maint.Holds(ctx)
	require.NoError(t, err)
	require.Len(t, holds, 2, "nothing was lifted by a refused call")

	// Outside the retention: pruned, and recorded in the chain.
	n, err := maintLog.Prune(ctx, "org:acme", 60*day)
	require.NoError(t, err)
	require.EqualValues(t, 4, n, "the entries of user:u1 are held")
	require.NoError(t, maintLog.LiftHold(ctx, "user:legal", "h1", "case closed"))
	require.NoError(t, maintLog.LiftHold(ctx, "user:legal", "h2", "audit done"))
	n, err = maintLog.Prune(ctx, "org:acme", 60*day)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)

	// The application's Log keeps appending on the chain the maintenance
	// role extended behind its back.
	require.NoError(t, appLog.Record(ctx, "acme", "user:u0", "test.created", "doc:9", nil))

	last := func(chain string, k int) []string {
		es := auditlogtest.Entries(t, maint, chain)
		var out []string
		for _, e := range es[len(es)-k:] {
			out = append(out, e.Action+" "+e.Target+" "+string(e.Payload))
		}
		return out
	}
	acme := last("org:acme", 3)
	require.Regexp(t, `^auditlog.retention.pruned chain:org:acme \{"before":"[0-9T:.-]+Z","chain":"org:acme","pruned":4\}$`, acme[0])
	require.Regexp(t, `"pruned":2\}$`, acme[1])
	require.Contains(t, acme[2], "test.created doc:9")
	require.Equal(t, []string{`auditlog.hold.lifted hold:h1 {"id":"h1","reason":"case closed"}`}, last("global", 1))
	require.Equal(t, []string{`auditlog.hold.lifted hold:h2 {"id":"h2","reason":"audit done"}`}, last("org:globex", 1))
	for _, c := range []string{"org:acme", "global", "org:globex"} {
		_, err := auditlog.Verify(ctx, maint, c, auditlog.VerifyOptions{})
		require.NoError(t, err, c)
	}

	// The database's own journal names the role that did each change.
	rows, err := db.Pool.Query(ctx, `SELECT role, action, chain, affected FROM auditlog_maintenance ORDER BY id`)
	require.NoError(t, err)
	journal, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var role, action, chain string
		var affected int64
		err := r.Scan(&role, &action, &chain, &affected)
		return fmt.Sprintf("%s %s %s %d", role, action, chain, affected), err
	})
	require.NoError(t, err)
	require.Equal(t, []string{
		maintName + " auditlog.retention.pruned org:acme 4",
		maintName + " auditlog.hold.lifted global 1",
		maintName + " auditlog.hold.lifted org:globex 1",
		maintName + " auditlog.retention.pruned org:acme 2",
	}, journal)
}

// Until the schema owner stores a retention, nothing may be pruned; an
// application role granted EXECUTE by an earlier version is reported by
// Posture and has it revoked by the next Migrate.
func TestRetentionDefaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, s := newDB(t)
	seed(t, s, 3)
	l := newLogAt(t, s, time.Now())
	_, err := l.Prune(ctx, "org:acme", 1000*day)
	require.ErrorIs(t, err, auditlog.ErrInsideRetention, "no retention configured")
	err = pgstore.Migrate(ctx, db.Pool, pgstore.WithRetention(-time.Hour))
	require.ErrorIs(t, err, auditlog.ErrInvalidConfig)
	require.ErrorContains(t, err, "WithRetention")
	require.ErrorIs(t, pgstore.Migrate(ctx, db.Pool, nil), auditlog.ErrInvalidConfig)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool, pgstore.WithRetention(0)))
	n, err := l.Prune(ctx, "org:acme", time.Hour)
	require.NoError(t, err, "the owner chose no retention floor")
	require.EqualValues(t, 3, n, "seed's entries are from the suite's clock, months ago")

	role, _ := loginRole(t, db, "rampart_audit_app_", pgstore.WithAppRole)
	_, err = db.Pool.Exec(ctx, `GRANT EXECUTE ON FUNCTION auditlog_prune_payloads(text, timestamptz) TO `+pgx.Identifier{role}.Sanitize())
	require.NoError(t, err)
	rep, err := pgstore.Posture(ctx, db.Pool, role)
	require.NoError(t, err)
	require.False(t, rep.OK())
	require.Len(t, rep.Failed(), 1)
	require.Equal(t, `app role "`+role+`" cannot execute auditlog_prune_payloads(text, timestamptz)`, rep.Failed()[0].Name)
	require.Equal(t, "REVOKE EXECUTE ON FUNCTION auditlog_prune_payloads(text, timestamptz) FROM "+pgx.Identifier{role}.Sanitize()+";", rep.Failed()[0].Fix)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool, pgstore.WithAppRole(role)))
	rep, err = pgstore.Posture(ctx, db.Pool, role)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Failed())

	// The trigger that refuses an unrecorded change, disabled by the owner.
	_, err = db.Pool.Exec(ctx, `ALTER TABLE auditlog_maintenance DISABLE TRIGGER auditlog_maintenance_recorded`)
	require.NoError(t, err)
	rep, err = pgstore.Posture(ctx, db.Pool, role)
	require.NoError(t, err)
	require.Len(t, rep.Failed(), 1)
	require.Equal(t, "trigger auditlog_maintenance_recorded on auditlog_maintenance exists and is enabled ALWAYS", rep.Failed()[0].Name)
	require.True(t, rep.Failed()[0].Repairable)

	// Dropped, then repaired from the fix statement.
	_, err = db.Pool.Exec(ctx, `DROP TRIGGER auditlog_maintenance_recorded ON auditlog_maintenance`)
	require.NoError(t, err)
	_, rep, err = pgstore.Repair(ctx, db.Pool, role)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Failed())
}
