package main

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	auditpg "github.com/rampart-sdk/rampart/auditlog/pgstore"
	authnpg "github.com/rampart-sdk/rampart/authn/pgstore"
	compliancepg "github.com/rampart-sdk/rampart/compliance/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgmigrate"
	keyringpg "github.com/rampart-sdk/rampart/keyring/pgstore"
	mfapg "github.com/rampart-sdk/rampart/mfa/pgstore"
	privacypg "github.com/rampart-sdk/rampart/privacy/pgstore"
)

func migrateGroup() group {
	return group{
		name:    "migrate",
		summary: "the PostgreSQL schema of every package",
		verbs: []verb{
			{name: "up", summary: "apply every pending migration (idempotent; safe from several instances)", run: migrateUp},
			{name: "status", summary: "list applied and pending migrations; exit 1 if any is pending", run: migrateStatus},
		},
	}
}

// A component is one package's PostgreSQL schema.
type component struct {
	name    string
	migrate func(ctx context.Context, pool *pgxpool.Pool, appRole string) error
	files   func() fs.FS
}

// plain adapts a Migrate that grants nothing to a role.
func plain(m func(context.Context, *pgxpool.Pool) error) func(context.Context, *pgxpool.Pool, string) error {
	return func(ctx context.Context, pool *pgxpool.Pool, _ string) error { return m(ctx, pool) }
}

// migrateAuditlog grants the application role INSERT and SELECT only on the
// audit tables, when one is named.
func migrateAuditlog(ctx context.Context, pool *pgxpool.Pool, appRole string) error {
	if appRole == "" {
		return auditpg.Migrate(ctx, pool)
	}
	return auditpg.Migrate(ctx, pool, auditpg.WithAppRole(appRole))
}

// components lists the schemas in the order they are applied.
func components() []component {
	return []component{
		{"keyring", plain(keyringpg.Migrate), keyringpg.Migrations},
		{"authn", plain(authnpg.Migrate), authnpg.Migrations},
		{"mfa", plain(mfapg.Migrate), mfapg.Migrations},
		{"auditlog", migrateAuditlog, auditpg.Migrations},
		{"privacy", plain(privacypg.Migrate), privacypg.Migrations},
		{"compliance", plain(compliancepg.Migrate), compliancepg.Migrations},
	}
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

func migrateUp(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "migrate up", "migrate up [--dsn URL] [--only keyring,authn,...] [--app-role ROLE]")
	dsn := dsnFlag(e, fs)
	only := fs.String("only", "", "comma-separated components to migrate (default all)")
	appRole := fs.String("app-role", "", "existing role the application connects as: granted INSERT and SELECT only on the audit tables")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cs, err := selectComponents(*only)
	if err != nil {
		return err
	}
	pool, err := connect(ctx, *dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	for _, c := range cs {
		if err := c.migrate(ctx, pool, *appRole); err != nil {
			return operational(fmt.Errorf("%s: %w", c.name, err))
		}
		fmt.Fprintf(e.stdout, "%-12s up to date\n", c.name)
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
