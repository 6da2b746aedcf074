// Package pgtest gives each test its own PostgreSQL schema on a shared server.
//
// Tests find the server through RAMPART_TEST_DATABASE_URL, defaulting to
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. When no server
// answers, the test is skipped, unless the CI environment variable is set, in
// which case it fails: a CI run that silently skipped every database test would
// prove nothing. The first skip of a test binary also prints one line saying
// why, outside the test log (see noticeWriter), so that a run which skipped
// every database test does not pass unnoticed.
//
// Every connection of the returned pool has search_path set to a schema made
// for the test alone and dropped at cleanup, so tests run in parallel without
// seeing each other's tables, and adapters under test must not hard-code a
// schema name.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL names the environment variable that points tests at a server.
const EnvURL = "RAMPART_TEST_DATABASE_URL"

// DefaultURL is used when EnvURL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// BaseURL returns the server URL tests use, without any schema selection.
func BaseURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// DB is a schema of its own on the test server.
type DB struct {
	// Pool's connections all have search_path set to Schema.
	Pool *pgxpool.Pool
	// Schema is the name of the test's schema.
	Schema string
	// URL connects to the same server with search_path set to Schema, for
	// code under test that opens its own connections (a CLI, a subprocess).
	URL string
}

// Pool is New(t).Pool: the common case.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return New(t).Pool
}

// New creates a fresh schema and a pool bound to it; both are removed when the
// test ends.
func New(t testing.TB) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	base := BaseURL()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		unreachable(t, err)
		return nil
	}
	defer admin.Close(context.Background())

	schema := "t_" + randomSuffix(t)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("pgtest: drop schema %s: %v", schema, err)
		}
	})

	schemaURL, err := WithSearchPath(base, schema)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	cfg, err := pgxpool.ParseConfig(schemaURL)
	if err != nil {
		t.Fatalf("pgtest: parse url: %v", err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	// Registered after the DROP SCHEMA cleanup, so it runs before it.
	t.Cleanup(pool.Close)
	return &DB{Pool: pool, Schema: schema, URL: schemaURL}
}

// WithSearchPath returns rawURL with its search_path set to schema, so that
// every connection opened from it (by pgx, psql or a subprocess) sees only
// that schema's tables.
func WithSearchPath(rawURL, schema string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("pgtest: parse url: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Available reports whether a server answers at BaseURL. Benchmarks and
// helpers that are not tests use it to decide whether to run.
func Available(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, BaseURL())
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

func unreachable(t testing.TB, err error) {
	t.Helper()
	if InCI() {
		t.Fatalf("pgtest: no PostgreSQL at %s (set %s): %v", redact(BaseURL()), EnvURL, err)
	}
	noticeSkip(err)
	t.Skipf("pgtest: no PostgreSQL at %s, skipping (set %s): %v", redact(BaseURL()), EnvURL, err)
}

// InCI reports whether the CI environment variable is set to something other
// than false: there a missing database is a failure, not a skip.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "0" && v != "false"
}

// redact hides a password in a URL before it reaches a test log.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable url)"
	}
	return u.Redacted()
}

func randomSuffix(t testing.TB) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return hex.EncodeToString(b[:])
}

// IdlePool returns a pool that points at no server (pgxpool connects
// lazily), for the checks a store must make before any statement: a
// constructor's options, an argument refused up front. A check that
// reached the database fails with a connection error instead of passing.
func IdlePool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), "postgres://rampart@127.0.0.1:1/none?sslmode=disable")
	if err != nil {
		t.Fatalf("pgtest: idle pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}
