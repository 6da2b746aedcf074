package pgtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Role creates a login role that is neither a superuser nor BYPASSRLS, with
// a name made of prefix and a random suffix (roles are cluster-wide, so
// parallel tests must not share one), and returns its name and a pool of
// up to poolSize connections that log in as it with search_path set to the
// test's schema. The role gets USAGE on the schema; grants holds further
// statements, run as the test's superuser, in which every "{role}" is the
// quoted role name. At cleanup the pool closes and the role and everything
// it owns are dropped.
func (db *DB) Role(t testing.TB, prefix string, poolSize int32, grants string) (string, *pgxpool.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	role := prefix + "_" + randomSuffix(t)
	q := pgx.Identifier{role}.Sanitize()
	stmt := fmt.Sprintf("CREATE ROLE %s LOGIN NOSUPERUSER NOBYPASSRLS; GRANT USAGE ON SCHEMA %s TO %s; %s",
		q, pgx.Identifier{db.Schema}.Sanitize(), q, strings.ReplaceAll(grants, "{role}", q))
	if _, err := db.Pool.Exec(ctx, stmt); err != nil {
		t.Fatalf("pgtest: create role %s: %v", role, err)
	}
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		t.Fatalf("pgtest: parse url: %v", err)
	}
	cfg.ConnConfig.User = role
	cfg.ConnConfig.Password = ""
	cfg.MaxConns = poolSize
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: connect as %s: %v", role, err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The schema is dropped after this (its cleanup was registered
		// first): what the role owns goes now, so the role can be dropped.
		if _, err := db.Pool.Exec(ctx, "DROP OWNED BY "+q+" CASCADE; DROP ROLE "+q); err != nil {
			t.Logf("pgtest: drop role %s: %v", role, err)
		}
	})
	return role, pool
}

// Roles is a schema of its own whose tables a migration role owns (not a
// superuser, so FORCE ROW LEVEL SECURITY applies to it too), and an
// application role that owns nothing and bypasses nothing, as a production
// deployment of a protected store has them.
type Roles struct {
	*DB
	// Owner is a pool of the migration role.
	Owner *pgxpool.Pool
	// AppRole is the application role's name, App a pool that logs in as it.
	AppRole string
	App     *pgxpool.Pool
}

// NewRoles creates the schema and both roles (names starting with prefix),
// runs migrate as the owner, grants the application role SELECT, INSERT,
// UPDATE and DELETE on every table, then runs protect as the owner.
func NewRoles(t testing.TB, prefix string, migrate func(context.Context, *pgxpool.Pool) error,
	protect func(context.Context, *pgxpool.Pool, string) error) *Roles {
	t.Helper()
	ctx := context.Background()
	db := New(t)
	schema := pgx.Identifier{db.Schema}.Sanitize()
	_, owner := db.Role(t, prefix+"_owner", 2, "GRANT CREATE ON SCHEMA "+schema+" TO {role}")
	if err := migrate(ctx, owner); err != nil {
		t.Fatalf("pgtest: migrate as owner: %v", err)
	}
	role, app := db.Role(t, prefix+"_app", 8, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "+schema+" TO {role}")
	if err := protect(ctx, owner, role); err != nil {
		t.Fatalf("pgtest: protect as owner: %v", err)
	}
	return &Roles{DB: db, Owner: owner, AppRole: role, App: app}
}
