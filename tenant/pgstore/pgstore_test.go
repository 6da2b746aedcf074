package pgstore_test

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/tenant"
	"github.com/rampart-sdk/rampart/tenant/pgstore"
)

// env is a schema with a protected table "invoices" (and an unprotected
// "regions" to join), owned by the test's superuser, and a pool connected
// as a plain application role.
type env struct {
	db   *pgtest.DB
	role string
	app  *pgxpool.Pool
}

func newEnv(t *testing.T, poolSize int32) *env {
	t.Helper()
	ctx := context.Background()
	db := pgtest.New(t)
	_, err := db.Pool.Exec(ctx, `
		CREATE TABLE invoices (org text NOT NULL, id int NOT NULL, amount int NOT NULL, region text NOT NULL DEFAULT 'eu', PRIMARY KEY (org, id));
		CREATE TABLE regions (region text PRIMARY KEY, org text);
		INSERT INTO regions VALUES ('eu', 'o1'), ('us', 'o2')`)
	require.NoError(t, err)
	require.NoError(t, pgstore.Protect(ctx, db.Pool, pgstore.Table{Name: "invoices", Column: "org"}))
	var b [6]byte
	_, _ = crand.Read(b[:])
	role := "rampart_tenant_app_" + hex.EncodeToString(b[:])
	_, err = db.Pool.Exec(ctx, fmt.Sprintf(`CREATE ROLE %[1]s LOGIN;
		GRANT USAGE ON SCHEMA %[2]s TO %[1]s;
		GRANT SELECT, INSERT, UPDATE, DELETE ON invoices, regions TO %[1]s`, role, pgx.Identifier{db.Schema}.Sanitize()))
	require.NoError(t, err)
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	cfg.ConnConfig.User = role
	cfg.MaxConns = poolSize
	app, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		app.Close()
		_, _ = db.Pool.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = db.Pool.Exec(context.Background(), "DROP ROLE "+role)
	})
	// Seed as the owner: three invoices for o1, two for o2.
	for _, r := range []struct {
		org string
		id  int
	}{{"o1", 1}, {"o1", 2}, {"o1", 3}, {"o2", 1}, {"o2", 2}} {
		require.NoError(t, pgstore.Run(tenant.With(ctx, r.org), db.Pool, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO invoices (org, id, amount) VALUES ($1, $2, 100)`, r.org, r.id)
			return err
		}))
	}
	return &env{db: db, role: role, app: app}
}

// orgsSeen runs query as org (or with no Run when org is "") and returns the
// organisations of the rows it saw.
func orgsSeen(t *testing.T, db pgstore.Beginner, org, query string) ([]string, error) {
	t.Helper()
	var seen []string
	collect := func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, query)
		if err != nil {
			return err
		}
		seen, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}
	if org == "" {
		return seen, pgx.BeginFunc(context.Background(), db, func(tx pgx.Tx) error { return collect(context.Background(), tx) })
	}
	return seen, pgstore.Run(tenant.With(context.Background(), org), db, collect)
}

// TestUnfilteredQuerySeesOneTenant: no WHERE, and still only the bound
// organisation's rows; writes that would reach another organisation are
// refused.
func TestUnfilteredQuerySeesOneTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, 4)
	seen, err := orgsSeen(t, e.app, "o1", `SELECT org FROM invoices`)
	require.NoError(t, err)
	require.Equal(t, []string{"o1", "o1", "o1"}, seen)
	seen, err = orgsSeen(t, e.app, "o2", `SELECT org FROM invoices`)
	require.NoError(t, err)
	require.Equal(t, []string{"o2", "o2"}, seen)

	o1 := tenant.With(ctx, "o1")
	err = pgstore.Run(o1, e.app, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO invoices (org, id, amount) VALUES ('o2', 9, 1)`)
		return err
	})
	requireRLSViolation(t, err, "insert into another organisation")
	err = pgstore.Run(o1, e.app, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE invoices SET org = 'o2' WHERE id = 1`)
		return err
	})
	requireRLSViolation(t, err, "move a row to another organisation")
	var deleted int64
	err = pgstore.Run(o1, e.app, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM invoices`) // every row it can see: its own
		deleted = tag.RowsAffected()
		if err != nil {
			return err
		}
		return errors.New("roll back")
	})
	require.EqualError(t, err, "roll back")
	require.EqualValues(t, 3, deleted, "a DELETE with no WHERE reaches only the bound organisation's rows")
}

func requireRLSViolation(t *testing.T, err error, msg string) {
	t.Helper()
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr, msg)
	require.Equal(t, "42501", pgErr.Code, "%s: %s", msg, pgErr.Message) // insufficient_privilege: row-level security
}

// TestFailClosed: no organisation, an empty one, one with SQL
// metacharacters or one too long: nothing is seen, nothing is written.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, 2)

	// No Run at all: the setting is missing.
	seen, err := orgsSeen(t, e.app, "", `SELECT org FROM invoices`)
	require.NoError(t, err)
	require.Empty(t, seen, "a forgotten Run sees nothing")
	err = pgx.BeginFunc(ctx, e.app, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO invoices (org, id, amount) VALUES ('o1', 99, 1)`)
		return err
	})
	requireRLSViolation(t, err, "insert with no organisation")

	// An empty setting (set by hand) is no organisation either.
	err = pgx.BeginFunc(ctx, e.app, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('rampart.org', '', true)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT org FROM invoices`)
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.Empty(t, got, "empty setting")
		return err
	})
	require.NoError(t, err)

	// Run refuses before touching the database.
	err = pgstore.Run(ctx, e.app, func(context.Context, pgx.Tx) error { t.Fatal("ran without an organisation"); return nil })
	require.ErrorIs(t, err, tenant.ErrNoOrg)
	for _, org := range []string{"", strings.Repeat("x", tenant.MaxOrgLen+1), "o1\x00"} {
		err = pgstore.Run(tenant.With(ctx, org), e.app, func(context.Context, pgx.Tx) error { t.Fatal("ran"); return nil })
		require.ErrorIs(t, err, tenant.ErrNoOrg, "%q", org)
	}
	// Metacharacters travel as a parameter: a real, empty organisation.
	for _, org := range []string{"o1' OR '1'='1", "o1'); RESET rampart.org; --", `o1\`, "%", strings.Repeat("o", tenant.MaxOrgLen)} {
		seen, err := orgsSeen(t, e.app, org, `SELECT org FROM invoices`)
		require.NoError(t, err, org)
		require.Empty(t, seen, org)
	}
}

// TestAppRoleCannotEscape: inside a bound transaction the application role
// tries to turn row security off, disable it on the table, or drop the
// organisation; each is refused or leaves it with no rows.
func TestAppRoleCannotEscape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, 2)
	o1 := tenant.With(ctx, "o1")
	attempts := []struct {
		name   string
		escape string
		check  func(t *testing.T, seen []string, err error)
	}{
		{"row_security off", `SET LOCAL row_security = off`, func(t *testing.T, _ []string, err error) {
			var pgErr *pgconn.PgError
			require.ErrorAs(t, err, &pgErr, "a query that row security would filter fails instead")
			require.Equal(t, "42501", pgErr.Code)
		}},
		{"disable on the table", `ALTER TABLE invoices DISABLE ROW LEVEL SECURITY`, func(t *testing.T, _ []string, err error) {
			var pgErr *pgconn.PgError
			require.ErrorAs(t, err, &pgErr)
			require.Equal(t, "42501", pgErr.Code, "must be owner")
		}},
		{"drop the policy", `DROP POLICY rampart_tenant ON invoices`, func(t *testing.T, _ []string, err error) {
			var pgErr *pgconn.PgError
			require.ErrorAs(t, err, &pgErr)
			require.Equal(t, "42501", pgErr.Code, "must be owner")
		}},
		{"reset the organisation", `RESET rampart.org`, func(t *testing.T, seen []string, err error) {
			require.NoError(t, err)
			require.Empty(t, seen)
		}},
		{"empty the organisation", `SELECT set_config('rampart.org', NULL, true)`, func(t *testing.T, seen []string, err error) {
			require.NoError(t, err)
			require.Empty(t, seen)
		}},
	}
	for _, a := range attempts {
		var seen []string
		err := pgstore.Run(o1, e.app, func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, a.escape); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT org FROM invoices`)
			if err != nil {
				return err
			}
			seen, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		a.check(t, seen, err)
	}
	// Whatever was tried, the table is still protected for the next request.
	seen, err := orgsSeen(t, e.app, "o2", `SELECT org FROM invoices`)
	require.NoError(t, err)
	require.Equal(t, []string{"o2", "o2"}, seen)
}

// TestWhatRowSecurityCovers examines the paths around the policy, as the
// package doc describes them: COPY, views, SECURITY DEFINER functions and a
// JOIN to an unprotected table.
func TestWhatRowSecurityCovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, 2)
	o1 := tenant.With(ctx, "o1")

	// COPY TO is filtered; COPY FROM is refused on a protected table.
	require.NoError(t, pgstore.Run(o1, e.app, func(ctx context.Context, tx pgx.Tx) error {
		var out strings.Builder
		_, err := tx.Conn().PgConn().CopyTo(ctx, &out, `COPY invoices (org) TO STDOUT`)
		require.NoError(t, err)
		require.Equal(t, "o1\no1\no1\n", out.String(), "COPY TO applies the policy")
		return nil
	}))
	err := pgstore.Run(o1, e.app, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Conn().PgConn().CopyFrom(ctx, strings.NewReader("o2\t7\t1\teu\n"), `COPY invoices FROM STDIN`)
		return err
	})
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr, "COPY FROM is refused under row security")
	require.Equal(t, "0A000", pgErr.Code, pgErr.Message)

	// A view owned by the application role is filtered; one owned by the
	// superuser is not, unless it is security_invoker.
	_, err = e.app.Exec(ctx, `CREATE VIEW app_view AS SELECT org FROM invoices`)
	require.Error(t, err, "the app role has no CREATE on the schema")
	_, err = e.db.Pool.Exec(ctx, fmt.Sprintf(`
		CREATE VIEW owner_view AS SELECT org FROM invoices;
		CREATE VIEW invoker_view WITH (security_invoker = true) AS SELECT org FROM invoices;
		GRANT SELECT ON owner_view, invoker_view TO %s`, e.role))
	require.NoError(t, err)
	seen, err := orgsSeen(t, e.app, "o1", `SELECT org FROM invoker_view`)
	require.NoError(t, err)
	require.Equal(t, []string{"o1", "o1", "o1"}, seen, "a security_invoker view is filtered")
	seen, err = orgsSeen(t, e.app, "o1", `SELECT org FROM owner_view`)
	require.NoError(t, err)
	require.Len(t, seen, 5, "LEAK: a view owned by a superuser bypasses row security")

	// SECURITY DEFINER owned by a superuser leaks too.
	_, err = e.db.Pool.Exec(ctx, fmt.Sprintf(`
		CREATE FUNCTION count_all() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*) FROM invoices';
		GRANT EXECUTE ON FUNCTION count_all() TO %s`, e.role))
	require.NoError(t, err)
	seen, err = orgsSeen(t, e.app, "o1", `SELECT count_all()::text`)
	require.NoError(t, err)
	require.Equal(t, []string{"5"}, seen, "LEAK: a superuser's SECURITY DEFINER function bypasses row security")

	// A JOIN returns the unprotected table's rows as they are.
	seen, err = orgsSeen(t, e.app, "o1", `SELECT DISTINCT r.org FROM regions r LEFT JOIN invoices i ON i.region = r.region ORDER BY r.org`)
	require.NoError(t, err)
	require.Equal(t, []string{"o1", "o2"}, seen, "LEAK: regions has no policy; Check reports such tables")
}

// TestPooledRequestsNeverCross: 4 connections serve 1,000 interleaved
// requests for 50 organisations, some failing and rolling back midway; no
// request ever sees or writes another organisation's row.
func TestPooledRequestsNeverCross(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, 4)
	const orgs, requests, workers = 50, 1000, 8
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var crossed []string
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range jobs {
				org := fmt.Sprintf("org-%02d", rng.IntN(orgs))
				fail := rng.IntN(5) == 0
				err := pgstore.Run(tenant.With(ctx, org), e.app, func(ctx context.Context, tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, `INSERT INTO invoices (org, id, amount) VALUES ($1, $2, 1)`, org, 1000+i); err != nil {
						return err
					}
					rows, err := tx.Query(ctx, `SELECT org FROM invoices`)
					if err != nil {
						return err
					}
					seen, err := pgx.CollectRows(rows, pgx.RowTo[string])
					if err != nil {
						return err
					}
					for _, s := range seen {
						if s != org {
							mu.Lock()
							crossed = append(crossed, fmt.Sprintf("%s saw %s", org, s))
							mu.Unlock()
						}
					}
					if fail {
						return errors.New("handler failed")
					}
					return nil
				})
				if err != nil && !fail {
					t.Errorf("request %d: %v", i, err)
				}
			}
		}()
	}
	for i := range requests {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	require.Empty(t, crossed)

	// After all that, a connection of the pool holds no organisation.
	seen, err := orgsSeen(t, e.app, "", `SELECT org FROM invoices`)
	require.NoError(t, err)
	require.Empty(t, seen)
}

// TestRunJoinsCallerTransaction: given the caller's transaction, Run uses a
// savepoint, and refuses one bound to another organisation.
func TestRunJoinsCallerTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, 2)
	tx, err := e.app.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	require.NoError(t, pgstore.Run(tenant.With(ctx, "o1"), tx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO invoices (org, id, amount) VALUES ('o1', 50, 1)`)
		return err
	}))
	err = pgstore.Run(tenant.With(ctx, "o2"), tx, func(context.Context, pgx.Tx) error { t.Fatal("ran"); return nil })
	require.ErrorIs(t, err, pgstore.ErrOrgMismatch)
	var n int
	require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM invoices`).Scan(&n))
	require.Equal(t, 4, n, "the caller's transaction stays bound to o1 and sees its insert")
	require.NoError(t, tx.Rollback(ctx))
	seen, err := orgsSeen(t, e.app, "o1", `SELECT org FROM invoices`)
	require.NoError(t, err)
	require.Len(t, seen, 3, "rolled back with the caller's transaction")
}

func TestProtectSQLRefusesBadIdentifiers(t *testing.T) {
	t.Parallel()
	for _, tb := range []pgstore.Table{{Name: "", Column: "org"}, {Name: "a.b.c", Column: "org"}, {Name: "a.", Column: "org"},
		{Name: "t", Column: ""}, {Name: "t", Column: "org", Type: "text; DROP TABLE t"}} {
		_, err := pgstore.ProtectSQL(tb)
		require.ErrorIs(t, err, pgstore.ErrBadIdentifier, "%+v", tb)
	}
	sql, err := pgstore.ProtectSQL(pgstore.Table{Name: `billing.in"voices`, Column: "org_id", Type: "uuid"})
	require.NoError(t, err)
	require.Contains(t, sql, `"billing"."in""voices"`)
	require.Contains(t, sql, `"org_id" = NULLIF(current_setting('rampart.org', true), '')::uuid`)
}

// TestSettingIsExactlyTheOrg: on a pool (BEGIN and the setting in one round
// trip, the organisation written into the statement as hex) and in a caller's
// transaction (a bound parameter), the setting the policy reads is the
// organisation byte for byte, whatever quotes, backslashes or SQL it holds,
// and whatever standard_conforming_strings says.
func TestSettingIsExactlyTheOrg(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, 2)
	orgs := []string{"o1", "o1' OR '1'='1", "o1'); RESET rampart.org; --", `o1\`, `\'`, `'\\''`, "zürich 🏢", "$$", "E'x'",
		strings.Repeat(`\'`, tenant.MaxOrgLen/2)}
	read := func(db pgstore.Beginner, org string) string {
		var got string
		require.NoError(t, pgstore.Run(tenant.With(ctx, org), db, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT current_setting('rampart.org')`).Scan(&got)
		}))
		return got
	}
	for _, org := range orgs {
		require.Equal(t, org, read(e.app, org), "pool")
		tx, err := e.app.Begin(ctx)
		require.NoError(t, err)
		require.Equal(t, org, read(tx, org), "caller's transaction")
		require.NoError(t, tx.Rollback(ctx))
	}
	cfg := e.app.Config()
	cfg.ConnConfig.RuntimeParams["standard_conforming_strings"] = "off"
	legacy, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer legacy.Close()
	for _, org := range orgs {
		require.Equal(t, org, read(legacy, org), "standard_conforming_strings = off")
	}
}

// TestRunFor: the context's organisation wins over the operation's; a
// caller's bound transaction keeps its binding; an unbound one is bound for
// the call only and left unbound after it.
func TestRunFor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, 2)
	count := func(db pgstore.Beginner, ctx context.Context, org string) int {
		var n int
		require.NoError(t, pgstore.RunFor(ctx, db, org, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM invoices WHERE org = 'o2'`).Scan(&n)
		}))
		return n
	}
	require.NotZero(t, count(e.app, ctx, "o2"), "pool, operation's organisation")
	require.Zero(t, count(e.app, tenant.With(ctx, "o1"), "o2"), "pool, the context's organisation wins")
	require.ErrorIs(t, pgstore.RunFor(ctx, e.app, "", nil), tenant.ErrInvalidOrg)

	tx, err := e.app.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	require.NotZero(t, count(tx, ctx, "o2"), "unbound caller: bound for the call")
	var cur string
	require.NoError(t, tx.QueryRow(ctx, `SELECT coalesce(current_setting('rampart.org', true), '')`).Scan(&cur))
	require.Empty(t, cur, "and unbound again after it")
	_, err = tx.Exec(ctx, `SELECT set_config('rampart.org', 'o1', true)`)
	require.NoError(t, err)
	require.Zero(t, count(tx, ctx, "o2"), "bound caller: its organisation wins")
	require.NoError(t, tx.QueryRow(ctx, `SELECT current_setting('rampart.org')`).Scan(&cur))
	require.Equal(t, "o1", cur)
}

// TestKeepOwner: with KeepOwner the table's owner (not a superuser, so
// FORCE ROW LEVEL SECURITY applies to it) reads every row, the application
// role still reads only its organisation's, and Check accepts the owner's
// policy but not one granted to anyone else.
func TestKeepOwner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	schema := pgx.Identifier{db.Schema}.Sanitize()
	_, owner := db.Role(t, "rampart_tenant_owner", 1, "GRANT CREATE ON SCHEMA "+schema+" TO {role}")
	_, err := owner.Exec(ctx, `CREATE TABLE docs (org text NOT NULL, id int PRIMARY KEY)`)
	require.NoError(t, err)
	role, app := db.Role(t, "rampart_tenant_app", 1, "GRANT SELECT, INSERT ON "+schema+".docs TO {role}")
	require.NoError(t, pgstore.Protect(ctx, owner, pgstore.Table{Name: "docs", Column: "org", KeepOwner: true}))
	require.NoError(t, pgstore.Protect(ctx, db.Pool, pgstore.Table{Name: "docs", Column: "org", KeepOwner: true}),
		"a superuser applying it names the owner, not itself")
	for _, org := range []string{"o1", "o2"} {
		require.NoError(t, pgstore.Run(tenant.With(ctx, org), app, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO docs VALUES ($1, $2)`, org, len(org)+int(org[1]))
			return err
		}))
	}
	var n int
	require.NoError(t, owner.QueryRow(ctx, `SELECT count(*) FROM docs`).Scan(&n))
	require.Equal(t, 2, n, "the owner reads every row")
	require.NoError(t, app.QueryRow(ctx, `SELECT count(*) FROM docs`).Scan(&n))
	require.Zero(t, n, "the application role, unbound, none")
	fs, err := pgstore.Check(ctx, db.Pool, "org", role)
	require.NoError(t, err)
	require.Empty(t, pgstore.Failed(fs))

	_, err = db.Pool.Exec(ctx, `CREATE POLICY rampart_owner_wide ON docs FOR SELECT TO PUBLIC USING (true)`)
	require.NoError(t, err)
	fs, err = pgstore.Check(ctx, db.Pool, "org", role)
	require.NoError(t, err)
	checks, _ := failedChecks(t, fs)
	require.Equal(t, []string{db.Schema + ".docs: no other permissive policy widens access"}, checks)
}

// TestProtectConcurrently: instances starting at once all protect the same
// host table, and every call succeeds, leaving the table protected. Two
// things serialise them: ALTER TABLE's exclusive lock on the table (the
// test passes without the migration lock too) and the migration lock,
// which also orders Protect with rampart's migrations of the schema. The
// test guards against losing both, e.g. to a Protect that only creates
// policies.
func TestProtectConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	_, err := db.Pool.Exec(ctx, `CREATE TABLE notes (org text NOT NULL, id int PRIMARY KEY)`)
	require.NoError(t, err)
	pgtest.Concurrently(t, 5, 8, func() error {
		return pgstore.Protect(ctx, db.Pool, pgstore.Table{Name: "notes", Column: "org"})
	})
	fs, err := pgstore.Check(ctx, db.Pool, "org", "")
	require.NoError(t, err)
	var checked int
	for _, f := range fs {
		// The connection's role (the test's superuser) owns the table, so
		// only the ownership finding may fail here.
		if strings.HasSuffix(f.Table, ".notes") && !strings.Contains(f.Check, "does not own the table") {
			checked++
			require.True(t, f.OK, f.Check)
		}
	}
	require.Equal(t, 4, checked, "enabled, forced, the policy, no wider policy")
}
