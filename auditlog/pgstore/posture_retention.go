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
// functions. (Its table privileges are in appRolePrivileges.)
func retentionChecks(ctx context.Context, pool *pgxpool.Pool, appRole string) ([]Check, error) {
	var out []Check
	var enabled string
	err := pool.QueryRow(ctx, `SELECT coalesce((SELECT t.tgenabled::text FROM pg_trigger t
		WHERE t.tgrelid = to_regclass('auditlog_maintenance') AND t.tgname = 'auditlog_maintenance_recorded'), '')`).Scan(&enabled)
	if err != nil {
		return out, fmt.Errorf("auditlog/pgstore: posture: %w", err)
	}
	const enableAlways = "ALTER TABLE auditlog_maintenance ENABLE ALWAYS TRIGGER auditlog_maintenance_recorded;"
	c := Check{Name: "trigger auditlog_maintenance_recorded on auditlog_maintenance exists and is enabled ALWAYS", OK: enabled == "A"}
	switch enabled {
	case "A":
	case "":
		c.Detail = "missing: a prune or hold lift could commit without its audit entry"
		c.Fix, c.Repairable = "CREATE CONSTRAINT TRIGGER auditlog_maintenance_recorded AFTER INSERT ON auditlog_maintenance "+
			"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION auditlog_maintenance_recorded(); "+enableAlways, true
	default:
		c.Detail = fmt.Sprintf("enabled %q, want ALWAYS (A)", enabled)
		c.Fix, c.Repairable = enableAlways, true
	}
	out = append(out, c)
	if appRole == "" {
		return out, nil
	}
	for _, fn := range retentionFunctions {
		var may, public bool
		if err := pool.QueryRow(ctx, `SELECT coalesce(has_function_privilege($1, to_regprocedure($2), 'EXECUTE'), false),
			coalesce(has_function_privilege('public', to_regprocedure($2), 'EXECUTE'), false)`, appRole, fn).Scan(&may, &public); err != nil {
			return out, fmt.Errorf("auditlog/pgstore: posture: %w", err)
		}
		// Through PUBLIC, the "PUBLIC cannot execute" check reports it and
		// its fix; this one names a grant to the role itself.
		c := Check{Name: fmt.Sprintf("app role %q cannot execute %s", appRole, fn), OK: !may || public}
		if !c.OK {
			c.Detail = "retention belongs to the maintenance role (WithMaintenanceRole)"
			c.Fix, c.Repairable = "REVOKE EXECUTE ON FUNCTION "+fn+" FROM "+ident(appRole)+";", true
		}
		out = append(out, c)
	}
	return out, nil
}
