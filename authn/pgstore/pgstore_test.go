package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/authn/authntest"
	"github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

func newStore(t *testing.T) authn.Store {
	pool := pgtest.Pool(t)
	require.NoError(t, pgstore.Migrate(context.Background(), pool))
	return mustNew(t, pool)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	authntest.TestStore(t, newStore)
}

// TestConformanceInTx runs the suite on stores bound to a transaction that
// commits when each subtest ends (the commit fails the test if any
// operation left the transaction aborted). The subtests that race
// goroutines on one store run pool-bound: a transaction is one connection,
// one statement at a time, and cannot stage a race between two sessions.
func TestConformanceInTx(t *testing.T) {
	t.Parallel()
	authntest.TestStore(t, func(t *testing.T) authn.Store {
		pool := pgtest.Pool(t)
		require.NoError(t, pgstore.Migrate(context.Background(), pool))
		return mustNew(t, pool).WithTx(pgtest.Tx(t, pool))
	}, authntest.WithConcurrentStore(newStore))
}

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	require.NoError(t, pgstore.Migrate(ctx, pool))
	require.NoError(t, pgstore.Migrate(ctx, pool))
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rampart_migrations WHERE component = 'authn'`).Scan(&n))
	require.Equal(t, 3, n, "one row per migration file, each applied once")

	// Session administration filters on (org, user_id): the index serving
	// it leads with org.
	var def string
	require.NoError(t, pool.QueryRow(ctx, `SELECT indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND indexname = 'authn_sessions_org_user'`).Scan(&def))
	require.Contains(t, def, "(org, user_id, created_at, id)")
}

// TestNoSecretsAtRest reads every stored row back and checks that no raw
// key, token or secret half of one appears in the database.
func TestNoSecretsAtRest(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	require.NoError(t, pgstore.Migrate(ctx, pool))
	s := mustNew(t, pool)
	p, err := authn.NewStaticPepper([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	keys, err := authn.NewAPIKeys(s, "atl_live", p)
	require.NoError(t, err)
	raw, _, err := keys.Create(ctx, authn.NewAPIKey{Org: "o", Owner: "u"})
	require.NoError(t, err)
	links, err := authn.NewMagicLinks(s)
	require.NoError(t, err)
	ml, err := links.Issue(ctx, authn.MagicLinkRequest{Email: "a@example.com", Purpose: "login"})
	require.NoError(t, err)
	sessions, err := authn.NewSessions(s)
	require.NoError(t, err)
	st, _, err := sessions.Create(ctx, authn.NewSession{UserID: "u"})
	require.NoError(t, err)
	pw, err := authn.NewPasswords()
	require.NoError(t, err)
	login, err := authn.NewPasswordLogin(pw, s)
	require.NoError(t, err)
	_, err = login.Check(ctx, authn.Client{Login: "Throttled.Login@example.com", Addr: "192.0.2.1"}, authn.Account{}, "guess")
	require.ErrorIs(t, err, authn.ErrPasswordMismatch)

	var dump string
	require.NoError(t, pool.QueryRow(ctx, `SELECT
		(SELECT string_agg(t::text, '|') FROM authn_api_keys t) ||
		(SELECT string_agg(t::text, '|') FROM authn_magic_links t) ||
		(SELECT string_agg(t::text, '|') FROM authn_sessions t) ||
		(SELECT string_agg(t::text, '|') FROM authn_throttle t)`).Scan(&dump))
	for _, secret := range []string{raw.Reveal(), ml.Reveal(), st.Reveal()} {
		require.NotContains(t, dump, secret[len(secret)-30:])
	}
	require.NotContains(t, strings.ToLower(dump), "throttled.login", "the throttle keeps logins only as hashes")
	// The documented SQL for an operator finds the login's bucket.
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM authn_throttle WHERE key = 'password:account:' ||
		encode(sha256(convert_to('authn-throttle:' || lower(trim(' Throttled.Login@example.com ')), 'UTF8')), 'hex')`).Scan(&n))
	require.Equal(t, 1, n)
}

// TestTwoInstancesConsumeOnce models two application instances, each with
// its own single-connection pool, clicking the same magic link at once:
// PostgreSQL lets exactly one of them consume it, every time.
func TestTwoInstancesConsumeOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	instance := func() *authn.MagicLinks {
		cfg, err := pgxpool.ParseConfig(db.URL)
		require.NoError(t, err)
		cfg.MaxConns = 1
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		links, err := authn.NewMagicLinks(mustNew(t, pool), authn.WithMagicLinkRateLimit(1000, time.Hour))
		require.NoError(t, err)
		return links
	}
	a, b := instance(), instance()
	for range 25 {
		tok, err := a.Issue(ctx, authn.MagicLinkRequest{Email: "race@example.com", Purpose: "login"})
		require.NoError(t, err)
		var wins atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, inst := range []*authn.MagicLinks{a, b} {
			wg.Go(func() {
				<-start
				_, err := inst.Consume(ctx, tok.Reveal(), "login")
				if err == nil {
					wins.Add(1)
				} else if !errors.Is(err, authn.ErrMagicLinkUsed) {
					t.Errorf("consume: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, int64(1), wins.Load())
	}
}

// TestCoalescedLookups runs many concurrent session and API key lookups
// through a store that may run only one lookup query at a time, so nearly
// all of them are answered in batches: every request must get exactly its
// own session or key, and a revocation that returned must be seen by every
// lookup that starts after it.
func TestCoalescedLookups(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	require.NoError(t, pgstore.Migrate(ctx, pool))
	store := mustNew(t, pool, pgstore.WithLookupConcurrency(1))
	sessions, err := authn.NewSessions(store)
	require.NoError(t, err)
	pepper, err := authn.NewStaticPepper([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	keys, err := authn.NewAPIKeys(store, "atl_live", pepper)
	require.NoError(t, err)

	const n = 40
	toks := make([]string, n)
	raws := make([]string, n)
	for i := range n {
		tok, _, err := sessions.Create(ctx, authn.NewSession{Org: "org", UserID: fmt.Sprint("user", i), Method: "password"})
		require.NoError(t, err)
		toks[i] = tok.Reveal()
		raw, _, err := keys.Create(ctx, authn.NewAPIKey{Org: "org", Owner: fmt.Sprint("owner", i), Scopes: []string{"x.read"}})
		require.NoError(t, err)
		raws[i] = raw.Reveal()
	}

	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for r := range 30 {
				i := (g*7 + r) % n
				s, err := sessions.Lookup(ctx, toks[i])
				if err != nil || s.UserID != fmt.Sprint("user", i) {
					t.Errorf("session %d: got %q, %v", i, s.UserID, err)
					return
				}
				k, err := keys.Verify(ctx, raws[i])
				if err != nil || k.Owner != fmt.Sprint("owner", i) {
					t.Errorf("key %d: got %q, %v", i, k.Owner, err)
					return
				}
			}
		})
	}
	wg.Wait()

	// Revoke half while lookups keep running; a lookup that starts after
	// Revoke returned must fail.
	var revoked [n]atomic.Bool
	var wg2 sync.WaitGroup
	stop := make(chan struct{})
	for g := range 16 {
		wg2.Go(func() {
			for r := 0; ; r++ {
				select {
				case <-stop:
					return
				default:
				}
				i := (g*5 + r) % n
				wasRevoked := revoked[i].Load()
				_, err := sessions.Lookup(ctx, toks[i])
				if wasRevoked && !errors.Is(err, authn.ErrSessionInvalid) {
					t.Errorf("session %d was revoked before the lookup started, got %v", i, err)
					return
				}
			}
		})
	}
	for i := 0; i < n; i += 2 {
		s, err := sessions.Lookup(ctx, toks[i])
		require.NoError(t, err)
		require.NoError(t, sessions.Revoke(ctx, "org", s.UserID, s.ID))
		revoked[i].Store(true)
	}
	close(stop)
	wg2.Wait()
}

// mustNew is pgstore.New for a test that expects its options to be valid.
func mustNew(t testing.TB, pool *pgxpool.Pool, opts ...pgstore.Option) pgstore.Store {
	t.Helper()
	s, err := pgstore.New(pool, opts...)
	require.NoError(t, err)
	return s
}

// idlePool is a pool that is never used: pgxpool.New connects lazily, so
// the constructor's checks run without a database.
func idlePool(t *testing.T) *pgxpool.Pool {
	return pgtest.IdlePool(t)
}

// New refuses what it cannot serve safely, naming it, with an error that
// matches authn.ErrInvalidConfig; it never keeps a default instead.
func TestNewRefusesInvalidConfig(t *testing.T) {
	t.Parallel()
	pool := idlePool(t)
	for name, tc := range map[string]struct {
		pool *pgxpool.Pool
		opts []pgstore.Option
		want string
	}{
		"nil pool":                    {nil, nil, "nil pool"},
		"nil option":                  {pool, []pgstore.Option{pgstore.WithTenantBinding(), nil}, "option 1 is nil"},
		"lookup concurrency 0":        {pool, []pgstore.Option{pgstore.WithLookupConcurrency(0)}, "WithLookupConcurrency(0): must be 1 to 64"},
		"lookup concurrency negative": {pool, []pgstore.Option{pgstore.WithLookupConcurrency(-3)}, "WithLookupConcurrency(-3)"},
		"lookup concurrency 65":       {pool, []pgstore.Option{pgstore.WithLookupConcurrency(65)}, "WithLookupConcurrency(65)"},
		// The first invalid option, in argument order; a later valid one
		// does not hide it.
		"invalid, then valid": {pool, []pgstore.Option{pgstore.WithLookupConcurrency(0), pgstore.WithLookupConcurrency(8)}, "WithLookupConcurrency(0)"},
		"invalid, then nil":   {pool, []pgstore.Option{pgstore.WithLookupConcurrency(0), nil}, "WithLookupConcurrency(0)"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := pgstore.New(tc.pool, tc.opts...)
			require.ErrorIs(t, err, authn.ErrInvalidConfig)
			require.ErrorContains(t, err, tc.want)
			require.Nil(t, s)
		})
	}
	for _, n := range []int{1, 64} {
		_, err := pgstore.New(pool, pgstore.WithLookupConcurrency(n), pgstore.WithTenantBinding())
		require.NoError(t, err, "the bounds are allowed: %d", n)
	}
}
