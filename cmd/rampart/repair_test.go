package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestDoctorFixAndMigrateRepair drifts a healthy deployment the three ways
// issue 17 names, all at once: doctor fails each with the statement that
// fixes it, migrate up --repair applies exactly those, and doctor passes,
// saying in plain words what holds.
func TestDoctorFixAndMigrateRepair(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, args := healthyDeployment(t)
	role := args[4]
	quoted := pgx.Identifier{role}.Sanitize()
	for _, q := range []string{
		`DROP TRIGGER auditlog_entries_no_truncate ON auditlog_entries`,
		`ALTER TABLE auditlog_entries ENABLE TRIGGER auditlog_entries_immutable`,
		`GRANT UPDATE ON auditlog_entries TO ` + quoted,
	} {
		_, err := db.Pool.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	wantFixes := []string{
		"CREATE TRIGGER auditlog_entries_no_truncate BEFORE TRUNCATE ON auditlog_entries FOR EACH STATEMENT EXECUTE FUNCTION auditlog_reject_truncate(); " +
			"ALTER TABLE auditlog_entries ENABLE ALWAYS TRIGGER auditlog_entries_no_truncate;",
		"ALTER TABLE auditlog_entries ENABLE ALWAYS TRIGGER auditlog_entries_immutable;",
		"REVOKE UPDATE ON auditlog_entries FROM " + quoted + ";",
	}

	code, stdout, stderr := runCLI(t, nil, args...)
	require.Equal(t, exitFindings, code, stderr)
	require.Contains(t, stderr, "3 of ")
	for _, line := range []string{
		"FAIL  audit: trigger auditlog_entries_no_truncate on auditlog_entries exists and is enabled ALWAYS: the trigger is missing\n      fix: " + wantFixes[0] + "\n",
		"FAIL  audit: trigger auditlog_entries_immutable on auditlog_entries exists and is enabled ALWAYS: the trigger is enabled for origin sessions only (ENABLE)",
		"      fix: " + wantFixes[1] + "\n",
		`FAIL  audit: app role "` + role + `" cannot UPDATE auditlog_entries: it can (granted to ` + quoted + ")\n      fix: " + wantFixes[2] + "\n",
		"3 of the fixes above are applied by: rampart migrate up --repair --app-role " + role + "\n",
	} {
		require.Contains(t, stdout, line)
	}
	code, checks := doctorJSON(t, args...)
	require.Equal(t, exitFindings, code)
	var fixes []string
	for _, c := range checks {
		if !c.OK && !c.Skipped {
			require.NotEmpty(t, c.Fix, c.Name)
			fixes = append(fixes, c.Fix)
		}
	}
	require.ElementsMatch(t, wantFixes, fixes)

	code, stdout, stderr = runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--app-role", role, "--repair", "--json")
	require.Equal(t, exitOK, code, stderr)
	var up migrateUpReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &up))
	require.True(t, up.OK)
	require.NotNil(t, up.Repair)
	require.ElementsMatch(t, wantFixes, up.Repair.Applied)
	require.Empty(t, up.Repair.Remaining)

	code, stdout, stderr = runCLI(t, nil, args...)
	require.Equal(t, exitOK, code, stdout+stderr)
	for _, line := range []string{
		`pass  audit: app role "` + role + `" cannot UPDATE auditlog_entries` + "\n",
		`pass  audit: app role "` + role + `" can INSERT auditlog_entries` + "\n",
		`pass  audit: app role "` + role + `" does not own auditlog_entries` + "\n",
		"pass  audit: trigger auditlog_entries_no_truncate on auditlog_entries exists and is enabled ALWAYS\n",
		"pass  audit: PUBLIC cannot execute auditlog_lift_hold(text, timestamptz)\n",
	} {
		require.Contains(t, stdout, line)
	}
	require.NotContains(t, stdout, "fix:")

	code, stdout, stderr = runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--app-role", role, "--repair")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "auditlog     nothing to repair\n")
}

// TestMigrateRepairReportsWhatItCannotFix: a superuser application role is
// printed with the statement to run by hand, and the exit code says so.
func TestMigrateRepairReportsWhatItCannotFix(t *testing.T) {
	t.Parallel()
	db, args := healthyDeployment(t)
	role := args[4]
	_, err := db.Pool.Exec(context.Background(), `ALTER ROLE `+pgx.Identifier{role}.Sanitize()+` SUPERUSER`)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = db.Pool.Exec(context.Background(), `ALTER ROLE `+pgx.Identifier{role}.Sanitize()+` NOSUPERUSER`)
	})
	code, stdout, stderr := runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--app-role", role, "--repair")
	require.Equal(t, exitFindings, code, stderr)
	require.Contains(t, stdout, `NOT REPAIRED: app role "`+role+`" is not a superuser`)
	require.Contains(t, stdout, `fix by hand: ALTER ROLE "`+role+`" NOSUPERUSER;`)
	require.Contains(t, stderr, "1 audit log checks still fail after repair")
	require.False(t, strings.Contains(stdout, "repaired:"))
}
