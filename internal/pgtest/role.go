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
