package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgmigrate"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

func TestMigrateUpAndStatus(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	env := map[string]string{"DATABASE_URL": db.URL}

	code, stdout, _ := runCLI(t, env, "migrate", "status")
	require.Equal(t, exitFindings, code, "a fresh database has pending migrations")
	require.Contains(t, stdout, "pending")

	code, stdout, stderr := runCLI(t, env, "migrate", "up")
	require.Equal(t, exitOK, code, stderr)
	total := 0
	for _, c := range components() {
		ms, err := pgmigrate.Load(c.files())
		require.NoError(t, err)
		var names []string
		for _, m := range ms {
			names = append(names, m.Name)
		}
		total += len(ms)
		// What was applied, by name, not "up to date".
		require.Contains(t, stdout, fmt.Sprintf("%-12s applied %s\n", c.name, strings.Join(names, ", ")))
	}
	require.NotContains(t, stdout, "up to date")
	// Idempotent, and now it says so.
	code, stdout, stderr = runCLI(t, env, "migrate", "up", "--json")
	require.Equal(t, exitOK, code, stderr)
	var up migrateUpReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &up))
	require.True(t, up.OK)
	require.Nil(t, up.Repair)
	require.Len(t, up.Components, len(components()))
	already := 0
	for _, c := range up.Components {
		require.Empty(t, c.Applied, c.Component)
		already += c.AlreadyApplied
	}
	require.Equal(t, total, already)
	code, stdout, _ = runCLI(t, env, "migrate", "up")
	require.Equal(t, exitOK, code)
	require.Contains(t, stdout, "auditlog     up to date (3 migrations)\n")

	code, stdout, _ = runCLI(t, env, "migrate", "status", "--json")
	require.Equal(t, exitOK, code)
	var sts []componentStatus
	require.NoError(t, json.Unmarshal([]byte(stdout), &sts))
	require.Len(t, sts, len(components()))
	for _, st := range sts {
		require.Empty(t, st.Pending, st.Component)
		require.NotEmpty(t, st.Applied, st.Component)
	}
}

func TestMigrateOnly(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	code, stdout, stderr := runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--only", "mfa")
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, "mfa          applied 001_init.sql, 002_failures_on_enrollment.sql\n", stdout)
	code, stdout, stderr = runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--only", "mfa", "--json")
	require.Equal(t, exitOK, code, stderr)
	require.JSONEq(t, `{"ok":true,"components":[{"component":"mfa","applied":[],"already_applied":2}]}`, stdout)

	code, _, stderr = runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--only", "mfa", "--repair")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "include auditlog in --only")

	code, _, stderr = runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--only", "nope")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, `unknown component "nope"`)

	code, _, _ = runCLI(t, nil, "migrate", "up")
	require.Equal(t, exitUsage, code, "no --dsn and no DATABASE_URL")
}

// TestMigrateRetentionRoles: migrate up grants the maintenance role what
// pruning needs (and the app role nothing of it), stores the retention the
// database enforces, and refuses a retention it cannot read.
func TestMigrateRetentionRoles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	app, maint, relay, record := appRole(t, db), appRole(t, db), appRole(t, db), appRole(t, db)
	code, _, stderr := runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--only", "auditlog",
		"--app-role", app, "--maintenance-role", maint, "--relay-role", relay, "--record-role", record,
		"--audit-retention", "2555d")
	require.Equal(t, exitOK, code, stderr)
	for role, want := range map[string]bool{relay: true, record: false, app: true} {
		var may bool
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT has_table_privilege($1, 'auditlog_entries', 'INSERT')`, role).Scan(&may))
		require.Equal(t, want, may, "%s may insert entries", role)
	}
	var recordMay bool
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT has_table_privilege($1, 'auditlog_outbox', 'INSERT')`, record).Scan(&recordMay))
	require.True(t, recordMay, "the record role inserts into the outbox")
	var minAge time.Duration
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT extract(epoch FROM min_age)::bigint * 1000000000 FROM auditlog_retention`).Scan(&minAge))
	require.Equal(t, 2555*24*time.Hour, minAge)
	for role, want := range map[string]bool{maint: true, app: false} {
		var may bool
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT has_function_privilege($1, 'auditlog_prune_payloads(text, timestamptz)', 'EXECUTE')`, role).Scan(&may))
		require.Equal(t, want, may, role)
	}
	_, stdout, stderr := runCLI(t, nil, "doctor", "--dsn", db.URL, "--app-role", app, "--private=false")
	require.NotContains(t, stdout, "FAIL  audit:", stderr)

	for _, bad := range []string{"forever", "-1d", "12x", "-5h"} {
		code, _, stderr = runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--audit-retention", bad)
		require.Equal(t, exitUsage, code, bad)
		require.Contains(t, stderr, "--audit-retention", bad)
	}
}

// TestMigrateUpTenantRLS: --tenant-rls-role puts the selected components'
// organisation-scoped tables under row-level security for that role, and
// leaves the audit log as it is unless its writer (--app-role) is a role of
// its own with BYPASSRLS; a role that does not exist is an operational
// error, with nothing half-done for the component.
func TestMigrateUpTenantRLS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	serving := appRole(t, db)
	writer := appRole(t, db)
	forced := func(table string) bool {
		var on bool
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT relforcerowsecurity FROM pg_class WHERE oid = $1::regclass`, table).Scan(&on))
		return on
	}

	code, stdout, stderr := runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--app-role", writer, "--tenant-rls-role", serving)
	require.Equal(t, exitOK, code, stdout+stderr)
	require.Contains(t, stdout, "auditlog     row-level security NOT turned on")
	for _, table := range []string{"authn_sessions", "mfa_enrollments", "privacy_subjects"} {
		require.True(t, forced(table), table)
	}
	require.False(t, forced("auditlog_entries"), "its writer does not bypass row security")

	_, err := db.Pool.Exec(ctx, "ALTER ROLE "+writer+" BYPASSRLS")
	require.NoError(t, err)
	code, checks := doctorJSON(t, "doctor", "--dsn", db.URL, "--app-role", serving, "--private=false")
	require.NotEqual(t, exitUsage, code)
	for name, c := range checks {
		if strings.HasPrefix(name, "tenant: rampart ") {
			require.True(t, c.OK, "%s: %+v", name, c)
		}
	}
	var out migrateUpReport
	code, stdout, stderr = runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--only", "auditlog", "--app-role", writer, "--tenant-rls-role", serving, "--json")
	require.Equal(t, exitOK, code, stdout+stderr)
	require.NoError(t, json.Unmarshal([]byte(stdout), &out))
	require.Equal(t, []string{"auditlog"}, out.Protected)
	require.True(t, forced("auditlog_entries"))

	code, _, stderr = runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--only", "mfa", "--tenant-rls-role", "no_such_role_rls")
	require.Equal(t, exitOperational, code, stderr)
}
