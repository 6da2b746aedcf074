package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/authn"
	authnpg "github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/tenant"
)

// authnRLSStores returns two authn stores as the same kind of application
// role (not a superuser, owns nothing), each over its own schema seeded
// alike (20 organisations x 20 sessions of one user): one plain, one on
// tables under row-level security with WithTenantBinding.
func authnRLSStores(b *testing.B) (plain, bound authnpg.Store) {
	b.Helper()
	ctx := context.Background()
	mk := func(protect bool, opts ...authnpg.Option) authnpg.Store {
		r := pgtest.NewRoles(b, "rampart_bench_authn", authnpg.Migrate, func(ctx context.Context, owner *pgxpool.Pool, role string) error {
			if !protect {
				return nil
			}
			return authnpg.Protect(ctx, owner, role)
		})
		s, err := authnpg.New(r.App, opts...)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
		for o := range 20 {
			for i := range 20 {
				id := fmt.Sprintf("o%d-s%d", o, i)
				h := sha256.Sum256([]byte(id))
				if err := s.CreateSession(ctx, authn.SessionRecord{ID: id, TokenHash: h[:], Org: fmt.Sprintf("o%d", o), UserID: "u",
					Method: "password", CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
					b.Fatal(err)
				}
			}
		}
		return s
	}
	return mk(false), mk(true, authnpg.WithTenantBinding())
}

// BenchmarkAuthnRLS compares authn/pgstore's operations with tenant binding
// on protected tables against the same store on plain tables, interleaved
// call by call on the same machine: the lookup every request makes (a
// directory function instead of a query), a page of sessions (a bound
// transaction instead of one statement), and touching a session by ID with
// and without the organisation in the context.
func BenchmarkAuthnRLS(b *testing.B) {
	if err := pgtest.Available(context.Background()); err != nil {
		b.Skip(err)
	}
	plain, bound := authnRLSStores(b)
	at := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	ops := []struct {
		name string
		op   func(ctx context.Context, s authnpg.Store, i int) error
	}{
		{"lookup-by-token", func(ctx context.Context, s authnpg.Store, i int) error {
			h := sha256.Sum256(fmt.Appendf(nil, "o%d-s%d", i%20, i%19))
			_, err := s.SessionByTokenHash(ctx, h[:])
			return err
		}},
		{"list-page", func(ctx context.Context, s authnpg.Store, i int) error {
			_, err := s.ListSessions(ctx, fmt.Sprintf("o%d", i%20), "u", authn.ListPage{Limit: 20})
			return err
		}},
		{"touch-by-id", func(ctx context.Context, s authnpg.Store, i int) error {
			return s.TouchSession(ctx, fmt.Sprintf("o%d-s%d", i%20, i%19), at.Add(time.Duration(i)*time.Millisecond))
		}},
		{"touch-by-id-org-in-context", func(ctx context.Context, s authnpg.Store, i int) error {
			ctx = tenant.With(ctx, fmt.Sprintf("o%d", i%20))
			return s.TouchSession(ctx, fmt.Sprintf("o%d-s%d", i%20, i%19), at.Add(time.Duration(i)*time.Millisecond))
		}},
	}
	ctx := context.Background()
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			var tp, tb []float64
			i := 0
			for b.Loop() {
				start := time.Now()
				if err := o.op(ctx, plain, i); err != nil {
					b.Fatal(err)
				}
				mid := time.Now()
				if err := o.op(ctx, bound, i); err != nil {
					b.Fatal(err)
				}
				tp, tb = append(tp, float64(mid.Sub(start))), append(tb, float64(time.Since(mid)))
				i++
			}
			slices.Sort(tp)
			slices.Sort(tb)
			mp, mb := tp[len(tp)/2], tb[len(tb)/2]
			b.ReportMetric(mp, "plain-ns")
			b.ReportMetric(mb, "rls-ns")
			b.ReportMetric(mb/mp, "rls/plain")
		})
	}
}
