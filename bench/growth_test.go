package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rampart-sdk/rampart/auditlog"
	auditpg "github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/rbac"
)

// growthBase is the smallest of the three sizes (a factor of 10 apart) the
// growth benchmarks measure in one run: RAMPART_BENCH_GROWTH, or 100 so
// that CI's single run stays quick. docs/BENCHMARKS.md records the runs at
// RAMPART_BENCH_GROWTH=1000 and 10000.
func growthBase() int {
	if n, err := strconv.Atoi(os.Getenv("RAMPART_BENCH_GROWTH")); err == nil && n > 0 {
		return n
	}
	return 100
}

// interleave runs op for each of the three sizes in turn, blocks of block
// calls at a time, until each has run b.N times, and returns each size's
// total time: the three sizes see the same load.
func interleave(b *testing.B, block int, op func(size, i int) error) [3]time.Duration {
	var d [3]time.Duration
	for done := 0; done < b.N; done += block {
		k := min(block, b.N-done)
		for s := range 3 {
			t0 := time.Now()
			for i := done; i < done+k; i++ {
				if err := op(s, i); err != nil {
					b.Fatal(err)
				}
			}
			d[s] += time.Since(t0)
		}
	}
	return d
}

// reportGrowth reports the mean per call at each size and the ratios
// between consecutive sizes (10x the work each).
func reportGrowth(b *testing.B, unit string, sizes [3]int, d [3]time.Duration, perCall [3]float64) {
	for s := range 3 {
		b.ReportMetric(float64(d[s].Nanoseconds())/perCall[s], fmt.Sprintf("ns/%s@%d", unit, sizes[s]))
	}
	b.ReportMetric(float64(d[1])/float64(d[0]), "ratio-2/1")
	b.ReportMetric(float64(d[2])/float64(d[1]), "ratio-3/2")
}

// BenchmarkGrowthRBACDecide: Decide with 6, 60 and 600 roles (each role
// including the one below it, so the top role inherits everything) and 5,
// 50 and 500 permissions (rbac.MaxPermissions is 512), the principal's role
// and the permission varying call to call.
func BenchmarkGrowthRBACDecide(b *testing.B) {
	type set struct {
		pol   *rbac.Policy
		users []rbac.Principal
		perms []rbac.Permission
	}
	var sets [3]set
	roles := [3]int{6, 60, 600}
	for s, nr := range roles {
		np := [3]int{5, 50, 500}[s]
		reg := rbac.NewRegistry()
		perms := make([]rbac.Permission, np)
		for i := range perms {
			perms[i] = reg.Permission("res"+strconv.Itoa(i)+".read", "permission "+strconv.Itoa(i))
		}
		rs := make([]rbac.Role, nr)
		for i := range rs {
			rs[i] = reg.Role("role"+strconv.Itoa(i), "role "+strconv.Itoa(i)).Grants(perms[i*np/nr])
			if i > 0 {
				rs[i].Includes(rs[i-1])
			}
		}
		pol, err := reg.Build()
		if err != nil {
			b.Fatal(err)
		}
		users := make([]rbac.Principal, nr)
		for i, r := range rs {
			users[i] = rbac.User("u"+strconv.Itoa(i), "acme", r)
		}
		sets[s] = set{pol, users, perms}
	}
	var sink int
	b.ResetTimer()
	d := interleave(b, 1024, func(s, i int) error {
		st := &sets[s]
		if st.pol.Decide(st.users[(i*7)%len(st.users)], st.perms[(i*13)%len(st.perms)], "acme").Allowed() {
			sink++
		}
		return nil
	})
	b.StopTimer()
	n := float64(b.N)
	reportGrowth(b, "decision", roles, d, [3]float64{n, n, n})
	_ = sink
}

// BenchmarkGrowthSessionLookupPG: a session lookup, then an API key
// verification, on PostgreSQL (one client) against tables of base, 10x and
// 100x filler sessions and API keys, interleaved in blocks of 64 calls.
func BenchmarkGrowthSessionLookupPG(b *testing.B) {
	ctx := context.Background()
	base := growthBase()
	sizes := [3]int{base, 10 * base, 100 * base}
	var sess [3]*authn.Sessions
	var keys [3]*authn.APIKeys
	var toks, raws [3][]string
	for s, n := range sizes {
		db, _ := authnPGSized(b, n)
		var err error
		if sess[s], err = authn.NewSessions(db); err != nil {
			b.Fatal(err)
		}
		if keys[s], err = authn.NewAPIKeys(db, "atl_live", authnPepper(b)); err != nil {
			b.Fatal(err)
		}
		raws[s] = authnMakeKeys(b, keys[s], 64)
		for i := range 64 {
			t, _, err := sess[s].Create(ctx, authn.NewSession{Org: "org", UserID: "live" + strconv.Itoa(i), Method: "password"})
			if err != nil {
				b.Fatal(err)
			}
			toks[s] = append(toks[s], t.Reveal())
		}
	}
	b.ResetTimer()
	d := interleave(b, 64, func(s, i int) error {
		_, err := sess[s].Lookup(ctx, toks[s][i%len(toks[s])])
		return err
	})
	k := interleave(b, 64, func(s, i int) error {
		_, err := keys[s].Verify(ctx, raws[s][i%len(raws[s])])
		return err
	})
	b.StopTimer()
	n := float64(b.N)
	reportGrowth(b, "lookup", sizes, d, [3]float64{n, n, n})
	for s := range 3 {
		b.ReportMetric(float64(k[s].Nanoseconds())/n, fmt.Sprintf("ns/key-verify@%d", sizes[s]))
	}
	b.ReportMetric(float64(k[1])/float64(k[0]), "key-ratio-2/1")
	b.ReportMetric(float64(k[2])/float64(k[1]), "key-ratio-3/2")
}

// BenchmarkGrowthAuditVerifyPG verifies chains of base, 10x and 100x
// entries from PostgreSQL (one full Verify each per iteration), then
// appends the same number of entries (base/10, at least 10) to each chain
// and verifies only those with VerifyFrom the checkpoint of the full run:
// the incremental cost must follow the entries added, not the history, so
// its ratios between sizes should stay near 1.
func BenchmarkGrowthAuditVerifyPG(b *testing.B) {
	ctx := context.Background()
	base := growthBase()
	sizes := [3]int{base, 10 * base, 100 * base}
	added := max(base/10, 10)
	var stores [3]auditpg.Store
	for s, n := range sizes {
		pool := auditPool(b, 4)
		if err := auditpg.Migrate(ctx, pool); err != nil {
			b.Fatal(err)
		}
		stores[s] = auditpg.New(pool)
		auditSeedChain(b, stores[s], n)
	}
	var full [3]time.Duration
	var cps [3]auditlog.Checkpoint
	b.ResetTimer()
	for range b.N {
		for s := range 3 {
			t0 := time.Now()
			res, err := auditlog.Verify(ctx, stores[s], "org:acme", auditlog.VerifyOptions{})
			if err != nil {
				b.Fatal(err)
			}
			full[s] += time.Since(t0)
			if res.Size != uint64(sizes[s]) {
				b.Fatalf("verified %d, want %d", res.Size, sizes[s])
			}
			cps[s] = res.Checkpoint()
		}
	}
	b.StopTimer()
	n := float64(b.N)
	reportGrowth(b, "verify", sizes, full, [3]float64{n, n, n})
	for s := range 3 {
		b.ReportMetric(float64(sizes[s])*n/full[s].Seconds(), fmt.Sprintf("entries/s@%d", sizes[s]))
	}

	// Incremental: the same number of new entries on each chain.
	for s := range 3 {
		appendOne := auditAppendTo(auditBenchLog(b, stores[s]))
		for i := range added {
			if err := appendOne(ctx, 0, sizes[s]+i); err != nil {
				b.Fatal(err)
			}
		}
	}
	var incr [3]time.Duration
	for range b.N {
		for s := range 3 {
			t0 := time.Now()
			res, err := auditlog.VerifyFrom(ctx, stores[s], "org:acme", cps[s], auditlog.VerifyOptions{})
			if err != nil {
				b.Fatal(err)
			}
			incr[s] += time.Since(t0)
			if res.Size != uint64(sizes[s]+added) {
				b.Fatalf("verified up to %d, want %d", res.Size, sizes[s]+added)
			}
		}
	}
	for s := range 3 {
		b.ReportMetric(float64(incr[s].Nanoseconds())/n, fmt.Sprintf("ns/verify-from@%d+%d", sizes[s], added))
	}
	b.ReportMetric(float64(incr[1])/float64(incr[0]), "from-ratio-2/1")
	b.ReportMetric(float64(incr[2])/float64(incr[1]), "from-ratio-3/2")
}

// BenchmarkGrowthAuditAppendChains: 64 appenders append 10x base entries
// (1,000 by default) spread over 1, 10 and 100 organisations' chains at
// once, on one PostgreSQL log each (a pool of 16). Each iteration runs the
// entries in ten rounds, each round a tenth at every chain count in turn,
// so that the three see the same load (on a shared host, a whole run at
// one count and then the next measured the host's drift as much as the
// code). Every chain has one entry before the timer starts: the steady
// state, not a chain's first batch, is measured. Does aggregate throughput
// hold (or grow) across chains?
func BenchmarkGrowthAuditAppendChains(b *testing.B) {
	ctx := context.Background()
	total := 10 * growthBase()
	const rounds = 10
	chains := [3]int{1, 10, 100}
	var logs [3]*auditlog.Log
	for s, c := range chains {
		pool := auditPool(b, 16)
		if err := auditpg.Migrate(ctx, pool); err != nil {
			b.Fatal(err)
		}
		logs[s] = auditBenchLog(b, auditpg.New(pool))
		for o := range c {
			if _, err := logs[s].Append(ctx, auditlog.Entry{Org: "org" + strconv.Itoa(o), Actor: "user:warm", Action: "bench.event"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	var d [3]time.Duration
	b.ResetTimer()
	for range b.N {
		for r := range rounds {
			lo, hi := r*total/rounds, (r+1)*total/rounds
			for s, c := range chains {
				t0 := time.Now()
				var wg sync.WaitGroup
				for w := range auditAppenders {
					wg.Go(func() {
						for i := lo + w; i < hi; i += auditAppenders {
							_, err := logs[s].Append(ctx, auditlog.Entry{Org: "org" + strconv.Itoa(i%c), Actor: "user:u" + strconv.Itoa(w),
								Action: "bench.event", Target: "doc:" + strconv.Itoa(i), Payload: []byte(`{"i":` + strconv.Itoa(i) + `}`)})
							if err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				d[s] += time.Since(t0)
			}
		}
	}
	b.StopTimer()
	for s, c := range chains {
		b.ReportMetric(float64(total*b.N)/d[s].Seconds(), fmt.Sprintf("entries/s@%dchains", c))
	}
	b.ReportMetric(float64(d[0])/float64(d[1]), "throughput-ratio-10/1")
	b.ReportMetric(float64(d[1])/float64(d[2]), "throughput-ratio-100/10")
	b.ReportMetric(float64(d[0])/float64(d[2]), "throughput-ratio-100/1")
}
