package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

const auditAppenders = 64

var auditBenchAction = auditlog.ActionType{Name: "bench.event", Category: auditlog.CategorySystem, Description: "benchmark", SchemaVersion: 1}

func auditBenchLog(b *testing.B, s auditlog.Store, opts ...auditlog.Option) *auditlog.Log {
	l, err := auditlog.New(s, append([]auditlog.Option{auditlog.WithMaxBatch(1024)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Register(auditBenchAction); err != nil {
		b.Fatal(err)
	}
	return l
}

func auditPool(b *testing.B, maxConns int32) *pgxpool.Pool {
	db := pgtest.New(b)
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}

// auditRunAppenders runs total appends from 64 goroutines and reports
// entries/s and the p99 latency of one append.
func auditRunAppenders(b *testing.B, total int, appendOne func(ctx context.Context, w, i int) error) {
	ctx := context.Background()
	lat := make([]time.Duration, 0, total*b.N)
	var mu sync.Mutex
	b.ReportAllocs()
	b.ResetTimer()
	start, steal := time.Now(), startSteal()
	for range b.N {
		var wg sync.WaitGroup
		for w := range auditAppenders {
			wg.Go(func() {
				local := make([]time.Duration, 0, total/auditAppenders+1)
				for i := w; i < total; i += auditAppenders {
					t0 := time.Now()
					if err := appendOne(ctx, w, i); err != nil {
						b.Error(err)
						return
					}
					local = append(local, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	steal.report(b)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
	b.ReportMetric(float64(total*b.N)/elapsed.Seconds(), "entries/s")
}

// BenchmarkAuditlogAppendPG: 64 goroutines appending to one chain through
// group commit on PostgreSQL.
func BenchmarkAuditlogAppendPG(b *testing.B) {
	pool := auditPool(b, 8)
	if err := pgstore.Migrate(context.Background(), pool); err != nil {
		b.Fatal(err)
	}
	l := auditBenchLog(b, pgstore.New(pool))
	auditRunAppenders(b, benchRows(20000), auditAppendTo(l))
}

// BenchmarkAuditlogAppendPGCheckpointed is BenchmarkAuditlogAppendPG with
// the checkpoints the package documentation suggests: one signed every
// 1,000 entries and appended to a file that is synced each time.
func BenchmarkAuditlogAppendPGCheckpointed(b *testing.B) {
	pool := auditPool(b, 8)
	if err := pgstore.Migrate(context.Background(), pool); err != nil {
		b.Fatal(err)
	}
	skey, _, err := auditlog.NewSigningKey("bench")
	if err != nil {
		b.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	sink := auditlog.NewFileSink(filepath.Join(b.TempDir(), "checkpoints"))
	l := auditBenchLog(b, pgstore.New(pool), auditlog.WithCheckpoints(signer, sink, 1000, time.Minute))
	auditRunAppenders(b, benchRows(20000), auditAppendTo(l))
}

// auditAppendTo returns the append the appender benchmarks measure.
func auditAppendTo(l *auditlog.Log) func(ctx context.Context, w, i int) error {
	return func(ctx context.Context, w, i int) error {
		_, err := l.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:u" + strconv.Itoa(w), Action: "bench.event",
			Target: "doc:" + strconv.Itoa(i), Payload: []byte(`{"i":` + strconv.Itoa(i) + `,"note":"benchmark payload"}`)})
		return err
	}
}

// BenchmarkAuditlogAppendPGNaive is the baseline: each append is its own
// transaction that locks the head row, inserts one row and commits.
func BenchmarkAuditlogAppendPGNaive(b *testing.B) {
	pool := auditPool(b, 16)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE naive_audit (seq bigint PRIMARY KEY, prev bytea NOT NULL, hash bytea NOT NULL, payload bytea NOT NULL);
		CREATE TABLE naive_head (id int PRIMARY KEY, seq bigint NOT NULL, hash bytea NOT NULL);
		INSERT INTO naive_head VALUES (1, -1, '\x00')`); err != nil {
		b.Fatal(err)
	}
	total := max(benchRows(20000)/10, 640)
	auditRunAppenders(b, total, func(ctx context.Context, w, i int) error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		var (
			seq  int64
			prev []byte
		)
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM naive_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &prev); err != nil {
			return err
		}
		payload := []byte(`{"i":` + strconv.Itoa(i) + `,"note":"benchmark payload"}`)
		h := sha256.Sum256(append(append([]byte{}, prev...), payload...))
		if _, err := tx.Exec(ctx, `INSERT INTO naive_audit VALUES ($1, $2, $3, $4)`, seq+1, prev, h[:], payload); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE naive_head SET seq = $1, hash = $2 WHERE id = 1`, seq+1, h[:]); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}

func auditSeedChain(b *testing.B, s auditlog.Store, n int) {
	appendOne := auditAppendTo(auditBenchLog(b, s))
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range auditAppenders {
		wg.Go(func() {
			for i := w; i < n; i += auditAppenders {
				if err := appendOne(ctx, w, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func auditVerify(b *testing.B, s auditlog.Store, n int) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if res.Size != uint64(n) {
			b.Fatalf("verified %d entries, want %d", res.Size, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkAuditlogVerifyPG streams and verifies a chain from PostgreSQL.
func BenchmarkAuditlogVerifyPG(b *testing.B) {
	pool := auditPool(b, 4)
	if err := pgstore.Migrate(context.Background(), pool); err != nil {
		b.Fatal(err)
	}
	s := pgstore.New(pool)
	n := benchRows(20000)
	auditSeedChain(b, s, n)
	auditVerify(b, s, n)
}

// BenchmarkAuditlogVerifyMemory verifies a chain held in the memory store.
func BenchmarkAuditlogVerifyMemory(b *testing.B) {
	s := auditlog.NewMemoryStore()
	n := benchRows(20000)
	auditSeedChain(b, s, n)
	auditVerify(b, s, n)
}

// BenchmarkAuditlogRawSHA256 is the floor for VerifyMemory: crypto/sha256
// over the same bytes (each entry's encoding and its payload), nothing else.
func BenchmarkAuditlogRawSHA256(b *testing.B) {
	s := auditlog.NewMemoryStore()
	n := benchRows(20000)
	auditSeedChain(b, s, n)
	var encs, payloads [][]byte
	if err := s.Scan(context.Background(), "org:acme", 0, func(e *auditlog.Entry) error {
		encs = append(encs, auditlog.EncodeEntry(e))
		payloads = append(payloads, append([]byte(nil), e.Payload...))
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var sink byte
	for range b.N {
		for i := range encs {
			p := sha256.Sum256(payloads[i])
			h := sha256.Sum256(encs[i])
			sink ^= p[0] ^ h[0]
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
	_ = fmt.Sprint(sink)
}
