package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

const authnLiveKeys = 256 // real keys/sessions verified in the loop; the rest is filler

func authnPepper(b *testing.B) *authn.StaticPepper {
	p, err := authn.NewStaticPepper([]byte("bench pepper: 32 bytes or more.."))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func randHash() []byte {
	var x [32]byte
	_, _ = rand.Read(x[:])
	return x[:]
}

// authnFillPG adds n filler API keys and sessions by COPY, so lookups run
// against a table of realistic size.
func authnFillPG(b *testing.B, pool *pgxpool.Pool, n int) {
	ctx := context.Background()
	now := time.Now().UTC()
	keys := make([][]any, n)
	sessions := make([][]any, n)
	for i := range n {
		id := fmt.Sprintf("fill%08d", i)
		keys[i] = []any{id, "atl_live", "org_" + strconv.Itoa(i%100), "owner", "", []string{"x.read"}, "hmac-sha256", randHash(), now}
		sessions[i] = []any{"sid_fill" + strconv.Itoa(i), randHash(), "org", "user" + strconv.Itoa(i%1000), now, now, now.Add(12 * time.Hour)}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"authn_api_keys"},
		[]string{"id", "prefix", "org", "owner", "name", "scopes", "hash_alg", "hash", "created_at"}, pgx.CopyFromRows(keys)); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"authn_sessions"},
		[]string{"id", "token_hash", "org", "user_id", "created_at", "last_seen_at", "expires_at"}, pgx.CopyFromRows(sessions)); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE authn_api_keys; ANALYZE authn_sessions"); err != nil {
		b.Fatal(err)
	}
}

// authnPG returns a pgstore on a fresh schema, migrated and filled, with a
// pool large enough for 32 concurrent requests.
func authnPG(b *testing.B) (pgstore.Store, *pgxpool.Pool) {
	return authnPGSized(b, benchRows(20000))
}

// authnPGSized is authnPG with n filler rows in each table.
func authnPGSized(b *testing.B, n int) (pgstore.Store, *pgxpool.Pool) {
	db := pgtest.New(b)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 32
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if err := pgstore.Migrate(ctx, pool); err != nil {
		b.Fatal(err)
	}
	authnFillPG(b, pool, n)
	s, err := pgstore.New(pool)
	if err != nil {
		b.Fatal(err)
	}
	return s, pool
}

func authnMakeKeys(b *testing.B, keys *authn.APIKeys, n int) []string {
	out := make([]string, n)
	for i := range out {
		raw, _, err := keys.Create(context.Background(), authn.NewAPIKey{Org: "org_bench", Owner: "u", Scopes: []string{"invoices.read"}})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = raw.Reveal()
	}
	return out
}

// authnLoads are the shapes of load the PostgreSQL rows are measured
// under: one client; 32 clients each sending its next request as soon as
// the last returns (the target's "32 concurrent requests", with the CPUs
// saturated); and bursts of 32 requests arriving together.
var authnLoads = []struct {
	name string
	run  func(b *testing.B, op func(i int) error)
}{
	{"1-concurrent", func(b *testing.B, op func(int) error) { authnConcurrent(b, 1, op) }},
	{"32-concurrent", func(b *testing.B, op func(int) error) { authnConcurrent(b, 32, op) }},
	{"32-burst", func(b *testing.B, op func(int) error) { authnBursts(b, 32, op) }},
}

// authnConcurrent runs b.N calls of op from exactly `clients` goroutines and
// reports the p50 and p99 latency of one call next to ns/op (which, under
// concurrent load, is the inverse of throughput).
func authnConcurrent(b *testing.B, clients int, op func(i int) error) {
	authnWarmUp(b, clients, op)
	var wg sync.WaitGroup
	var next atomic.Int64
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	steal := startSteal()
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				start := time.Now()
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	steal.report(b)
	reportLatency(b, lat)
}

// authnWarmUp runs op 100 times from each of clients goroutines, untimed:
// the pool dials its connections and each backend prepares the
// statements, as happens once per process.
func authnWarmUp(b *testing.B, clients int, op func(i int) error) {
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range 100 {
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// authnBursts runs b.N calls of op in bursts of size calls that start
// together, each burst after the previous one has finished: the latency of
// that many requests arriving at once at an otherwise idle server, where
// authnConcurrent measures it with every client busy all the time and the
// CPUs saturated.
func authnBursts(b *testing.B, size int, op func(i int) error) {
	authnWarmUp(b, size, op)
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	steal := startSteal()
	for first := 0; first < b.N; first += size {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := first; i < min(first+size, b.N); i++ {
			wg.Go(func() {
				<-start
				t0 := time.Now()
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			})
		}
		close(start)
		wg.Wait()
	}
	b.StopTimer()
	steal.report(b)
	reportLatency(b, lat)
}

// reportLatency adds the p50 and p99 of lat to the benchmark's metrics.
func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// BenchmarkAuthnAPIKeyVerify compares authn's API key verification (HMAC
// pepper, memory and PostgreSQL; bcrypt with its cache) with what a naive
// implementation pays: bcrypt on every request, or an unkeyed SHA-256 map.
func BenchmarkAuthnAPIKeyVerify(b *testing.B) {
	ctx := context.Background()
	b.Run("rampart/hmac/memory", func(b *testing.B) {
		keys, err := authn.NewAPIKeys(authn.NewMemoryStore(), "atl_live", authnPepper(b))
		if err != nil {
			b.Fatal(err)
		}
		raws := authnMakeKeys(b, keys, authnLiveKeys)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := keys.Verify(ctx, raws[i%len(raws)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rampart/bcrypt-cached/memory", func(b *testing.B) {
		keys, err := authn.NewAPIKeys(authn.NewMemoryStore(), "atl_live", nil, authn.WithAPIKeyBcrypt(time.Minute, 10000))
		if err != nil {
			b.Fatal(err)
		}
		raws := authnMakeKeys(b, keys, 4)
		for _, r := range raws { // warm the cache, as steady-state traffic does
			if _, err := keys.Verify(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := keys.Verify(ctx, raws[i%len(raws)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("peer/bcrypt12-every-request", func(b *testing.B) {
		h, err := bcrypt.GenerateFromPassword([]byte("0123456789abcdefghijABCDEFGHIJkl"), 12)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if err := bcrypt.CompareHashAndPassword(h, []byte("0123456789abcdefghijABCDEFGHIJkl")); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("peer/sha256-map/memory", func(b *testing.B) {
		m := map[string][32]byte{}
		var secrets []string
		for i := range authnLiveKeys {
			s := fmt.Sprintf("key-%d-%x", i, randHash())
			m[fmt.Sprint(i)] = sha256.Sum256([]byte(s))
			secrets = append(secrets, s)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			j := i % len(secrets)
			want := m[strconv.Itoa(j)]
			got := sha256.Sum256([]byte(secrets[j]))
			if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
				b.Fatal("mismatch")
			}
		}
	})
	for _, load := range authnLoads {
		b.Run("rampart/hmac/postgres-"+load.name, func(b *testing.B) {
			store, _ := authnPG(b)
			keys, err := authn.NewAPIKeys(store, "atl_live", authnPepper(b))
			if err != nil {
				b.Fatal(err)
			}
			raws := authnMakeKeys(b, keys, authnLiveKeys)
			for _, r := range raws { // first use writes last_used_at; steady state does not
				if _, err := keys.Verify(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			load.run(b, func(i int) error {
				_, err := keys.Verify(ctx, raws[i%len(raws)])
				return err
			})
		})
	}
}

// BenchmarkAuthnSessionLookup measures Sessions.Lookup on memory and, with
// 32 concurrent requests, on PostgreSQL.
func BenchmarkAuthnSessionLookup(b *testing.B) {
	ctx := context.Background()
	mk := func(b *testing.B, store authn.SessionStore) (*authn.Sessions, []string) {
		s, err := authn.NewSessions(store)
		if err != nil {
			b.Fatal(err)
		}
		var toks []string
		for i := range authnLiveKeys {
			t, _, err := s.Create(ctx, authn.NewSession{Org: "org", UserID: "bench" + strconv.Itoa(i), Method: "password"})
			if err != nil {
				b.Fatal(err)
			}
			toks = append(toks, t.Reveal())
		}
		return s, toks
	}
	b.Run("rampart/memory", func(b *testing.B) {
		s, toks := mk(b, authn.NewMemoryStore())
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := s.Lookup(ctx, toks[i%len(toks)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, load := range authnLoads {
		b.Run("rampart/postgres-"+load.name, func(b *testing.B) {
			store, _ := authnPG(b)
			s, toks := mk(b, store)
			b.ReportAllocs()
			load.run(b, func(i int) error {
				_, err := s.Lookup(ctx, toks[i%len(toks)])
				return err
			})
		})
	}
}

// BenchmarkAuthnPasswordHash reports the time of one password hash at
// authn's default (Argon2id, OWASP: m=19456 KiB, t=2, p=1) and of bcrypt at
// cost 12, the two configurations the package supports.
func BenchmarkAuthnPasswordHash(b *testing.B) {
	for _, tc := range []struct {
		name string
		opt  authn.PasswordsOption
	}{
		{"argon2id-m19456-t2-p1(OWASP)", authn.WithArgon2id(authn.DefaultArgon2Params())},
		{"bcrypt-cost12", authn.WithBcrypt(12)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p, err := authn.NewPasswords(tc.opt)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := p.Hash(context.Background(), "correct horse battery staple"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/hash")
		})
	}
}

// BenchmarkAuthnLoginThrottle measures what the login throttle adds to a
// password login on PostgreSQL: each iteration runs one login through
// PasswordLogin.Check (policy read, throttle transaction, Argon2id at the
// default parameters, the pair bucket emptied on success) and one through
// the same steps without the throttle (policy read, Argon2id), alternating
// so both see the same machine state. It reports the time of each and
// the ratio with/without, and, measured directly because the Argon2id
// time's noise on a busy machine exceeds it, the throttle's own store work
// per login (the attempt's transaction and the reset of its pair bucket).
func BenchmarkAuthnLoginThrottle(b *testing.B) {
	ctx := context.Background()
	store, _ := authnPG(b)
	pw, err := authn.NewPasswords()
	if err != nil {
		b.Fatal(err)
	}
	hash, err := pw.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	login, err := authn.NewPasswordLogin(pw, store)
	if err != nil {
		b.Fatal(err)
	}
	acct := authn.Account{Found: true, Org: "org_bench", PasswordHash: hash}
	lim := authn.DefaultThrottleLimits()
	var with, without, direct time.Duration
	b.ResetTimer()
	for i := range b.N {
		c := authn.Client{Login: fmt.Sprintf("user%d@example.com", i%1000), Addr: fmt.Sprintf("2001:db8:%x::1", i%5000)}
		t0 := time.Now()
		if _, err := login.Check(ctx, c, acct, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := store.OrgPolicy(ctx, acct.Org); err != nil {
			b.Fatal(err)
		}
		if _, err := pw.Verify(ctx, "correct horse battery staple", hash); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		k, p := authn.ThrottleLoginKey(c.Login+"-direct"), fmt.Sprintf("2001:db8:%x::/64", i%5000)
		pair := "password:pair:" + k + ":" + p
		if _, err := store.TakeThrottle(ctx, []authn.ThrottleRule{
			{Key: pair, Limit: lim.Pair, Window: lim.Window},
			{Key: "password:address:" + p + "-direct", Limit: lim.Address, Window: lim.Window},
			{Key: "password:account:" + k, Limit: lim.Account, Window: lim.Window},
		}, time.Now()); err != nil {
			b.Fatal(err)
		}
		if _, err := store.DeleteThrottle(ctx, pair); err != nil {
			b.Fatal(err)
		}
		with, without, direct = with+t1.Sub(t0), without+t2.Sub(t1), direct+time.Since(t2)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(with.Microseconds())/n, "µs/login-throttled")
	b.ReportMetric(float64(without.Microseconds())/n, "µs/login-unthrottled")
	b.ReportMetric(float64(direct.Microseconds())/n, "µs/throttle-store")
	b.ReportMetric(float64(with)/float64(without), "ratio")
}
