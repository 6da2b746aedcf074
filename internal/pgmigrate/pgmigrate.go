// Package pgmigrate applies the embedded SQL migrations of rampart's pgstore
// packages.
//
// Each component (keyring, auditlog, ...) ships files named NNN_name.sql. The
// files are plain SQL that goose and golang-migrate users can apply with their
// own tools: a "-- +goose Up" header is a comment to PostgreSQL, and anything
// after a "-- +goose Down" line is never run here. Applied versions are recorded
// per component in rampart_migrations, in the schema of the connection's
// search_path, so migrations are idempotent and concurrent callers (several
// application instances starting at once) serialise on an advisory lock.
package pgmigrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrBadName reports a migration file whose name is not NNN_name.sql.
var ErrBadName = errors.New("pgmigrate: migration file name must be NNN_name.sql")

// Migration is one file of a component.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads the *.sql files at the root of fsys in version order.
func Load(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("pgmigrate: %w", err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("%w: %q", ErrBadName, e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("pgmigrate: version %d used by %q and %q", v, other, e.Name())
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("pgmigrate: %w", err)
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: upPart(string(b))})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// upPart drops a goose Down section, which must never run on migrate.
func upPart(sql string) string {
	if i := strings.Index(sql, "-- +goose Down"); i >= 0 {
		return sql[:i]
	}
	return sql
}

// Apply applies, in one transaction, every migration of component in fsys that
// the database has not recorded yet.
func Apply(ctx context.Context, pool *pgxpool.Pool, component string, fsys fs.FS) error {
	ms, err := Load(fsys)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := Lock(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS rampart_migrations (
			component  text        NOT NULL,
			version    integer     NOT NULL,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (component, version))`); err != nil {
			return fmt.Errorf("pgmigrate: %w", err)
		}
		applied := map[int]bool{}
		rows, err := tx.Query(ctx, `SELECT version FROM rampart_migrations WHERE component = $1`, component)
		if err != nil {
			return fmt.Errorf("pgmigrate: %w", err)
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return fmt.Errorf("pgmigrate: %w", err)
			}
			applied[v] = true
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("pgmigrate: %w", err)
		}
		for _, m := range ms {
			if applied[m.Version] {
				continue
			}
			// No arguments: pgx sends it with the simple protocol, so a file
			// may hold many statements.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("pgmigrate: %s %s: %w", component, m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO rampart_migrations (component, version, name) VALUES ($1, $2, $3)`,
				component, m.Version, m.Name); err != nil {
				return fmt.Errorf("pgmigrate: %w", err)
			}
		}
		return nil
	})
}

// Lock takes, for the rest of tx, the advisory lock that Apply holds while
// it migrates the connection's current schema (per schema, so parallel
// tests in separate schemas do not wait on each other). Advisory locks are
// re-entrant within a session, so taking it again in the same transaction
// is harmless.
func Lock(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('rampart.migrate:' || current_schema()))`); err != nil {
		return fmt.Errorf("pgmigrate: lock: %w", err)
	}
	return nil
}

// Exec runs stmts, in order, in one transaction under Lock. Statements
// that rewrite a catalog row (GRANT, REVOKE, CREATE OR REPLACE FUNCTION,
// CREATE POLICY) fail with "tuple concurrently updated" when another
// session rewrites the same row at the same moment, as several instances
// migrating at once do; under the lock they run one instance after the
// other. A statement without arguments may hold several statements. An
// error names the statement that failed.
func Exec(ctx context.Context, pool *pgxpool.Pool, stmts ...string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := Lock(ctx, tx); err != nil {
			return err
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})
}
