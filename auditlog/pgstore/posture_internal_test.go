package pgstore

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

// TestExpectedTriggersFromMigrations pins what the parser reads from the
// embedded migrations: every protective trigger, with its CREATE statement.
func TestExpectedTriggersFromMigrations(t *testing.T) {
	t.Parallel()
	ts, err := expectedTriggers()
	require.NoError(t, err)
	got := map[string]string{}
	for _, tr := range ts {
		got[tr.table+"."+tr.name] = tr.create
	}
	require.Equal(t, map[string]string{
		"auditlog_entries.auditlog_entries_extend": "CREATE TRIGGER auditlog_entries_extend AFTER INSERT ON auditlog_entries " +
			"REFERENCING NEW TABLE AS auditlog_new_entries FOR EACH STATEMENT EXECUTE FUNCTION auditlog_entries_extend()",
		"auditlog_entries.auditlog_entries_immutable":           "CREATE TRIGGER auditlog_entries_immutable BEFORE UPDATE OR DELETE ON auditlog_entries FOR EACH ROW EXECUTE FUNCTION auditlog_entries_guard()",
		"auditlog_entries.auditlog_entries_no_truncate":         "CREATE TRIGGER auditlog_entries_no_truncate BEFORE TRUNCATE ON auditlog_entries FOR EACH STATEMENT EXECUTE FUNCTION auditlog_reject_truncate()",
		"auditlog_heads.auditlog_heads_immutable":               "CREATE TRIGGER auditlog_heads_immutable BEFORE UPDATE OR DELETE ON auditlog_heads FOR EACH ROW EXECUTE FUNCTION auditlog_reject_row_change()",
		"auditlog_heads.auditlog_heads_no_truncate":             "CREATE TRIGGER auditlog_heads_no_truncate BEFORE TRUNCATE ON auditlog_heads FOR EACH STATEMENT EXECUTE FUNCTION auditlog_reject_truncate()",
		"auditlog_holds.auditlog_holds_immutable":               "CREATE TRIGGER auditlog_holds_immutable BEFORE UPDATE OR DELETE ON auditlog_holds FOR EACH ROW EXECUTE FUNCTION auditlog_holds_guard()",
		"auditlog_holds.auditlog_holds_no_truncate":             "CREATE TRIGGER auditlog_holds_no_truncate BEFORE TRUNCATE ON auditlog_holds FOR EACH STATEMENT EXECUTE FUNCTION auditlog_reject_truncate()",
		"auditlog_maintenance.auditlog_maintenance_immutable":   "CREATE TRIGGER auditlog_maintenance_immutable BEFORE UPDATE OR DELETE ON auditlog_maintenance FOR EACH ROW EXECUTE FUNCTION auditlog_reject_row_change()",
		"auditlog_maintenance.auditlog_maintenance_no_truncate": "CREATE TRIGGER auditlog_maintenance_no_truncate BEFORE TRUNCATE ON auditlog_maintenance FOR EACH STATEMENT EXECUTE FUNCTION auditlog_reject_truncate()",
		"auditlog_outbox.auditlog_outbox_stamp":                 "CREATE TRIGGER auditlog_outbox_stamp BEFORE INSERT ON auditlog_outbox FOR EACH ROW EXECUTE FUNCTION auditlog_outbox_stamp()",
		"auditlog_outbox.auditlog_outbox_immutable":             "CREATE TRIGGER auditlog_outbox_immutable BEFORE UPDATE OR DELETE ON auditlog_outbox FOR EACH STATEMENT EXECUTE FUNCTION auditlog_outbox_guard()",
		"auditlog_outbox.auditlog_outbox_no_truncate":           "CREATE TRIGGER auditlog_outbox_no_truncate BEFORE TRUNCATE ON auditlog_outbox FOR EACH STATEMENT EXECUTE FUNCTION auditlog_reject_truncate()",
	}, got, "auditlog_maintenance_recorded is a CONSTRAINT TRIGGER, checked by retentionChecks")
}

func TestTriggersOfMigrations(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"001_a.sql": {Data: []byte(`-- CREATE TRIGGER commented_out BEFORE DELETE ON t FOR EACH ROW EXECUTE FUNCTION f();
CREATE TABLE t (id int);
CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER t_guard BEFORE DELETE ON t FOR EACH ROW EXECUTE FUNCTION f();
CREATE TRIGGER t_gone BEFORE UPDATE ON t
    FOR EACH ROW EXECUTE FUNCTION f();`)},
		"002_b.sql": {Data: []byte(`DROP TRIGGER t_guard ON t;
CREATE TRIGGER t_guard BEFORE UPDATE OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION f();
drop trigger if exists t_gone on t;`)},
	}
	ts, err := triggersOf(fsys)
	require.NoError(t, err)
	require.Equal(t, []protectiveTrigger{{table: "t", name: "t_guard",
		create: "CREATE TRIGGER t_guard BEFORE UPDATE OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION f()"}}, ts)
}
