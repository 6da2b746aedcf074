package pgstore_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
	"github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/tenant"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

// TestProtectedEntriesPerOrganisation: with the entries protected, the
// writer (a role of its own with BYPASSRLS, granted by WithAppRole) appends
// to the chains of two organisations and verifies them, before and after
// Protect; the application role, bound to organisation A, reads A's
// entries and tree hashes and none of B's, even when it asks for B's chain;
// unbound, it reads none.
func TestProtectedEntriesPerOrganisation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	writerRole, writer := db.Role(t, "rampart_audit_writer", 4, "ALTER ROLE {role} BYPASSRLS")
	require.NoError(t, pgstore.Migrate(ctx, db.Pool, pgstore.WithAppRole(writerRole)))
	appRole, app := db.Role(t, "rampart_audit_app", 2, "GRANT SELECT ON auditlog_entries, auditlog_heads TO {role}")

	ws := pgstore.New(writer)
	l, err := auditlog.New(ws)
	require.NoError(t, err)
	require.NoError(t, l.Register(auditlogtest.Actions...))
	record := func() {
		for _, org := range []string{"orgA", "orgB", "orgB"} {
			require.NoError(t, l.Record(ctx, org, "user:1", "test.created", "x:1", nil))
		}
	}
	record()
	require.NoError(t, pgstore.Protect(ctx, db.Pool, appRole))
	require.NoError(t, pgstore.Protect(ctx, db.Pool, appRole), "idempotent")
	record()
	for chain, size := range map[string]uint64{auditlog.ChainFor("orgA"): 2, auditlog.ChainFor("orgB"): 4} {
		res, err := auditlog.Verify(ctx, ws, chain, auditlog.VerifyOptions{})
		require.NoError(t, err, chain)
		require.Equal(t, size, res.Checked, chain)
	}

	seen := func(chain string) (n int) {
		require.NoError(t, tenantpg.Run(tenant.With(ctx, "orgA"), app, func(ctx context.Context, tx pgx.Tx) error {
			return ws.WithTx(tx).Scan(ctx, chain, 0, func(e *auditlog.Entry) error {
				require.Equal(t, "orgA", e.Org)
				n++
				return nil
			})
		}))
		return n
	}
	require.Equal(t, 2, seen(auditlog.ChainFor("orgA")))
	require.Zero(t, seen(auditlog.ChainFor("orgB")), "B's chain, asked for by name")
	require.NoError(t, tenantpg.Run(tenant.With(ctx, "orgA"), app, func(ctx context.Context, tx pgx.Tx) error {
		var orgs []string
		rows, err := tx.Query(ctx, `SELECT DISTINCT org FROM auditlog_entries`)
		require.NoError(t, err)
		orgs, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.Equal(t, []string{"orgA"}, orgs, "no WHERE: only A's rows and tree hashes")
		return err
	}))
	var n int
	require.NoError(t, app.QueryRow(ctx, `SELECT count(*) FROM auditlog_entries`).Scan(&n))
	require.Zero(t, n, "unbound: fails closed")

	// A writer that does not bypass row security sees no previous entry:
	// its append is refused, it never forks the chain.
	require.NoError(t, pgstore.Migrate(ctx, db.Pool, pgstore.WithAppRole(appRole)))
	bad, err := auditlog.New(pgstore.New(app))
	require.NoError(t, err)
	require.NoError(t, bad.Register(auditlogtest.Actions...))
	require.Error(t, bad.Record(ctx, "orgA", "user:1", "test.created", "x:2", nil))
	res, err := auditlog.Verify(ctx, ws, auditlog.ChainFor("orgA"), auditlog.VerifyOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(2), res.Checked, "the chain is as the real writer left it")

	fs, err := tenantpg.Check(ctx, db.Pool, "org", appRole)
	require.NoError(t, err)
	for _, f := range tenantpg.Failed(fs) {
		require.NotContains(t, f.Table, "auditlog_entries", "%+v", f)
	}
}
