package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	auditpg "github.com/rampart-sdk/rampart/auditlog/pgstore"
	authnpg "github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/compliance"
	mfapg "github.com/rampart-sdk/rampart/mfa/pgstore"
	privacypg "github.com/rampart-sdk/rampart/privacy/pgstore"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

// ownProtected are rampart's components whose organisation-scoped tables
// the app puts under row-level security (protectOwnTables), each with its
// Protect and the tables that puts under the policy. Their other tables
// (magic links, the login throttle, mfa's attempts, the audit outbox and
// heads...) are left out by each package, which says why.
var ownProtected = []struct {
	name    string
	protect func(context.Context, tenantpg.Beginner, string) error
	tables  []string
}{
	{"authn", authnpg.Protect, authnpg.ProtectedTables()},
	{"mfa", mfapg.Protect, mfapg.ProtectedTables()},
	{"privacy", privacypg.Protect, privacypg.ProtectedTables()},
	{"auditlog", auditpg.Protect, auditpg.ProtectedTables()},
}

// protectOwnTables turns on the protection of rampart's own organisation-
// scoped tables, as the owner (pool), after every Migrate: it grants
// appRole the rows of authn's, mfa's and privacy's tables, whose stores
// serve requests as appRole with WithTenantBinding (the policies then
// filter those rows to the bound organisation), then runs each component's
// Protect. appRole gets nothing of the audit log but the outbox (Migrate's
// WithRecordRole): the writer, the relay and verification run as the owner,
// whom the rampart_owner policy admits to every chain. Every step is
// idempotent. A host running goose or golang-migrate applies each
// component's ProtectSQL instead.
//
// The grant and each Protect are steps of their own (migrationSteps).
func protectOwnTables(ctx context.Context, pool *pgxpool.Pool, appRole string) error {
	return migrationSteps(ctx, pool, func(conn *pgxpool.Conn) error {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT quote_ident(tablename) FROM pg_tables
				WHERE schemaname = current_schema() AND tablename ~ '^(authn|mfa|privacy)_' ORDER BY tablename`)
			if err != nil {
				return err
			}
			tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s`,
				strings.Join(tables, ", "), pgx.Identifier{appRole}.Sanitize()))
			return err
		})
		if err != nil {
			return fmt.Errorf("grant rampart's tables to %s: %w", appRole, err)
		}
		for _, c := range ownProtected {
			if err := c.protect(ctx, conn, appRole); err != nil {
				return fmt.Errorf("protect %s: %w", c.name, err)
			}
		}
		return nil
	})
}

// migrationSteps runs steps on one connection that holds the app's migration
// lock for the session, so that instances starting together migrate one
// after the other: a GRANT rewrites the same catalog rows as another
// instance's Protect ("tuple concurrently updated"). steps runs each step (a
// schema change, a table's Protect, a grant) in a transaction of its own, so
// that a starting instance never holds one table's lock while it waits for
// another's: a serving transaction that writes privacy's tables and then
// authn's (deleteAccount) would deadlock with an instance that held authn's
// while it protected privacy's. Every step is idempotent, so an instance
// that dies between two leaves the next start to finish them.
func migrationSteps(ctx context.Context, pool *pgxpool.Pool, steps func(conn *pgxpool.Conn) error) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended('saasapp.migrate', 0))`); err != nil {
		// Cancelled while waiting, the lock may still have been granted:
		// closing the connection releases whatever it holds.
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
		return err
	}
	defer func() {
		// A session lock must not go back to the pool with its connection:
		// if it cannot be released, closing the connection releases it.
		unlockCtx := context.WithoutCancel(ctx)
		if _, err := conn.Exec(unlockCtx, `SELECT pg_advisory_unlock(hashtextextended('saasapp.migrate', 0))`); err != nil {
			_ = conn.Conn().Close(unlockCtx)
		}
	}()
	return steps(conn)
}

// checkTenantIsolation is the evidence of compliance.SlotTenantIsolation,
// gathered live. On PostgreSQL it is tenantpg.Check (what `rampart doctor
// --tenant-column org --app-role ROLE` prints), run as the serving role on
// the app's organisation-scoped tables and on rampart's own (each
// component's ProtectedTables, as doctor checks them): each one under the
// rampart_tenant policy, enabled and forced, with no wider policy (rampart's
// tables may add rampart_owner, for their owner alone) and not owned by
// that role, which is no superuser and cannot bypass row security. A
// finding names the statement that fixes it. On memory stores there is no
// database to ask: the evidence says how the rows are kept apart instead,
// and does not claim row-level security.
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
	covered := isolatedTables()
	var failed []string
	seen := map[string]bool{}
	for _, f := range fs {
		table := f.Table
		if i := strings.LastIndexByte(table, '.'); i >= 0 {
			table = table[i+1:]
		}
		if f.Table != "" && !slices.Contains(covered, table) {
			continue // a table rampart leaves out by design (each package says why)
		}
		seen[table] = true
		if !f.OK {
			failed = append(failed, fmt.Sprintf("%s: not %q (fix: %s)", f.Table, f.Check, f.Fix))
		}
	}
	for _, t := range covered {
		if !seen[t] {
			failed = append(failed, t+": not found in the connection's schemas")
		}
	}
	if len(failed) > 0 {
		return compliance.CheckResult{Pass: false, Details: strings.Join(failed, "; ")}
	}
	own := make([]string, 0, len(ownProtected))
	for _, c := range ownProtected {
		own = append(own, c.name+" ("+strings.Join(c.tables, ", ")+")")
	}
	return compliance.CheckResult{Pass: true, Details: fmt.Sprintf("row-level security verified on %s, and on rampart's "+
		"own organisation-scoped tables: %s. Each is enabled, forced, under policy %s on org with no wider policy "+
		"(rampart's add %s, for their owner alone), and not owned by the serving role %s, which is no superuser and "+
		"does not bypass row-level security",
		strings.Join(protectedTables, ", "), strings.Join(own, "; "), tenantpg.PolicyName, tenantpg.OwnerPolicyName, role)}
}

// isolatedTables are the tables the tenant-isolation evidence examines:
// the app's and rampart's organisation-scoped ones.
func isolatedTables() []string {
	out := slices.Clone(protectedTables)
	for _, c := range ownProtected {
		out = append(out, c.tables...)
	}
	return out
}
