package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Check is one finding of Posture.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
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

var expectedTriggers = []struct{ table, trigger string }{
	{"auditlog_entries", "auditlog_entries_extend"},
	{"auditlog_entries", "auditlog_entries_immutable"},
	{"auditlog_entries", "auditlog_entries_no_truncate"},
	{"auditlog_heads", "auditlog_heads_immutable"},
	{"auditlog_heads", "auditlog_heads_no_truncate"},
	{"auditlog_holds", "auditlog_holds_immutable"},
	{"auditlog_holds", "auditlog_holds_no_truncate"},
}

// Posture checks a deployment in the schema of pool's search_path: every
// protective trigger exists and is enabled ALWAYS, and appRole (if not "")
// has exactly the privileges it needs: INSERT and SELECT, no UPDATE, DELETE
// or TRUNCATE, no ownership of (or membership in the owner of) the tables,
// not a superuser. The CLI's doctor runs it.
func Posture(ctx context.Context, pool *pgxpool.Pool, appRole string) (Report, error) {
	var r Report
	add := func(name string, ok bool, format string, a ...any) {
		c := Check{Name: name, OK: ok}
		if !ok {
			c.Detail = fmt.Sprintf(format, a...)
		}
		r.Checks = append(r.Checks, c)
	}
	for _, t := range expectedTriggers {
		var enabled string
		err := pool.QueryRow(ctx, `SELECT t.tgenabled::text FROM pg_trigger t
			WHERE t.tgrelid = to_regclass($1) AND t.tgname = $2`, t.table, t.trigger).Scan(&enabled)
		switch {
		case err != nil:
			add("trigger "+t.trigger, false, "trigger %s on %s is missing", t.trigger, t.table)
		default:
			add("trigger "+t.trigger, enabled == "A", "trigger %s on %s is enabled %q, want ALWAYS (A)", t.trigger, t.table, enabled)
		}
	}
	for _, fn := range []string{"auditlog_lock_chain(text)", "auditlog_prune_payloads(text, timestamptz)", "auditlog_lift_hold(text, timestamptz)"} {
		var public bool
		err := pool.QueryRow(ctx, `SELECT has_function_privilege('public', to_regprocedure($1), 'EXECUTE')`, fn).Scan(&public)
		add("function "+fn+" not public", err == nil && !public, "PUBLIC may execute %s (or it is missing)", fn)
	}
	if appRole == "" {
		return r, nil
	}
	var super bool
	if err := pool.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = $1`, appRole).Scan(&super); err != nil {
		add("app role exists", false, "role %q not found", appRole)
		return r, nil
	}
	add("app role is not superuser", !super, "role %q is a superuser: it can disable the triggers", appRole)
	tables := map[string][]string{
		"auditlog_entries": {"SELECT", "INSERT"},
		"auditlog_holds":   {"SELECT", "INSERT"},
		"auditlog_heads":   {"SELECT"},
	}
	for table, want := range tables {
		for _, priv := range []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"} {
			var has bool
			if err := pool.QueryRow(ctx, `SELECT has_table_privilege($1, to_regclass($2), $3)`, appRole, table, priv).Scan(&has); err != nil {
				return r, fmt.Errorf("auditlog/pgstore: posture: %w", err)
			}
			expected := false
			for _, w := range want {
				if w == priv {
					expected = true
				}
			}
			add(fmt.Sprintf("%s %s on %s", appRole, priv, table), has == expected,
				"role %q %s %s on %s", appRole, map[bool]string{true: "has", false: "lacks"}[has], priv, table)
		}
		var owns bool
		if err := pool.QueryRow(ctx, `SELECT pg_has_role($1, c.relowner, 'MEMBER') FROM pg_class c WHERE c.oid = to_regclass($2)`, appRole, table).Scan(&owns); err != nil {
			return r, fmt.Errorf("auditlog/pgstore: posture: %w", err)
		}
		add(fmt.Sprintf("%s does not own %s", appRole, table), !owns, "role %q owns %s (or is a member of its owner): it can disable the triggers", appRole, table)
	}
	rc, err := retentionChecks(ctx, pool, appRole)
	r.Checks = append(r.Checks, rc...)
	return r, err
}
