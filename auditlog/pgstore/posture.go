package pgstore

import (
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/internal/pgmigrate"
)

// Check is one finding of Posture.
type Check struct {
	// Name says in plain words what must hold ("app role "app" cannot
	// UPDATE auditlog_entries"): what a passing check confirms.
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Detail says what was found instead, when the check fails.
	Detail string `json:"detail,omitempty"`
	// Fix is the SQL that restores what Name says, when the check fails.
	// It is "" when no statement can (a protective function is missing:
	// restore the schema from the migrations).
	Fix string `json:"fix,omitempty"`
	// Repairable reports whether Repair applies Fix itself. Fixes that
	// change roles or table ownership (demoting a superuser, handing the
	// tables to another owner) are printed for a human to run.
	Repairable bool `json:"repairable,omitempty"`
}

// Report is what Posture found.
type Report struct {
	Checks []Check `json:"checks"`
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// Failed returns the checks that did not pass.
func (r Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// A protectiveTrigger is a trigger the migrations create, with the statement
// that creates it. Posture expects each to exist and be enabled ALWAYS, and
// Repair restores a missing one with the same statement.
type protectiveTrigger struct {
	table, name string
	create      string // the CREATE TRIGGER statement of the migration, without the semicolon
}

var (
	createTriggerRE = regexp.MustCompile(`(?is)\bCREATE\s+(?:OR\s+REPLACE\s+)?TRIGGER\s+(\w+)\s.*?\bON\s+(\w+)\s[^;]*`)
	dropTriggerRE   = regexp.MustCompile(`(?i)\bDROP\s+TRIGGER\s+(?:IF\s+EXISTS\s+)?(\w+)\s+ON\s+(\w+)`)
)

// expectedTriggers reads the triggers from the embedded migrations, in
// order, so what Posture expects and Repair restores is what Migrate
// created, and a new migration that adds, drops or redefines a trigger
// changes all three at once.
func expectedTriggers() ([]protectiveTrigger, error) { return triggersOf(Migrations()) }

// triggersOf reads the triggers that the migrations in fsys leave in place.
func triggersOf(fsys fs.FS) ([]protectiveTrigger, error) {
	ms, err := pgmigrate.Load(fsys)
	if err != nil {
		return nil, fmt.Errorf("auditlog/pgstore: posture: %w", err)
	}
	var out []protectiveTrigger
	for _, m := range ms {
		sql := stripLineComments(m.SQL)
		type stmt struct {
			at                  int
			name, table, create string // create is "" for a DROP
		}
		var stmts []stmt
		for _, loc := range createTriggerRE.FindAllStringSubmatchIndex(sql, -1) {
			stmts = append(stmts, stmt{loc[0], sql[loc[2]:loc[3]], sql[loc[4]:loc[5]], strings.Join(strings.Fields(sql[loc[0]:loc[1]]), " ")})
		}
		for _, loc := range dropTriggerRE.FindAllStringSubmatchIndex(sql, -1) {
			stmts = append(stmts, stmt{loc[0], sql[loc[2]:loc[3]], sql[loc[4]:loc[5]], ""})
		}
		// In file order, so a DROP then CREATE in one file leaves the trigger.
		sort.Slice(stmts, func(i, j int) bool { return stmts[i].at < stmts[j].at })
		for _, s := range stmts {
			name, table := strings.ToLower(s.name), strings.ToLower(s.table)
			out = slices.DeleteFunc(out, func(t protectiveTrigger) bool { return t.name == name && t.table == table })
			if s.create != "" {
				out = append(out, protectiveTrigger{table: table, name: name, create: s.create})
			}
		}
	}
	return out, nil
}

// stripLineComments removes "-- ..." comments, which may mention triggers.
func stripLineComments(sql string) string {
	lines := strings.Split(sql, "\n")
	for i, l := range lines {
		if j := strings.Index(l, "--"); j >= 0 {
			lines[i] = l[:j]
		}
	}
	return strings.Join(lines, "\n")
}

// protectedFunctions are the SECURITY DEFINER functions PUBLIC must not
// execute (the migration revokes it).
var protectedFunctions = []string{"auditlog_lock_chain(text)", "auditlog_prune_payloads(text, timestamptz)", "auditlog_lift_hold(text, timestamptz)",
	"auditlog_outbox_stamp()", "auditlog_outbox_done(text, bigint, bigint[])", "auditlog_outbox_status()"}

// appRolePrivileges are the table privileges the application role holds
// (WithAppRole grants them); it holds no other privilege on these tables.
var appRolePrivileges = []struct {
	table string
	privs []string
}{
	{"auditlog_entries", []string{"SELECT", "INSERT"}},
	{"auditlog_holds", []string{"SELECT", "INSERT"}},
	{"auditlog_heads", []string{"SELECT"}},
	// Retention (migration 002) belongs to the maintenance role: the
	// application neither reads nor writes the stored retention and the
	// maintenance journal.
	{"auditlog_retention", nil},
	{"auditlog_maintenance", nil},
	// The outbox (migration 003): the application only inserts; rows leave
	// through auditlog_outbox_done, which the relay role executes.
	{"auditlog_outbox", []string{"INSERT"}},
}

var tgenabledWords = map[string]string{
	"O": "enabled for origin sessions only (ENABLE): a session with session_replication_role = replica skips it",
	"D": "disabled",
	"R": "enabled for replica sessions only",
}

// Posture checks a deployment in the schema of pool's search_path: every
// protective trigger the migrations create exists and is enabled ALWAYS,
// PUBLIC cannot execute the SECURITY DEFINER functions, and appRole (if not
// "") has exactly the privileges it needs: INSERT and SELECT, no UPDATE,
// DELETE or TRUNCATE, no ownership of (or membership in the owner of) the
// tables, not a superuser. Every failed check carries the SQL statement that
// fixes it. The CLI's doctor runs it; Repair applies the fixes.
//
// Posture checks that each trigger exists under its name and fires ALWAYS,
// not that its definition is unchanged.
func Posture(ctx context.Context, pool *pgxpool.Pool, appRole string) (Report, error) {
	var r Report
	add := func(c Check) { r.Checks = append(r.Checks, c) }
	ts, err := expectedTriggers()
	if err != nil {
		return r, err
	}
	for _, t := range ts {
		c := Check{Name: fmt.Sprintf("trigger %s on %s exists and is enabled ALWAYS", t.name, t.table)}
		var enabled string
		err := pool.QueryRow(ctx, `SELECT t.tgenabled::text FROM pg_trigger t
			WHERE t.tgrelid = to_regclass($1) AND t.tgname = $2`, t.table, t.name).Scan(&enabled)
		// Names from the migrations are plain identifiers: printed unquoted.
		enableAlways := "ALTER TABLE " + t.table + " ENABLE ALWAYS TRIGGER " + t.name + ";"
		switch {
		case err == pgx.ErrNoRows:
			c.Detail = "the trigger is missing"
			c.Fix, c.Repairable = t.create+"; "+enableAlways, true
		case err != nil:
			return r, fmt.Errorf("auditlog/pgstore: posture: %w", err)
		case enabled == "A":
			c.OK = true
		default:
			c.Detail = "the trigger is " + tgenabledWords[enabled]
			c.Fix, c.Repairable = enableAlways, true
		}
		add(c)
	}
	for _, fn := range protectedFunctions {
		c := Check{Name: "PUBLIC cannot execute " + fn}
		var exists, public bool
		if err := pool.QueryRow(ctx, `SELECT to_regprocedure($1) IS NOT NULL,
			coalesce(has_function_privilege('public', to_regprocedure($1), 'EXECUTE'), false)`, fn).Scan(&exists, &public); err != nil {
			return r, fmt.Errorf("auditlog/pgstore: posture: %w", err)
		}
		switch {
		case !exists:
			c.Detail = "the function is missing; restore the schema from the migrations"
		case public:
			c.Detail = "PUBLIC may execute it"
			c.Fix, c.Repairable = "REVOKE ALL ON FUNCTION "+fn+" FROM PUBLIC;", true
		default:
			c.OK = true
		}
		add(c)
	}
	if appRole == "" {
		return r, nil
	}
	role := ident(appRole)
	var super bool
	if err := pool.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = $1`, appRole).Scan(&super); err != nil {
		add(Check{Name: fmt.Sprintf("app role %q exists", appRole), Detail: "no such role",
			Fix: "CREATE ROLE " + role + " LOGIN; -- then: rampart migrate up --app-role " + appRole})
		return r, nil
	}
	c := Check{Name: fmt.Sprintf("app role %q is not a superuser", appRole), OK: !super}
	if super {
		// A superuser bypasses every privilege check: the table
		// privileges below would all read as held, and no REVOKE helps.
		c.Detail = "it is a superuser: it can disable the triggers, and no privilege limits it"
		c.Fix = "ALTER ROLE " + role + " NOSUPERUSER;"
		add(c)
		return r, nil
	}
	add(c)
	for _, tp := range appRolePrivileges {
		for _, priv := range []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"} {
			var has, public bool
			if err := pool.QueryRow(ctx, `SELECT has_table_privilege($1, to_regclass($2), $3),
				has_table_privilege('public', to_regclass($2), $3)`, appRole, tp.table, priv).Scan(&has, &public); err != nil {
				return r, fmt.Errorf("auditlog/pgstore: posture: %w", err)
			}
			want := false
			for _, w := range tp.privs {
				want = want || w == priv
			}
			c := Check{OK: has == want}
			switch {
			case want:
				c.Name = fmt.Sprintf("app role %q can %s %s", appRole, priv, tp.table)
				if !has {
					c.Detail = "the privilege is missing: the application will fail"
					c.Fix, c.Repairable = "GRANT "+priv+" ON "+tp.table+" TO "+role+";", true
				}
			default:
				c.Name = fmt.Sprintf("app role %q cannot %s %s", appRole, priv, tp.table)
				if has {
					from := role
					if public {
						from = "PUBLIC"
					}
					c.Detail = fmt.Sprintf("it can (granted to %s)", from)
					c.Fix, c.Repairable = "REVOKE "+priv+" ON "+tp.table+" FROM "+from+";", true
				}
			}
			add(c)
		}
		var owner string
		var owns bool
		if err := pool.QueryRow(ctx, `SELECT pg_get_userbyid(c.relowner), pg_has_role($1, c.relowner, 'MEMBER')
			FROM pg_class c WHERE c.oid = to_regclass($2)`, appRole, tp.table).Scan(&owner, &owns); err != nil {
			return r, fmt.Errorf("auditlog/pgstore: posture: %w", err)
		}
		c := Check{Name: fmt.Sprintf("app role %q does not own %s", appRole, tp.table), OK: !owns}
		switch {
		case owns && owner == appRole:
			c.Detail = "it owns the table: it can disable the triggers"
			c.Fix = "ALTER TABLE " + tp.table + " OWNER TO <the role that runs migrations>;"
		case owns:
			c.Detail = fmt.Sprintf("it is a member of the owner %q: it can disable the triggers", owner)
			c.Fix = "REVOKE " + ident(owner) + " FROM " + role + ";"
		}
		add(c)
	}
	rc, err := retentionChecks(ctx, pool, appRole)
	r.Checks = append(r.Checks, rc...)
	return r, err
}

// Repair restores what Posture expects: it applies, in one transaction, the
// Fix of every failed check that is Repairable (a dropped trigger is created
// again from its migration, a trigger enabled other than ALWAYS is enabled
// ALWAYS, a privilege the app role should not have is revoked, one it needs
// is granted), then runs Posture again. It returns the statements applied
// and the report after them; checks left failing (not Repairable, or a
// privilege held through membership in another role) are in that report.
// Run it as the role that owns the tables, as migrations are.
func Repair(ctx context.Context, pool *pgxpool.Pool, appRole string) ([]string, Report, error) {
	before, err := Posture(ctx, pool, appRole)
	if err != nil {
		return nil, before, err
	}
	var applied []string
	for _, c := range before.Failed() {
		if c.Repairable && c.Fix != "" {
			applied = append(applied, c.Fix)
		}
	}
	if len(applied) > 0 {
		// Under the migration lock, like Migrate's grants; a fix may be two
		// statements (no arguments: the simple protocol).
		if err := pgmigrate.Exec(ctx, pool, applied...); err != nil {
			return nil, before, fmt.Errorf("auditlog/pgstore: repair: %w", err)
		}
	}
	after, err := Posture(ctx, pool, appRole)
	return applied, after, err
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }
