package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	authnpg "github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

// appRole creates a throwaway role for the application; roles are
// cluster-wide, so its name is random and it is dropped at cleanup.
func appRole(t *testing.T, db *pgtest.DB) string {
	t.Helper()
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	role := "rampart_app_" + hex.EncodeToString(b[:])
	_, err := db.Pool.Exec(ctx, "CREATE ROLE "+role+" NOLOGIN")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = db.Pool.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = db.Pool.Exec(context.Background(), "DROP ROLE "+role)
	})
	return role
}

// healthyDeployment is an audit log with checkpoints, an application role
// granted by migrate, and a key registry whose column exists.
func healthyDeployment(t *testing.T) (db *pgtest.DB, args []string) {
	t.Helper()
	db, dir := auditFixture(t)
	role := appRole(t, db)
	code, _, stderr := runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--app-role", role)
	require.Equal(t, exitOK, code, stderr)
	keys := filepath.Join(dir, "keys.json")
	code, _, stderr = runCLI(t, nil, "keys", "init", "--scope", "users.email", "--column", "users.email=users.email", "--out", keys)
	require.Equal(t, exitOK, code, stderr)
	_, err := db.Pool.Exec(context.Background(), `CREATE TABLE users (id text PRIMARY KEY, email bytea);
		CREATE TABLE invoices (org_id text NOT NULL, id int NOT NULL)`)
	require.NoError(t, err)
	require.NoError(t, tenantpg.Protect(context.Background(), db.Pool, tenantpg.Table{Name: "invoices", Column: "org_id"}))
	return db, []string{"doctor", "--dsn", db.URL, "--app-role", role, "--keys", keys,
		"--checkpoints", filepath.Join(dir, "checkpoints"), "--public-key", filepath.Join(dir, "audit.pub"),
		"--private=false", "--tenant-column", "org_id"}
}

func doctorJSON(t *testing.T, args ...string) (int, map[string]doctorCheck) {
	t.Helper()
	code, stdout, stderr := runCLI(t, nil, append(args, "--json")...)
	var out struct {
		OK     bool          `json:"ok"`
		Checks []doctorCheck `json:"checks"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &out), stderr)
	require.Equal(t, code == exitOK, out.OK)
	m := map[string]doctorCheck{}
	for _, c := range out.Checks {
		m[c.Name] = c
	}
	return code, m
}

func TestDoctorHealthyDeployment(t *testing.T) {
	t.Parallel()
	_, args := healthyDeployment(t)
	code, stdout, stderr := runCLI(t, nil, args...)
	require.Equal(t, exitOK, code, stdout+stderr)
	require.NotContains(t, stdout, "FAIL")
	require.NotContains(t, stdout, "skip")
	for _, want := range []string{"TLS", "listen_addresses", "audit: ", "audit checkpoints match chain org:acme",
		"key registry file permissions", "keys in use are declared and not retired",
		"tenant: application role " + args[4] + " does not bypass row-level security", ".invoices: row-level security is forced on the owner too"} {
		require.Contains(t, stdout, want)
	}
}

// TestDoctorCatchesWeakenedDeployments breaks one defence at a time and
// expects the doctor to name it.
func TestDoctorCatchesWeakenedDeployments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		breaks func(t *testing.T, db *pgtest.DB, args []string)
		failed string
	}{
		{"trigger disabled", func(t *testing.T, db *pgtest.DB, _ []string) {
			_, err := db.Pool.Exec(context.Background(), `ALTER TABLE auditlog_entries DISABLE TRIGGER auditlog_entries_immutable`)
			require.NoError(t, err)
		}, "audit: "},
		{"trigger enabled only for origin sessions", func(t *testing.T, db *pgtest.DB, _ []string) {
			_, err := db.Pool.Exec(context.Background(), `ALTER TABLE auditlog_entries ENABLE TRIGGER auditlog_entries_immutable`)
			require.NoError(t, err)
		}, "audit: "},
		{"application role may update", func(t *testing.T, db *pgtest.DB, args []string) {
			_, err := db.Pool.Exec(context.Background(), `GRANT UPDATE, DELETE ON auditlog_entries TO `+args[4])
			require.NoError(t, err)
		}, "audit: "},
		{"newest rows deleted by a superuser", func(t *testing.T, db *pgtest.DB, _ []string) {
			ctx := context.Background()
			for _, q := range []string{
				`ALTER TABLE auditlog_entries DISABLE TRIGGER ALL`,
				`DELETE FROM auditlog_entries WHERE chain = 'org:acme' AND seq >= 2`,
			} {
				_, err := db.Pool.Exec(ctx, q)
				require.NoError(t, err, q)
			}
		}, "audit checkpoints match chain org:acme"},
		{"world-readable key registry", func(t *testing.T, _ *pgtest.DB, args []string) {
			require.NoError(t, os.Chmod(args[6], 0o644))
		}, "key registry file permissions"},
		{"ciphertext under an undeclared key", func(t *testing.T, db *pgtest.DB, _ []string) {
			// A version-1 envelope header naming key 999, which the registry never declared.
			_, err := db.Pool.Exec(context.Background(), `INSERT INTO users VALUES ('u1', '\x01000003e7000000000000000000000000000000000000000000000000')`)
			require.NoError(t, err)
		}, "keys in use are declared and not retired"},
		{"row security not forced on a tenant table", func(t *testing.T, db *pgtest.DB, _ []string) {
			_, err := db.Pool.Exec(context.Background(), `ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY`)
			require.NoError(t, err)
		}, "tenant: " + "%s.invoices: row-level security is forced"},
		{"a tenant table without the policy", func(t *testing.T, db *pgtest.DB, _ []string) {
			_, err := db.Pool.Exec(context.Background(), `CREATE TABLE payouts (org_id text NOT NULL)`)
			require.NoError(t, err)
		}, "tenant: " + "%s.payouts: policy rampart_tenant"},
		{"application role bypasses row security", func(t *testing.T, db *pgtest.DB, args []string) {
			_, err := db.Pool.Exec(context.Background(), `ALTER ROLE `+args[4]+` BYPASSRLS`)
			require.NoError(t, err)
		}, "tenant: application role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, args := healthyDeployment(t)
			tc.breaks(t, db, args)
			code, checks := doctorJSON(t, args...)
			require.Equal(t, exitFindings, code)
			if strings.Contains(tc.failed, "%s") {
				tc.failed = fmt.Sprintf(tc.failed, db.Schema)
			}
			failed := false
			for name, c := range checks {
				if !c.OK && !c.Skipped && len(name) >= len(tc.failed) && name[:len(tc.failed)] == tc.failed {
					failed = true
				}
			}
			require.True(t, failed, "no failing check named %q in %+v", tc.failed, checks)
			for _, c := range checks {
				if !c.OK && !c.Skipped && strings.HasPrefix(c.Name, "tenant: ") {
					require.NotEmpty(t, c.Fix, "%s says how to fix it", c.Name)
				}
			}
		})
	}
}

func TestDoctorSkipsWhatItCannotCheck(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	code, checks := doctorJSON(t, "doctor", "--dsn", db.URL, "--private=false")
	require.Equal(t, exitFindings, code, "no audit schema is a failure")
	require.False(t, checks["audit log schema"].OK)
	require.True(t, checks["key registry"].Skipped)
}

func TestDoctorUsageAndConnectionErrors(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCLI(t, nil, "doctor")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "--dsn")

	code, _, _ = runCLI(t, map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/x?connect_timeout=1"}, "doctor")
	require.Equal(t, exitOperational, code)

	code, _, _ = runCLI(t, nil, "doctor", "--dsn", "postgres://x@127.0.0.1:1/x", "--checkpoints", "cp")
	require.Equal(t, exitUsage, code, "--checkpoints needs --public-key")
}

func TestListensOnAll(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{
		"localhost": false, "127.0.0.1": false, "127.0.0.1, ::1": false,
		"*": true, "localhost,*": true, "0.0.0.0": true, " :: ": true,
	} {
		require.Equal(t, want, listensOnAll(v), v)
	}
}

func TestIsLocalHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost": true, "127.0.0.1": true, "::1": true, "/var/run/postgresql": true,
		"db.example.com": false, "10.0.0.5": false,
	} {
		require.Equal(t, want, isLocalHost(host), host)
	}
}

// TestDoctorOwnTenantTables: rampart's own tables are not reported while
// their row-level security is off (an option); once a component's
// protection is on, each of its tables is checked, and a weakened one is
// named with its fix. They never appear among the host's --tenant-column
// tables.
func TestDoctorOwnTenantTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, args := healthyDeployment(t)
	code, stdout, stderr := runCLI(t, nil, args...)
	require.Equal(t, exitOK, code, stdout+stderr)
	require.NotContains(t, stdout, "rampart authn")

	require.NoError(t, authnpg.Protect(ctx, db.Pool, args[4]))
	code, checks := doctorJSON(t, args...)
	require.Equal(t, exitOK, code, "%+v", checks)
	for _, table := range authnpg.ProtectedTables() {
		c, ok := checks["tenant: rampart authn: "+db.Schema+"."+table+": row-level security is forced on the owner too"]
		require.True(t, ok, table)
		require.True(t, c.OK, table)
	}
	for name := range checks {
		require.NotContains(t, name, "authn_magic_links", "deliberately unprotected, not a finding")
		require.NotContains(t, name, "rampart mfa", "mfa's protection is off")
	}

	_, err := db.Pool.Exec(ctx, `ALTER TABLE authn_api_keys NO FORCE ROW LEVEL SECURITY`)
	require.NoError(t, err)
	code, checks = doctorJSON(t, args...)
	require.Equal(t, exitFindings, code)
	c := checks["tenant: rampart authn: "+db.Schema+".authn_api_keys: row-level security is forced on the owner too"]
	require.False(t, c.OK)
	require.Contains(t, c.Fix, "FORCE ROW LEVEL SECURITY")
}
