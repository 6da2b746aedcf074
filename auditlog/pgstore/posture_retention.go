package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// retentionFunctions are the functions that destroy a protection: only the
// maintenance role may execute them.
var retentionFunctions = []string{"auditlog_prune_payloads(text, timestamptz)", "auditlog_lift_hold(text, timestamptz)"}

// retentionChecks are Posture's checks of retention (migration 002): the
// deferred trigger that refuses an unrecorded prune or lift exists and is
// enabled ALWAYS, and appRole (if not "") may not execute the retention
// functions nor touch the retention and maintenance tables.
func retentionChecks(ctx context.Context, pool *pgxpool.Pool, appRole string) ([]Check, error) {
	var out []Check
	add := func(name string, ok bool, format string, a ...any) {
		c := Check{Name: name, OK: ok}
		if !ok {
			c.Detail = fmt.Sprintf(format, a...)
		}
		out = append(out, c)
	}
	var enabled string
	err := pool.QueryRow(ctx, `SELECT coalesce((SELECT t.tgenabled::text FROM pg_trigger t
		WHERE t.tgrelid = to_regclass('auditlog_maintenance') AND t.tgname = 'auditlog_maintenance_recorded'), '')`).Scan(&enabled)
	if err != nil {
		return out, fmt.Errorf("auditlog/pgstore: posture: %w", err)
	}
	add("trigger auditlog_maintenance_recorded", enabled == "A",
		"the trigger that refuses an unrecorded prune or hold lift is %s, want enabled ALWAYS (A)",
		map[bool]string{true: "missing", false: fmt.Sprintf("enabled %q", enabled)}[enabled == ""])
	if appRole == "" {
		return out, nil
	}
	for _, fn := range retentionFunctions {
		var may bool
		if err := pool.QueryRow(ctx, `SELECT coalesce(has_function_privilege($1, to_regprocedure($2), 'EXECUTE'), false)`, appRole, fn).Scan(&may); err != nil {
			return out, fmt.Errorf("auditlog/pgstore: posture: %w", err)
		}
		add(fmt.Sprintf("%s may not execute %s", appRole, fn), !may,
			"role %q may execute %s: retention belongs to a maintenance role (WithMaintenanceRole); REVOKE EXECUTE ON FUNCTION %s FROM %s",
			appRole, fn, fn, appRole)
	}
	for _, table := range []string{"auditlog_retention", "auditlog_maintenance"} {
		for _, priv := range []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"} {
			var has bool
			if err := pool.QueryRow(ctx, `SELECT coalesce(has_table_privilege($1, to_regclass($2), $3), false)`, appRole, table, priv).Scan(&has); err != nil {
				return out, fmt.Errorf("auditlog/pgstore: posture: %w", err)
			}
			add(fmt.Sprintf("%s %s on %s", appRole, priv, table), !has, "role %q has %s on %s", appRole, priv, table)
		}
	}
	return out, nil
}
