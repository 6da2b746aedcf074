package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	auditpg "github.com/rampart-sdk/rampart/auditlog/pgstore"
	authnpg "github.com/rampart-sdk/rampart/authn/pgstore"
	compliancepg "github.com/rampart-sdk/rampart/compliance/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgmigrate"
	keyringpg "github.com/rampart-sdk/rampart/keyring/pgstore"
	mfapg "github.com/rampart-sdk/rampart/mfa/pgstore"
	privacypg "github.com/rampart-sdk/rampart/privacy/pgstore"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

func migrateGroup() group {
	return group{
		name:    "migrate",
		summary: "the PostgreSQL schema of every package",
		verbs: []verb{
			{name: "up", summary: "apply every pending migration (idempotent; safe from several instances); --repair restores drifted audit triggers and grants", run: migrateUp},
			{name: "status", summary: "list applied and pending migrations; exit 1 if any is pending", run: migrateStatus},
		},
	}
}

// A component is one package's PostgreSQL schema.
type component struct {
	name    string
	migrate func(ctx context.Context, pool *pgxpool.Pool, o roleOptions) error
	files   func() fs.FS
	// protect puts the component's organisation-scoped tables under
	// row-level security for the given application role (--tenant-rls-role);
	// nil for a component without any.
	protect func(ctx context.Context, pool *pgxpool.Pool, appRole string) error
}

// roleOptions are what migrate up grants and stores beside the schemas.
type roleOptions struct {
	appRole         string
	maintenanceRole string
	relayRole       string
	recordRole      string
	auditRetention  *time.Duration // nil: leave the stored retention as it is
}

// plain adapts a Migrate that grants nothing to a role.
func plain(m func(context.Context, *pgxpool.Pool) error) func(context.Context, *pgxpool.Pool, roleOptions) error {
	return func(ctx context.Context, pool *pgxpool.Pool, _ roleOptions) error { return m(ctx, pool) }
}

// migrateAuditlog grants the application role INSERT and SELECT only on the
// audit tables, the maintenance role what pruning and lifting holds need, and
// stores the retention the database enforces, for those given.
func migrateAuditlog(ctx context.Context, pool *pgxpool.Pool, o roleOptions) error {
	var opts []auditpg.MigrateOption
	if o.appRole != "" {
		opts = append(opts, auditpg.WithAppRole(o.appRole))
	}
	if o.maintenanceRole != "" {
		opts = append(opts, auditpg.WithMaintenanceRole(o.maintenanceRole))
	}
	if o.relayRole != "" {
		opts = append(opts, auditpg.WithRelayRole(o.relayRole))
	}
	if o.recordRole != "" {
		opts = append(opts, auditpg.WithRecordRole(o.recordRole))
	}
	if o.auditRetention != nil {
		opts = append(opts, auditpg.WithRetention(*o.auditRetention))
	}
	return auditpg.Migrate(ctx, pool, opts...)
}

// parseRetention reads a retention as a Go duration or a number of days
// ("2555d" for seven years).
func parseRetention(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*366 {
			return 0, usageErr("--audit-retention %q: want a number of days (\"2555d\") or a duration (\"720h\")", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, usageErr("--audit-retention %q: want a number of days (\"2555d\") or a duration (\"720h\")", s)
	}
	return d, nil
}

// components lists the schemas in the order they are applied.
func components() []component {
	return []component{
		{"keyring", plain(keyringpg.Migrate), keyringpg.Migrations, nil},
		{"authn", plain(authnpg.Migrate), authnpg.Migrations, protect(authnpg.Protect)},
		{"mfa", plain(mfapg.Migrate), mfapg.Migrations, protect(mfapg.Protect)},
		{"auditlog", migrateAuditlog, auditpg.Migrations, protect(auditpg.Protect)},
		{"privacy", plain(privacypg.Migrate), privacypg.Migrations, protect(privacypg.Protect)},
		{"compliance", plain(compliancepg.Migrate), compliancepg.Migrations, nil},
	}
}

// auditWriterBypasses reports whether writer, the audit log's writer role,
// is named, is not the request-serving role, and has BYPASSRLS.
func auditWriterBypasses(ctx context.Context, pool *pgxpool.Pool, writer, serving string) (bool, error) {
	if writer == "" || writer == serving {
		return false, nil
	}
	var bypass bool
	err := pool.QueryRow(ctx, `SELECT rolbypassrls FROM pg_roles WHERE rolname = $1`, writer).Scan(&bypass)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return bypass, err
}

// protect adapts a pgstore's Protect to a component's protect.
func protect(f func(context.Context, tenantpg.Beginner, string) error) func(context.Context, *pgxpool.Pool, string) error {
	return func(ctx context.Context, pool *pgxpool.Pool, role string) error { return f(ctx, pool, role) }
}

// selectComponents returns the components named in only (comma-separated),
// or all of them when only is empty.
func selectComponents(only string) ([]component, error) {
	all := components()
	if only == "" {
		return all, nil
	}
	var out []component
	for _, name := range strings.Split(only, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, c := range all {
			if c.name == name {
				out = append(out, c)
				found = true
			}
		}
		if !found {
			return nil, usageErr("unknown component %q", name)
		}
	}
	return out, nil
}

// migrateUpReport is the --json output of migrate up.
type migrateUpReport struct {
	OK         bool                `json:"ok"`
	Components []componentUpResult `json:"components"`
	Repair     *repairResult       `json:"repair,omitempty"`
	// Protected names the components whose organisation-scoped tables
	// --tenant-rls-role put under row-level security.
	Protected []string `json:"protected,omitempty"`
}

// componentUpResult is what migrate up did to one package.
type componentUpResult struct {
	Component string `json:"component"`
	// Applied names the migrations this run applied, in order.
	Applied []string `json:"applied"`
	// AlreadyApplied counts the migrations found applied before the run.
	AlreadyApplied int `json:"already_applied"`
}

// repairResult is what migrate up --repair did to the audit log's posture.
type repairResult struct {
	// Applied are the SQL statements run, in order.
	Applied []string `json:"applied"`
	// Remaining are the checks still failing, each with its fix, which
	// migrate does not apply itself (role and ownership changes).
	Remaining []auditpg.Check `json:"remaining"`
}

func migrateUp(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "migrate up", "migrate up [--dsn URL] [--only keyring,authn,...] [--app-role ROLE] [--maintenance-role ROLE] [--relay-role ROLE] [--record-role ROLE] [--audit-retention 2555d] [--tenant-rls-role ROLE] [--repair] [--json]")
	dsn := dsnFlag(e, fs)
	only := fs.String("only", "", "comma-separated components to migrate (default all)")
	var roles roleOptions
	fs.StringVar(&roles.appRole, "app-role", "", "existing role the application connects as: granted INSERT and SELECT only on the audit tables")
	fs.StringVar(&roles.maintenanceRole, "maintenance-role", "", "existing role of the retention job: may prune audit payloads and lift holds, outside the retention only, each recorded in the chain")
	fs.StringVar(&roles.relayRole, "relay-role", "", "existing role of the process that relays the audit outbox into the chain, when it is not the app role")
	fs.StringVar(&roles.recordRole, "record-role", "", "existing role that may only record audit entries through the outbox (no access to the chain)")
	retention := fs.String("audit-retention", "", "how long audit payloads are kept before pruning is allowed (\"2555d\", \"720h\"); until set, pruning is refused")
	tenantRole := fs.String("tenant-rls-role", "", "then put the organisation-scoped tables of authn, mfa, privacy and auditlog under row-level security (an option; see docs/OPERATIONS.md), for this existing role that serves requests: it alone may call authn's directory functions")
	repair := fs.Bool("repair", false, "then restore the audit log's protective triggers and the app role's privileges where they drifted (what rampart doctor checks)")
	asJSON := fs.Bool("json", false, "print what was applied as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *retention != "" {
		d, err := parseRetention(*retention)
		if err != nil {
			return err
		}
		roles.auditRetention = &d
	}
	cs, err := selectComponents(*only)
	if err != nil {
		return err
	}
	if *repair && !slices.ContainsFunc(cs, func(c component) bool { return c.name == "auditlog" }) {
		return usageErr("--repair restores the auditlog schema's posture: include auditlog in --only")
	}
	pool, err := connect(ctx, *dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	rep := migrateUpReport{OK: true}
	for _, c := range cs {
		ms, err := pgmigrate.Load(c.files())
		if err != nil {
			return operational(fmt.Errorf("%s: %w", c.name, err))
		}
		before, err := appliedVersions(ctx, pool)
		if err != nil {
			return operational(err)
		}
		if err := c.migrate(ctx, pool, roles); err != nil {
			return operational(fmt.Errorf("%s: %w", c.name, err))
		}
		after, err := appliedVersions(ctx, pool)
		if err != nil {
			return operational(err)
		}
		res := componentUpResult{Component: c.name, Applied: []string{}}
		for _, m := range ms {
			switch {
			case before[c.name][m.Version]:
				res.AlreadyApplied++
			case after[c.name][m.Version]:
				// Recorded during this run: by this process, or by another
				// instance migrating at the same moment.
				res.Applied = append(res.Applied, m.Name)
			}
		}
		rep.Components = append(rep.Components, res)
		if !*asJSON {
			if len(res.Applied) == 0 {
				fmt.Fprintf(e.stdout, "%-12s up to date (%d %s)\n", c.name, res.AlreadyApplied, plural(res.AlreadyApplied, "migration", "migrations"))
			} else {
				fmt.Fprintf(e.stdout, "%-12s applied %s\n", c.name, strings.Join(res.Applied, ", "))
			}
		}
	}
	if *tenantRole != "" {
		for _, c := range cs {
			if c.protect == nil {
				continue
			}
			if c.name == "auditlog" {
				// Protected entries need a writer that reads every chain: a
				// role of its own with BYPASSRLS. Anything else would stop
				// the audit log, so it is left as it is, and said.
				ok, err := auditWriterBypasses(ctx, pool, roles.appRole, *tenantRole)
				if err != nil {
					return operational(err)
				}
				if !ok {
					if !*asJSON {
						fmt.Fprintf(e.stdout, "%-12s row-level security NOT turned on: the audit writer (--app-role) must be a role with BYPASSRLS other than %s\n", c.name, *tenantRole)
					}
					continue
				}
			}
			if err := c.protect(ctx, pool, *tenantRole); err != nil {
				return operational(fmt.Errorf("%s: %w", c.name, err))
			}
			rep.Protected = append(rep.Protected, c.name)
			if !*asJSON {
				fmt.Fprintf(e.stdout, "%-12s row-level security on, for %s\n", c.name, *tenantRole)
			}
		}
	}
	if *repair {
		applied, after, err := auditpg.Repair(ctx, pool, roles.appRole)
		if err != nil {
			return operational(err)
		}
		rep.Repair = &repairResult{Applied: append([]string{}, applied...), Remaining: after.Failed()}
		if rep.Repair.Remaining == nil {
			rep.Repair.Remaining = []auditpg.Check{}
		}
		rep.OK = len(rep.Repair.Remaining) == 0
		if !*asJSON {
			for _, s := range applied {
				fmt.Fprintf(e.stdout, "%-12s repaired: %s\n", "auditlog", s)
			}
			if len(applied) == 0 && rep.OK {
				fmt.Fprintf(e.stdout, "%-12s nothing to repair\n", "auditlog")
			}
			for _, c := range rep.Repair.Remaining {
				fmt.Fprintf(e.stdout, "%-12s NOT REPAIRED: %s: %s\n", "auditlog", c.Name, c.Detail)
				if c.Fix != "" {
					fmt.Fprintf(e.stdout, "%-12s   fix by hand: %s\n", "", c.Fix)
				}
			}
		}
	}
	if *asJSON {
		if err := writeJSON(e.stdout, rep); err != nil {
			return operational(err)
		}
	}
	if !rep.OK {
		return findings("%d audit log checks still fail after repair", len(rep.Repair.Remaining))
	}
	return nil
}

// componentStatus is one line of migrate status.
type componentStatus struct {
	Component string `json:"component"`
	Applied   []int  `json:"applied"`
	Pending   []int  `json:"pending"`
}

func migrateStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "migrate status", "migrate status [--dsn URL] [--json]")
	dsn := dsnFlag(e, fs)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	pool, err := connect(ctx, *dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	applied, err := appliedVersions(ctx, pool)
	if err != nil {
		return operational(err)
	}
	var out []componentStatus
	pending := 0
	for _, c := range components() {
		ms, err := pgmigrate.Load(c.files())
		if err != nil {
			return operational(err)
		}
		st := componentStatus{Component: c.name, Applied: []int{}, Pending: []int{}}
		for _, m := range ms {
			if applied[c.name][m.Version] {
				st.Applied = append(st.Applied, m.Version)
			} else {
				st.Pending = append(st.Pending, m.Version)
				pending++
			}
		}
		out = append(out, st)
	}
	if *asJSON {
		if err := writeJSON(e.stdout, out); err != nil {
			return operational(err)
		}
	} else {
		for _, st := range out {
			state := "up to date"
			if len(st.Pending) > 0 {
				state = fmt.Sprintf("%d pending %v", len(st.Pending), st.Pending)
			}
			fmt.Fprintf(e.stdout, "%-12s %d applied, %s\n", st.Component, len(st.Applied), state)
		}
	}
	if pending > 0 {
		return findings("%d migrations pending; run rampart migrate up", pending)
	}
	return nil
}

// appliedVersions reads rampart_migrations; a database never migrated has
// no such table, which means nothing is applied.
func appliedVersions(ctx context.Context, pool *pgxpool.Pool) (map[string]map[int]bool, error) {
	out := map[string]map[int]bool{}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('rampart_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		return out, nil
	}
	rows, err := pool.Query(ctx, `SELECT component, version FROM rampart_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		var v int
		if err := rows.Scan(&c, &v); err != nil {
			return nil, err
		}
		if out[c] == nil {
			out[c] = map[int]bool{}
		}
		out[c][v] = true
	}
	return out, rows.Err()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
