package pgstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog/pgstore"
)

// TestRepairRestoresEachDrift causes each drift issue 17 names (and a few
// more), expects Posture to fail with the statement that fixes it, Repair to
// apply exactly that, and Posture to pass afterwards.
func TestRepairRestoresEachDrift(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		drift  func(role string) string
		failed string // the Name of the failing check
		fix    string // its Fix
	}{
		{"trigger dropped", func(string) string { return `DROP TRIGGER auditlog_entries_immutable ON auditlog_entries` },
			"trigger auditlog_entries_immutable on auditlog_entries exists and is enabled ALWAYS",
			"CREATE TRIGGER auditlog_entries_immutable BEFORE UPDATE OR DELETE ON auditlog_entries FOR EACH ROW EXECUTE FUNCTION auditlog_entries_guard(); " +
				"ALTER TABLE auditlog_entries ENABLE ALWAYS TRIGGER auditlog_entries_immutable;"},
		{"statement trigger dropped", func(string) string { return `DROP TRIGGER auditlog_entries_extend ON auditlog_entries` },
			"trigger auditlog_entries_extend on auditlog_entries exists and is enabled ALWAYS",
			"CREATE TRIGGER auditlog_entries_extend AFTER INSERT ON auditlog_entries REFERENCING NEW TABLE AS auditlog_new_entries FOR EACH STATEMENT EXECUTE FUNCTION auditlog_entries_extend(); " +
				"ALTER TABLE auditlog_entries ENABLE ALWAYS TRIGGER auditlog_entries_extend;"},
		{"ENABLE instead of ENABLE ALWAYS", func(string) string {
			return `ALTER TABLE auditlog_heads ENABLE TRIGGER auditlog_heads_no_truncate`
		}, "trigger auditlog_heads_no_truncate on auditlog_heads exists and is enabled ALWAYS",
			"ALTER TABLE auditlog_heads ENABLE ALWAYS TRIGGER auditlog_heads_no_truncate;"},
		{"trigger disabled", func(string) string { return `ALTER TABLE auditlog_holds DISABLE TRIGGER auditlog_holds_immutable` },
			"trigger auditlog_holds_immutable on auditlog_holds exists and is enabled ALWAYS",
			"ALTER TABLE auditlog_holds ENABLE ALWAYS TRIGGER auditlog_holds_immutable;"},
		{"extra UPDATE grant to the app role", func(role string) string {
			return `GRANT UPDATE ON auditlog_entries TO ` + pgx.Identifier{role}.Sanitize()
		}, `app role "%s" cannot UPDATE auditlog_entries`, `REVOKE UPDATE ON auditlog_entries FROM "%s";`},
		{"TRUNCATE granted to PUBLIC", func(string) string { return `GRANT TRUNCATE ON auditlog_heads TO PUBLIC` },
			`app role "%s" cannot TRUNCATE auditlog_heads`, `REVOKE TRUNCATE ON auditlog_heads FROM PUBLIC;`},
		{"INSERT revoked from the app role", func(role string) string {
			return `REVOKE INSERT ON auditlog_holds FROM ` + pgx.Identifier{role}.Sanitize()
		}, `app role "%s" can INSERT auditlog_holds`, `GRANT INSERT ON auditlog_holds TO "%s";`},
		{"function executable by PUBLIC", func(string) string {
			return `GRANT EXECUTE ON FUNCTION auditlog_prune_payloads(text, timestamptz) TO PUBLIC`
		}, "PUBLIC cannot execute auditlog_prune_payloads(text, timestamptz)",
			"REVOKE ALL ON FUNCTION auditlog_prune_payloads(text, timestamptz) FROM PUBLIC;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, s := newDB(t)
			seed(t, s, 3)
			role, _ := appRole(t, db)
			rep, err := pgstore.Posture(ctx, db.Pool, role)
			require.NoError(t, err)
			require.True(t, rep.OK(), "%+v", rep.Failed())

			_, err = db.Pool.Exec(ctx, tc.drift(role))
			require.NoError(t, err)
			rep, err = pgstore.Posture(ctx, db.Pool, role)
			require.NoError(t, err)
			failed := rep.Failed()
			require.Len(t, failed, 1, "%+v", failed)
			require.Equal(t, sprintfRole(tc.failed, role), failed[0].Name)
			require.Equal(t, sprintfRole(tc.fix, role), failed[0].Fix)
			require.True(t, failed[0].Repairable)
			require.NotEmpty(t, failed[0].Detail)

			applied, after, err := pgstore.Repair(ctx, db.Pool, role)
			require.NoError(t, err)
			require.Equal(t, []string{failed[0].Fix}, applied)
			require.True(t, after.OK(), "%+v", after.Failed())
			rep, err = pgstore.Posture(ctx, db.Pool, role)
			require.NoError(t, err)
			require.True(t, rep.OK(), "%+v", rep.Failed())

			// Repaired means working again: the restored guard refuses an UPDATE.
			_, err = db.Pool.Exec(ctx, `UPDATE auditlog_entries SET actor = 'user:evil'`)
			require.Error(t, err)
			require.Contains(t, err.Error(), "append-only")

			// Nothing left to do.
			applied, _, err = pgstore.Repair(ctx, db.Pool, role)
			require.NoError(t, err)
			require.Empty(t, applied)
		})
	}
}

// TestRepairLeavesRoleChangesToAHuman: a superuser app role is reported with
// the statement that fixes it, but Repair does not demote a role itself.
func TestRepairLeavesRoleChangesToAHuman(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	role, _ := appRole(t, db)
	_, err := db.Pool.Exec(ctx, `ALTER ROLE `+pgx.Identifier{role}.Sanitize()+` SUPERUSER`)
	require.NoError(t, err)
	applied, rep, err := pgstore.Repair(ctx, db.Pool, role)
	require.NoError(t, err)
	require.Empty(t, applied)
	failed := rep.Failed()
	require.NotEmpty(t, failed)
	require.Equal(t, `app role "`+role+`" is not a superuser`, failed[0].Name)
	require.Equal(t, `ALTER ROLE "`+role+`" NOSUPERUSER;`, failed[0].Fix)
	require.False(t, failed[0].Repairable)
}

func sprintfRole(format, role string) string { return strings.ReplaceAll(format, "%s", role) }
