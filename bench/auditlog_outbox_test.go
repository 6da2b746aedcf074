package bench

import (
	"context"
	"crypto/sha256"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/pgstore"
)

// BenchmarkAuditlogOutboxPG: 64 goroutines run host transactions that each
// insert one business row, three ways in the same run:
//
//   - bare: the business row only, no audit entry;
//   - outbox: the business row and pgstore.RecordTx in the same
//     transaction, sealed by a relay (Log.RunOutbox) on a pool of its own;
//   - naive: the business row, commit, then the entry appended by a naive
//     appender, one transaction per entry (lock the head, insert, update the
//     head, commit), as a host without the outbox would Record after commit.
//
// They run in turns (five rounds of each). It reports each one's
// transactions/s, the outbox's ratio to bare and to naive, and the p99
// latency from a host transaction's commit to its entry
// being sealed in the chain (the relay's OnSealed).
func BenchmarkAuditlogOutboxPG(b *testing.B) {
	ctx := context.Background()
	hostPool := auditPool(b, 32)
	if err := pgstore.Migrate(ctx, hostPool); err != nil {
		b.Fatal(err)
	}
	if _, err := hostPool.Exec(ctx, `CREATE TABLE bench_biz (id bigint PRIMARY KEY, org text NOT NULL, note text NOT NULL);
		CREATE TABLE naive_audit (seq bigint PRIMARY KEY, prev bytea NOT NULL, hash bytea NOT NULL, payload bytea NOT NULL);
		CREATE TABLE naive_head (id int PRIMARY KEY, seq bigint NOT NULL, hash bytea NOT NULL);
		INSERT INTO naive_head VALUES (1, -1, '\x00')`); err != nil {
		b.Fatal(err)
	}
	relayPool := newPoolLike(b, hostPool, 4)
	store := pgstore.New(relayPool)
	l := auditBenchLog(b, store)

	var (
		mu        sync.Mutex
		committed = map[string]time.Time{}
		sealed    = map[string]time.Time{}
	)
	rctx, stop := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() {
		defer close(relayDone)
		_ = l.RunOutbox(rctx, store, auditlog.RelayOptions{Interval: 2 * time.Millisecond, OnSealed: func(es []auditlog.Entry) {
			now := time.Now()
			mu.Lock()
			for i := range es {
				sealed[es[i].Target] = now
			}
			mu.Unlock()
		}})
	}()
	defer func() { stop(); <-relayDone }()

	total := benchRows(20000)
	next := int64(0)
	newID := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		next++
		return next
	}
	biz := func(ctx context.Context, tx pgx.Tx, id int64) error {
		_, err := tx.Exec(ctx, `INSERT INTO bench_biz (id, org, note) VALUES ($1, 'acme', 'benchmark business row')`, id)
		return err
	}
	entry := func(w int, id int64) auditlog.Entry {
		s := strconv.FormatInt(id, 10)
		return auditlog.Entry{Org: "acme", Actor: "user:u" + strconv.Itoa(w), Action: "bench.event",
			Target: "doc:" + s, Payload: []byte(`{"i":` + s + `,"note":"benchmark payload"}`)}
	}
	bare := func(ctx context.Context, w, i int) error {
		return pgx.BeginFunc(ctx, hostPool, func(tx pgx.Tx) error { return biz(ctx, tx, newID()) })
	}
	outbox := func(ctx context.Context, w, i int) error {
		id := newID()
		e := entry(w, id)
		err := pgx.BeginFunc(ctx, hostPool, func(tx pgx.Tx) error {
			if err := biz(ctx, tx, id); err != nil {
				return err
			}
			return pgstore.RecordTx(ctx, tx, l, e)
		})
		if err == nil {
			now := time.Now()
			mu.Lock()
			committed[e.Target] = now
			mu.Unlock()
		}
		return err
	}
	naive := func(ctx context.Context, w, i int) error {
		id := newID()
		if err := pgx.BeginFunc(ctx, hostPool, func(tx pgx.Tx) error { return biz(ctx, tx, id) }); err != nil {
			return err
		}
		return naiveAppend(ctx, hostPool, id)
	}

	b.ReportAllocs()
	b.ResetTimer()
	steal := startSteal()
	// The three run in turns, a fifth of each at a time, so that a change
	// in the shared machine's load affects them alike.
	const rounds = 5
	var bareT, outboxT, naiveT time.Duration
	var bareN, outboxN, naiveN int
	for range b.N {
		for range rounds {
			n := total / rounds
			bareT += hostRun(ctx, b, n, bare)
			outboxT += hostRun(ctx, b, n, outbox)
			bareN, outboxN = bareN+n, outboxN+n
			n = max(total/10/rounds, auditAppenders*2)
			naiveT += hostRun(ctx, b, n, naive)
			naiveN += n
		}
	}
	bareRate := float64(bareN) / bareT.Seconds()
	outboxRate := float64(outboxN) / outboxT.Seconds()
	naiveRate := float64(naiveN) / naiveT.Seconds()
	// Wait until the relay has sealed every committed entry.
	for deadline := time.Now().Add(time.Minute); ; {
		st, err := store.OutboxStatus(ctx)
		if err == nil && st.Drained() {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("outbox not drained: %+v %v", st, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	steal.report(b)
	mu.Lock()
	lat := make([]time.Duration, 0, len(committed))
	for k, c := range committed {
		s, ok := sealed[k]
		if !ok {
			b.Fatalf("entry %s committed but not seen sealed", k)
		}
		lat = append(lat, max(s.Sub(c), 0))
	}
	mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.Logf("commit to sealed: p50 %v, p90 %v, p99 %v, max %v", lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)*99/100], lat[len(lat)-1])
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "seal-p99-ms")
	}
	b.ReportMetric(bareRate, "bare-tx/s")
	b.ReportMetric(outboxRate, "outbox-tx/s")
	b.ReportMetric(naiveRate, "naive-tx/s")
	b.ReportMetric(outboxRate/bareRate, "outbox/bare")
	b.ReportMetric(outboxRate/naiveRate, "outbox/naive")
}

// hostRun runs total host transactions from 64 goroutines and returns
// how long they took.
func hostRun(ctx context.Context, b *testing.B, total int, one func(ctx context.Context, w, i int) error) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for w := range auditAppenders {
		wg.Go(func() {
			for i := w; i < total; i += auditAppenders {
				if err := one(ctx, w, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// naiveAppend is the one-transaction-per-entry appender of
// BenchmarkAuditlogAppendPGNaive.
func naiveAppend(ctx context.Context, pool *pgxpool.Pool, id int64) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var (
			seq  int64
			prev []byte
		)
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM naive_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &prev); err != nil {
			return err
		}
		payload := []byte(`{"i":` + strconv.FormatInt(id, 10) + `,"note":"benchmark payload"}`)
		h := sha256.Sum256(append(append([]byte{}, prev...), payload...))
		if _, err := tx.Exec(ctx, `INSERT INTO naive_audit VALUES ($1, $2, $3, $4)`, seq+1, prev, h[:], payload); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE naive_head SET seq = $1, hash = $2 WHERE id = 1`, seq+1, h[:])
		return err
	})
}

// newPoolLike opens another pool on p's database and schema.
func newPoolLike(b *testing.B, p *pgxpool.Pool, maxConns int32) *pgxpool.Pool {
	cfg := p.Config().Copy()
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}
