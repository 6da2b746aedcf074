package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/tenant"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

const (
	tenantOrgs       = 50
	tenantRowsPerOrg = 2000
)

// tenantFixture creates two identical tables of 50 organisations x 2,000
// rows, rls_invoices under tenant/pgstore's policy and plain_invoices
// without, each with the primary key (org, id) and the page index (org,
// created_at, id), and returns a pool of a non-superuser application role
// that may read both: row security binds it, and only it differs between
// the two.
func tenantFixture(b *testing.B) *pgxpool.Pool {
	b.Helper()
	ctx := context.Background()
	db := pgtest.New(b)
	for _, t := range []string{"rls_invoices", "plain_invoices"} {
		_, err := db.Pool.Exec(ctx, fmt.Sprintf(`
			CREATE TABLE %[1]s (org text NOT NULL, id bigint NOT NULL, amount bigint NOT NULL, created_at timestamptz NOT NULL, PRIMARY KEY (org, id));
			CREATE INDEX %[1]s_page ON %[1]s (org, created_at, id);
			INSERT INTO %[1]s SELECT 'org-' || o, i, i * 7, timestamptz '2026-01-01' + i * interval '1 second'
				FROM generate_series(1, %[2]d) o, generate_series(1, %[3]d) i;
			`, t, tenantOrgs, tenantRowsPerOrg))
		if err != nil {
			b.Fatal(err)
		}
		// Hint bits and the visibility map set now, not during the first
		// variant measured.
		if _, err := db.Pool.Exec(ctx, "VACUUM (FREEZE, ANALYZE) "+t); err != nil {
			b.Fatal(err)
		}
	}
	if err := tenantpg.Protect(ctx, db.Pool, tenantpg.Table{Name: "rls_invoices", Column: "org"}); err != nil {
		b.Fatal(err)
	}
	var r [6]byte
	_, _ = crand.Read(r[:])
	role := "rampart_bench_app_" + hex.EncodeToString(r[:])
	if _, err := db.Pool.Exec(ctx, fmt.Sprintf(`CREATE ROLE %[1]s LOGIN NOSUPERUSER NOBYPASSRLS;
		GRANT USAGE ON SCHEMA %[2]s TO %[1]s; GRANT SELECT ON rls_invoices, plain_invoices TO %[1]s`,
		role, pgx.Identifier{db.Schema}.Sanitize())); err != nil {
		b.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.User = role
	cfg.MaxConns = 1 // one connection: every variant pays the same round trips
	app, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		app.Close()
		_, _ = db.Pool.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = db.Pool.Exec(context.Background(), "DROP ROLE "+role)
	})
	return app
}

// BenchmarkTenantRLS compares, as the same non-superuser role on one
// connection, a query through tenantpg.Run (BEGIN, set_config, the query
// with no WHERE org, COMMIT; row security adds the organisation) with the
// same query carrying an explicit WHERE org = $1 on a table without row
// security: in the same transaction shape (BEGIN, query, COMMIT, so the
// ratio is the cost of row security and the set_config round trip), and as
// one bare statement (what a host without tenant transactions runs).
// Shapes: one row by its key, and a keyset page of 100 rows. Every
// iteration asks for another organisation and row. The custom metrics are
// each variant's median and the ratios of the medians.
func BenchmarkTenantRLS(b *testing.B) {
	app := tenantFixture(b)
	ctx := context.Background()
	orgs := make([]string, tenantOrgs)
	bound := make([]context.Context, tenantOrgs)
	for i := range orgs {
		orgs[i] = fmt.Sprintf("org-%d", i+1)
		bound[i] = tenant.With(ctx, orgs[i])
	}
	after := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const (
		rowRLS    = `SELECT amount FROM rls_invoices WHERE id = $1`
		rowWhere  = `SELECT amount FROM plain_invoices WHERE org = $1 AND id = $2`
		pageRLS   = `SELECT id, amount, created_at FROM rls_invoices WHERE (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT 100`
		pageWhere = `SELECT id, amount, created_at FROM plain_invoices WHERE org = $1 AND (created_at, id) > ($2, $3) ORDER BY created_at, id LIMIT 100`
	)
	page := func(ctx context.Context, q interface {
		Query(context.Context, string, ...any) (pgx.Rows, error)
	}, sql string, args ...any) error {
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			var id, amount int64
			var at time.Time
			if err := rows.Scan(&id, &amount, &at); err != nil {
				return err
			}
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n != 100 {
			return fmt.Errorf("page of %d rows", n)
		}
		return nil
	}
	offset := func(i int) int64 { return int64(i*37) % (tenantRowsPerOrg - 200) }
	setOrg := func(tx pgx.Tx, org string) error {
		_, err := tx.Exec(ctx, `SELECT set_config('`+tenantpg.Setting+`', $1, true)`, org)
		return err
	}
	row := [4]func(i int) error{
		func(i int) error { // tenantpg.Run, no WHERE org
			return tenantpg.Run(bound[i%tenantOrgs], app, func(ctx context.Context, tx pgx.Tx) error {
				var a int64
				return tx.QueryRow(ctx, rowRLS, int64(i%tenantRowsPerOrg)+1).Scan(&a)
			})
		},
		func(i int) error { // BEGIN, WHERE org, COMMIT
			return pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
				var a int64
				return tx.QueryRow(ctx, rowWhere, orgs[i%tenantOrgs], int64(i%tenantRowsPerOrg)+1).Scan(&a)
			})
		},
		func(i int) error { // one statement, WHERE org
			var a int64
			return app.QueryRow(ctx, rowWhere, orgs[i%tenantOrgs], int64(i%tenantRowsPerOrg)+1).Scan(&a)
		},
		func(i int) error { // Run's exact shape (BEGIN, set_config, query, COMMIT) on the table without row security
			return pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
				if err := setOrg(tx, orgs[i%tenantOrgs]); err != nil {
					return err
				}
				var a int64
				return tx.QueryRow(ctx, rowWhere, orgs[i%tenantOrgs], int64(i%tenantRowsPerOrg)+1).Scan(&a)
			})
		},
	}
	pages := [4]func(i int) error{
		func(i int) error {
			return tenantpg.Run(bound[i%tenantOrgs], app, func(ctx context.Context, tx pgx.Tx) error {
				return page(ctx, tx, pageRLS, after.Add(time.Duration(offset(i))*time.Second), offset(i))
			})
		},
		func(i int) error {
			return pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
				return page(ctx, tx, pageWhere, orgs[i%tenantOrgs], after.Add(time.Duration(offset(i))*time.Second), offset(i))
			})
		},
		func(i int) error {
			return page(ctx, app, pageWhere, orgs[i%tenantOrgs], after.Add(time.Duration(offset(i))*time.Second), offset(i))
		},
		func(i int) error {
			return pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
				if err := setOrg(tx, orgs[i%tenantOrgs]); err != nil {
					return err
				}
				return page(ctx, tx, pageWhere, orgs[i%tenantOrgs], after.Add(time.Duration(offset(i))*time.Second), offset(i))
			})
		},
	}
	// The four variants run interleaved, each iteration all four in turn,
	// so that load from other processes falls on all of them alike; ns/op
	// is their sum, the per-variant medians and their ratios are the
	// result. rls/same-shape compares Run with the identical round trips on
	// the table without row security: the cost of the policy itself.
	// rls/tx adds set_config's round trip, rls/bare BEGIN and COMMIT too.
	for _, shape := range []struct {
		name string
		run  [4]func(int) error
	}{{"row", row}, {"page100", pages}} {
		b.Run(shape.name, func(b *testing.B) {
			b.ReportAllocs()
			var took [4][]time.Duration
			i := 0
			for b.Loop() {
				for v, run := range shape.run {
					start := time.Now()
					if err := run(i); err != nil {
						b.Fatal(err)
					}
					took[v] = append(took[v], time.Since(start))
				}
				i++
			}
			var med [4]float64
			for v := range took {
				slices.Sort(took[v])
				med[v] = float64(took[v][len(took[v])/2].Nanoseconds())
			}
			b.ReportMetric(med[0], "rls-run-ns")
			b.ReportMetric(med[1], "where-org-tx-ns")
			b.ReportMetric(med[2], "where-org-bare-ns")
			b.ReportMetric(med[3], "where-org-tx+set-ns")
			b.ReportMetric(med[0]/med[3], "rls/same-shape")
			b.ReportMetric(med[0]/med[1], "rls/tx")
			b.ReportMetric(med[0]/med[2], "rls/bare")
		})
	}
}
