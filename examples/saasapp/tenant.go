package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/rampart-sdk/rampart/compliance"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

// checkTenantIsolation is the evidence of compliance.SlotTenantIsolation,
// gathered live. On PostgreSQL it is tenantpg.Check (what `rampart doctor
// --tenant-column org --app-role ROLE` prints), run as the serving role on
// the app's organisation-scoped tables: each one under the rampart_tenant
// policy, enabled and forced, with no wider policy and not owned by that
// role, which is no superuser and cannot bypass row security. On memory
// stores there is no database to ask: the evidence says how the rows are
// kept apart instead, and does not claim row-level security.
func (a *app) checkTenantIsolation(ctx context.Context) compliance.CheckResult {
	if a.appPool == nil {
		return compliance.CheckResult{Pass: true, Details: "in-memory stores: no row-level security; the app's memory store " +
			"keeps rows apart in code (every read filters on the organisation it is given), and rbac refuses a request " +
			"for another organisation at the route"}
	}
	fs, err := tenantpg.Check(ctx, a.appPool, "org", "")
	if err != nil {
		return compliance.CheckResult{Pass: false, Details: err.Error()}
	}
	var role string
	if err := a.appPool.QueryRow(ctx, `SELECT current_user`).Scan(&role); err != nil {
		return compliance.CheckResult{Pass: false, Details: err.Error()}
	}
	var failed []string
	seen := map[string]bool{}
	for _, f := range fs {
		table := f.Table
		if i := strings.LastIndexByte(table, '.'); i >= 0 {
			table = table[i+1:]
		}
		if f.Table != "" && !slices.Contains(protectedTables, table) {
			continue // rampart's own stores' tables: see below
		}
		seen[table] = true
		if !f.OK {
			failed = append(failed, fmt.Sprintf("%s: not %q (fix: %s)", f.Table, f.Check, f.Fix))
		}
	}
	for _, t := range protectedTables {
		if !seen[t] {
			failed = append(failed, t+": not found in the connection's schemas")
		}
	}
	if len(failed) > 0 {
		return compliance.CheckResult{Pass: false, Details: strings.Join(failed, "; ")}
	}
	return compliance.CheckResult{Pass: true, Details: fmt.Sprintf("row-level security verified on %s: enabled, forced, "+
		"policy %s on org, no wider policy, not owned by the serving role %s, which is no superuser and does not bypass "+
		"row-level security. Not covered yet: rampart's own stores' "+
		"tables (sessions, API keys, MFA, privacy, audit), which scope every query by organisation in code",
		strings.Join(protectedTables, ", "), tenantpg.PolicyName, role)}
}
