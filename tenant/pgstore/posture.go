package pgstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Querier runs a query: *pgxpool.Pool, *pgx.Conn and pgx.Tx satisfy it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Finding is one result of Check.
type Finding struct {
	// Table is the schema-qualified table, or "" for a finding about the role.
	Table string `json:"table,omitempty"`
	// Check says what holds when OK, in plain words.
	Check string `json:"check"`
	OK    bool   `json:"ok"`
	// Fix is the statement that repairs a failed check.
	Fix string `json:"fix,omitempty"`
}

// Check examines the tenant posture of the tables in the connection's
// schemas (current_schemas) that have the column tenantColumn, for the
// application role appRole (the connection's own role when ""). It needs
// only catalog reads, so an operator runs it with any role.
func Check(ctx context.Context, db Querier, tenantColumn, appRole string) ([]Finding, error) {
	if tenantColumn == "" {
		return nil, fmt.Errorf("%w: empty tenant column", ErrBadIdentifier)
	}
	if appRole == "" {
		if err := db.QueryRow(ctx, `SELECT current_user`).Scan(&appRole); err != nil {
			return nil, fmt.Errorf("tenant/pgstore: check: %w", err)
		}
	}
	var out []Finding
	var super, bypass bool
	err := db.QueryRow(ctx, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1`, appRole).Scan(&super, &bypass)
	if err == pgx.ErrNoRows {
		return nil, fmt.Errorf("tenant/pgstore: check: role %q does not exist", appRole)
	}
	if err != nil {
		return nil, fmt.Errorf("tenant/pgstore: check: %w", err)
	}
	role := pgx.Identifier{appRole}.Sanitize()
	out = append(out,
		Finding{Check: fmt.Sprintf("application role %s is not a superuser", appRole), OK: !super, Fix: fix(super, "ALTER ROLE "+role+" NOSUPERUSER;")},
		Finding{Check: fmt.Sprintf("application role %s does not bypass row-level security", appRole), OK: !bypass, Fix: fix(bypass, "ALTER ROLE "+role+" NOBYPASSRLS;")},
	)

	rows, err := db.Query(ctx, `
		SELECT n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity,
		       pg_get_userbyid(c.relowner), pg_has_role($2, c.relowner, 'USAGE'),
		       format_type(a.atttypid, a.atttypmod),
		       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = $3 AND p.polpermissive
		               AND p.polcmd = '*' AND p.polroles = '{0}'
		               AND pg_get_expr(p.polqual, p.polrelid) LIKE '%' || quote_ident($1) || '%current_setting(''' || $4 || '''%'
		               AND pg_get_expr(p.polwithcheck, p.polrelid) LIKE '%' || quote_ident($1) || '%current_setting(''' || $4 || '''%'),
		       coalesce((SELECT array_agg(p.polname::text ORDER BY p.polname) FROM pg_policy p
		                 WHERE p.polrelid = c.oid AND p.polpermissive AND p.polname <> $3
		                   AND NOT (p.polname = $5 AND p.polroles = ARRAY[c.relowner])), '{}')
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND a.attnum > 0 AND NOT a.attisdropped
		WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY (current_schemas(false))
		ORDER BY n.nspname, c.relname`, tenantColumn, appRole, PolicyName, Setting, OwnerPolicyName)
	if err != nil {
		return nil, fmt.Errorf("tenant/pgstore: check: %w", err)
	}
	type tableRow struct {
		schema, name, owner, typ    string
		enabled, forced, ownedByApp bool
		policy                      bool
		others                      []string
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tableRow, error) {
		var t tableRow
		err := r.Scan(&t.schema, &t.name, &t.enabled, &t.forced, &t.owner, &t.ownedByApp, &t.typ, &t.policy, &t.others)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("tenant/pgstore: check: %w", err)
	}
	for _, t := range ts {
		name := t.schema + "." + t.name
		q := pgx.Identifier{t.schema, t.name}.Sanitize()
		protect, _ := ProtectSQL(Table{Name: name, Column: tenantColumn, Type: strings.ReplaceAll(t.typ, `"`, "")})
		out = append(out,
			Finding{Table: name, Check: "row-level security is enabled", OK: t.enabled,
				Fix: fix(!t.enabled, "ALTER TABLE "+q+" ENABLE ROW LEVEL SECURITY;")},
			Finding{Table: name, Check: "row-level security is forced on the owner too", OK: t.forced,
				Fix: fix(!t.forced, "ALTER TABLE "+q+" FORCE ROW LEVEL SECURITY;")},
			Finding{Table: name, Check: fmt.Sprintf("policy %s compares %s with %s", PolicyName, tenantColumn, Setting), OK: t.policy,
				Fix: fix(!t.policy, strings.TrimSpace(protect))},
			Finding{Table: name, Check: "no other permissive policy widens access", OK: len(t.others) == 0,
				Fix: fix(len(t.others) > 0, dropPolicies(q, t.others))},
			Finding{Table: name, Check: fmt.Sprintf("application role %s does not own the table (an owner can disable its policy)", appRole),
				OK: !t.ownedByApp, Fix: fix(t.ownedByApp, "ALTER TABLE "+q+" OWNER TO <a role the application does not log in as>;")},
		)
	}
	return out, nil
}

func fix(failed bool, stmt string) string {
	if !failed {
		return ""
	}
	return stmt
}

func dropPolicies(table string, names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "DROP POLICY %s ON %s;", pgx.Identifier{n}.Sanitize(), table)
	}
	return b.String()
}

// Failed returns the findings that did not pass.
func Failed(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if !f.OK {
			out = append(out, f)
		}
	}
	return out
}
