package bench

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/pgstore"
)

// BenchmarkAuditlogVerifyPGVsSelect verifies a chain from PostgreSQL and,
// alternating with it in the same loop, reads the same rows with a bare
// SELECT (every column, in order, touching each row's raw bytes and
// decoding nothing): the floor any verification from the database pays. It
// reports both rates and the ratio verify/select (issue 21 target: at most
// 2). RAMPART_BENCH_ROWS sets the chain length (default 20,000).
func BenchmarkAuditlogVerifyPGVsSelect(b *testing.B) {
	ctx := context.Background()
	pool := auditPool(b, 4)
	if err := pgstore.Migrate(ctx, pool); err != nil {
		b.Fatal(err)
	}
	s := pgstore.New(pool)
	n := benchRows(20000)
	auditSeedChain(b, s, n)
	var verify, sel time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if res.Size != uint64(n) {
			b.Fatalf("verified %d entries, want %d", res.Size, n)
		}
		t1 := time.Now()
		rows, err := pool.Query(ctx, `SELECT * FROM auditlog_entries WHERE chain = $1 ORDER BY seq`, "org:acme")
		if err != nil {
			b.Fatal(err)
		}
		got, bytes := 0, 0
		for rows.Next() {
			for _, v := range rows.RawValues() {
				bytes += len(v)
			}
			got++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		if got != n || bytes == 0 {
			b.Fatalf("read %d rows, want %d", got, n)
		}
		t2 := time.Now()
		verify += t1.Sub(t0)
		sel += t2.Sub(t1)
	}
	b.StopTimer()
	total := float64(n * b.N)
	b.ReportMetric(total/verify.Seconds(), "verified-entries/s")
	b.ReportMetric(total/sel.Seconds(), "selected-rows/s")
	b.ReportMetric(float64(verify)/float64(sel), "verify/select")
}
