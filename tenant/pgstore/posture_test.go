package pgstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/tenant/pgstore"
)

// failedChecks returns "table: check" for every failed finding, and the
// statements that fix them.
func failedChecks(t *testing.T, fs []pgstore.Finding) (checks []string, fixes string) {
	t.Helper()
	for _, f := range pgstore.Failed(fs) {
		require.NotEmpty(t, f.Fix, "every failure says how to fix it: %+v", f)
		checks = append(checks, f.Table+": "+f.Check)
		fixes += f.Fix + "\n"
	}
	return checks, fixes
}

// TestCheckFindsAndFixes: Check names each weakness with the statement that
// repairs it, and passes once those statements ran.
func TestCheckFindsAndFixes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, 1)
	schema := e.db.Schema

	fs, err := pgstore.Check(ctx, e.db.Pool, "org", e.role)
	require.NoError(t, err)
	checks, _ := failedChecks(t, fs)
	require.Equal(t, []string{schema + ".regions: row-level security is enabled",
		schema + ".regions: row-level security is forced on the owner too",
		schema + ".regions: policy rampart_tenant compares org with rampart.org"}, checks,
		"invoices is protected; regions has the column and no policy")
	for _, f := range fs {
		if f.OK {
			require.Empty(t, f.Fix)
		}
	}

	// Drift: FORCE dropped, a permissive policy that widens access, the app
	// role made owner of the table and given BYPASSRLS.
	_, err = e.db.Pool.Exec(ctx, fmt.Sprintf(`
		ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY;
		CREATE POLICY everyone ON invoices USING (true);
		ALTER TABLE invoices OWNER TO %[1]s;
		ALTER ROLE %[1]s BYPASSRLS`, e.role))
	require.NoError(t, err)
	fs, err = pgstore.Check(ctx, e.app, "org", "") // as the app role itself
	require.NoError(t, err)
	checks, fixes := failedChecks(t, fs)
	require.Contains(t, checks, ": application role "+e.role+" does not bypass row-level security")
	require.Contains(t, checks, schema+".invoices: row-level security is forced on the owner too")
	require.Contains(t, checks, schema+".invoices: no other permissive policy widens access")
	require.Contains(t, checks, schema+".invoices: application role "+e.role+" does not own the table (an owner can disable its policy)")
	require.Contains(t, fixes, "ALTER ROLE "+`"`+e.role+`"`+" NOBYPASSRLS;")
	require.Contains(t, fixes, `DROP POLICY "everyone" ON "`+schema+`"."invoices";`)

	// Run every fix (the owner one names its own target role).
	fixes = strings.ReplaceAll(fixes, "<a role the application does not log in as>", "postgres")
	_, err = e.db.Pool.Exec(ctx, fixes)
	require.NoError(t, err)
	fs, err = pgstore.Check(ctx, e.db.Pool, "org", e.role)
	require.NoError(t, err)
	require.Empty(t, pgstore.Failed(fs))
	require.Len(t, fs, 2+2*5, "two role checks, five per table")

	// A superuser application role is reported.
	fs, err = pgstore.Check(ctx, e.db.Pool, "org", "postgres")
	require.NoError(t, err)
	checks, _ = failedChecks(t, fs)
	require.Contains(t, checks, ": application role postgres is not a superuser")

	_, err = pgstore.Check(ctx, e.db.Pool, "org", "no_such_role_here")
	require.ErrorContains(t, err, `role "no_such_role_here" does not exist`)
}
