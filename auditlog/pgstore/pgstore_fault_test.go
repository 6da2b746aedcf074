package pgstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
	"github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgfault"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// faultDB is a migrated schema, a store on a clean pool to check the
// outcome with, and a store on a pool whose backends the test kills.
func faultDB(t *testing.T, maxConns int32) (clean pgstore.Store, fp *pgfault.Pool, faulty pgstore.Store) {
	t.Helper()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
	fp = pgfault.New(t, db.URL, maxConns)
	return pgstore.New(db.Pool), fp, pgstore.New(fp.Pool)
}

// TestFaultReads kills the backend at every statement of each read path:
// the tree read that used to index an empty FieldDescriptions and panic,
// verification, export, proofs and the head. Each run fails with an error
// that says the connection was lost, or succeeds with the right answer.
func TestFaultReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clean, fp, faulty := faultDB(t, 4)
	seed(t, clean, 20)
	const chain = "org:acme"
	want, err := auditlog.Verify(ctx, clean, chain, auditlog.VerifyOptions{})
	require.NoError(t, err)
	signer, _ := auditlogtest.NewSigner(t, "fault")

	ops := []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"tree hashes", func(ctx context.Context) error {
			hs, err := faulty.TreeHashes(ctx, chain, []int64{0, 1, 2, 5, 20})
			if err == nil && len(hs) != 5 {
				return fmt.Errorf("got %d hashes", len(hs))
			}
			return err
		}},
		{"head", func(ctx context.Context) error {
			h, err := faulty.Head(ctx, chain)
			if err == nil && h.Size != want.Size {
				return fmt.Errorf("head %d, want %d", h.Size, want.Size)
			}
			return err
		}},
		{"verify", func(ctx context.Context) error {
			got, err := auditlog.Verify(ctx, faulty, chain, auditlog.VerifyOptions{})
			if err == nil && got != want {
				return fmt.Errorf("verify: %+v, want %+v", got, want)
			}
			return err
		}},
		{"inclusion proof", func(ctx context.Context) error {
			p, err := auditlog.ProveInclusion(ctx, faulty, chain, want.Size, 17)
			if err == nil && len(p) == 0 {
				return errors.New("empty proof")
			}
			return err
		}},
		{"consistency proof", func(ctx context.Context) error {
			_, err := auditlog.ProveConsistency(ctx, faulty, chain, 13, want.Size)
			return err
		}},
		{"export", func(ctx context.Context) error {
			var buf bytes.Buffer
			n, err := auditlog.Export(ctx, faulty, &buf, auditlog.ExportOptions{Format: auditlog.FormatNDJSON, Signer: signer})
			if err == nil && n != int(want.Size) {
				return fmt.Errorf("exported %d, want %d", n, want.Size)
			}
			return err
		}},
		{"chains", func(ctx context.Context) error {
			cs, err := faulty.Chains(ctx)
			if err == nil && len(cs) != 1 {
				return fmt.Errorf("chains %v", cs)
			}
			return err
		}},
	}
	for _, tc := range ops {
		t.Run(tc.name, func(t *testing.T) {
			points := fp.EachPoint(t, 100, tc.op, func(o pgfault.Outcome) {
				if !o.Killed {
					require.NoError(t, o.Err, "no kill")
					return
				}
				require.Error(t, o.Err, "killed at point %d", o.Point)
				require.True(t, pgfault.ConnectionLost(o.Err), "killed at point %d: %v", o.Point, o.Err)
			})
			t.Logf("%s: %d kill points", tc.name, points)
		})
	}
}

// TestFaultStoreAppend kills the backend at every statement of the store's
// two append paths, called directly: after a lost connection the batch is
// either wholly stored or not at all, an error is one a caller can match,
// and success means stored.
func TestFaultStoreAppend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clean, fp, faulty := faultDB(t, 2)
	const chain = "org:acme"
	entries := func(n int, tag string) []auditlog.Entry {
		es := make([]auditlog.Entry, n)
		for i := range es {
			p := []byte(fmt.Sprintf(`{"tag":%q}`, fmt.Sprint(tag, "-", i)))
			es[i] = auditlog.Entry{Org: "acme", Actor: "user:a", Action: "test.created", Time: time.Unix(1700000000, 0).UTC(),
				Payload: p, PayloadDigest: auditlog.PayloadDigest(p)}
		}
		return es
	}
	paths := []struct {
		name   string
		append func(ctx context.Context, head auditlog.Head, es []auditlog.Entry) (auditlog.Head, error)
	}{
		{"AppendSealed", func(ctx context.Context, head auditlog.Head, es []auditlog.Entry) (auditlog.Head, error) {
			b, nh, _, err := auditlog.Seal(head, storeTree(ctx, clean, chain), es)
			if err != nil {
				return auditlog.Head{}, err
			}
			return nh, faulty.AppendSealed(ctx, head, b)
		}},
		{"AppendBatch", func(ctx context.Context, _ auditlog.Head, es []auditlog.Entry) (auditlog.Head, error) {
			var nh auditlog.Head
			err := faulty.AppendBatch(ctx, chain, func(h auditlog.Head, tree tlog.HashReader) (*auditlog.Batch, error) {
				b, h2, _, err := auditlog.Seal(h, tree, es)
				nh = h2
				return b, err
			})
			return nh, err
		}},
	}
	run := 0
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			var before, after auditlog.Head
			fp.EachPoint(t, 100, func(ctx context.Context) error {
				var err error
				before, err = clean.Head(ctx, chain)
				require.NoError(t, err)
				run++
				after, err = p.append(ctx, before, entries(3, fmt.Sprint(run)))
				return err
			}, func(o pgfault.Outcome) {
				got, err := clean.Head(ctx, chain)
				require.NoError(t, err)
				if o.Err == nil {
					require.Equal(t, after, got, "acknowledged batch is the head (point %d)", o.Point)
					return
				}
				require.True(t, o.Killed, "an error without a kill: %v", o.Err)
				require.True(t, pgfault.ConnectionLost(o.Err), "point %d: %v", o.Point, o.Err)
				require.Contains(t, []auditlog.Head{before, after}, got, "all or nothing (point %d)", o.Point)
			})
		})
	}
	_, err := auditlog.Verify(ctx, clean, chain, auditlog.VerifyOptions{})
	require.NoError(t, err)
}

func storeTree(ctx context.Context, s pgstore.Store, chain string) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return s.TreeHashes(ctx, chain, idx) })
}

// ledger records what callers of a Log were told, by payload tag.
type ledger struct {
	mu      sync.Mutex
	acked   map[string]auditlog.Receipt
	failed  map[string]error // told "not written"
	unknown map[string]error // told ErrOutcomeUnknown
}

func newLedger() *ledger {
	return &ledger{acked: map[string]auditlog.Receipt{}, failed: map[string]error{}, unknown: map[string]error{}}
}

func (lg *ledger) append(ctx context.Context, t *testing.T, l *auditlog.Log, tag string) error {
	p, err := auditlog.CanonicalPayload(map[string]any{"tag": tag})
	require.NoError(t, err)
	rec, err := l.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:a", Action: "test.created", Payload: p})
	lg.mu.Lock()
	defer lg.mu.Unlock()
	switch {
	case err == nil:
		lg.acked[tag] = rec
	case errors.Is(err, auditlog.ErrOutcomeUnknown):
		lg.unknown[tag] = err
	default:
		lg.failed[tag] = err
	}
	return err
}

// check reads the chain through clean and requires: every acknowledged
// append stored exactly once where its receipt says, no append told "not
// written" stored, none stored twice, and the chain verifies.
func (lg *ledger) check(t *testing.T, clean pgstore.Store, chain string) {
	t.Helper()
	ctx := context.Background()
	_, err := auditlog.Verify(ctx, clean, chain, auditlog.VerifyOptions{})
	require.NoError(t, err)
	seen := map[string]uint64{}
	require.NoError(t, clean.Scan(ctx, chain, 0, func(e *auditlog.Entry) error {
		var p struct{ Tag string }
		if err := json.Unmarshal(e.Payload, &p); err != nil || p.Tag == "" {
			return nil // an entry of the log itself
		}
		if prev, dup := seen[p.Tag]; dup {
			return fmt.Errorf("entry %q stored twice, at %d and %d", p.Tag, prev, e.Seq)
		}
		seen[p.Tag] = e.Seq
		return nil
	}))
	lg.mu.Lock()
	defer lg.mu.Unlock()
	for tag, rec := range lg.acked {
		seq, ok := seen[tag]
		require.True(t, ok, "acknowledged entry %q lost", tag)
		require.Equal(t, rec.Seq, seq, "entry %q is not where its receipt says", tag)
	}
	for tag, err := range lg.failed {
		_, ok := seen[tag]
		require.False(t, ok, "entry %q stored although its caller was told: %v", tag, err)
	}
	t.Logf("%d acknowledged, %d failed, %d outcome unknown, %d stored", len(lg.acked), len(lg.failed), len(lg.unknown), len(seen))
}

// TestFaultLogAppend kills the backend at every statement of a Log's
// append, on the first batch of a chain (the store's head is read) and on
// later ones (the Log seals on the head it left). A lost connection before
// the outcome is known is retried inside the Log when the store shows the
// batch was not stored; the caller gets an error only when that cannot be
// learned (ErrOutcomeUnknown, wrapping the driver's error). No acknowledged
// entry is lost or stored twice.
func TestFaultLogAppend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clean, fp, faulty := faultDB(t, 2)
	l, _ := auditlogtest.NewLog(t, faulty)
	lg := newLedger()
	run := 0
	for _, warm := range []bool{false, true} {
		if warm {
			require.NoError(t, lg.append(ctx, t, l, "warm"))
		}
		fp.EachPoint(t, 100, func(ctx context.Context) error {
			run++
			return lg.append(ctx, t, l, fmt.Sprint("run-", run))
		}, func(o pgfault.Outcome) {
			if o.Err != nil {
				require.True(t, o.Killed, "an error without a kill: %v", o.Err)
				require.True(t, pgfault.ConnectionLost(o.Err), "point %d: the driver's error is wrapped: %v", o.Point, o.Err)
			}
			// The next append works.
			require.NoError(t, lg.append(ctx, t, l, fmt.Sprint("after-", run)))
		})
	}
	lg.check(t, clean, "org:acme")
	require.Empty(t, lg.failed, "a lost connection that provably did not commit is retried")
}

// TestFaultSoak: three Logs (three processes' worth) with eight appenders
// each share a pool whose backends are killed every 50 to 200 ms. Nothing
// panics, every acknowledged append is stored exactly once, nothing told
// "not written" is stored, and the chain verifies.
func TestFaultSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	t.Parallel()
	clean, fp, faulty := faultDB(t, 8)
	lg := newLedger()
	stop := fp.KillRandomly(50*time.Millisecond, 200*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for p := range 3 {
		l, _ := auditlogtest.NewLog(t, faulty, auditlog.WithMaxBatch(16))
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					_ = lg.append(context.Background(), t, l, fmt.Sprintf("p%d-w%d-%d", p, w, i))
				}
			})
		}
	}
	wg.Wait()
	kills := stop()
	t.Logf("%d backends killed", kills)
	require.Positive(t, kills)
	lg.check(t, clean, "org:acme")
	require.NotEmpty(t, lg.acked)
}

// panicTracer panics in the query that reads the third page of a scan,
// which Scan runs in a goroutine of its own (the prefetch).
type panicTracer struct{ armed *atomic.Bool }

func (p panicTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if len(data.Args) == 3 && strings.Contains(data.SQL, "ORDER BY seq LIMIT") {
		if from, ok := data.Args[1].(int64); ok && from >= 2*8192 && p.armed.CompareAndSwap(true, false) {
			panic("injected scan panic")
		}
	}
	return ctx
}

func (panicTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestPanicInScanPrefetch: a panic while Scan prefetches the next page in
// its own goroutine fails the Scan with ErrInternal instead of ending the
// process (before, the test binary died), and the next Scan works.
func TestPanicInScanPrefetch(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds two pages of entries")
	}
	t.Parallel()
	ctx := context.Background()
	db, clean := newDB(t)
	l, _ := auditlogtest.NewLog(t, clean, auditlog.WithMaxBatch(512))
	const n = 2 * 8192 // two full pages: the third is prefetched
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := w; i < n; i += 32 {
				_, err := l.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:a", Action: "test.created"})
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()

	var armed atomic.Bool
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = panicTracer{&armed}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	// Not pool.Close: the injected panic unwinds pgxpool's Query before it
	// releases its connection, so Close would wait for it forever. Reset
	// closes the others; the leaked one ends with the test binary.
	t.Cleanup(pool.Reset)
	s := pgstore.New(pool)

	armed.Store(true)
	_, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.ErrorIs(t, err, auditlog.ErrInternal)
	require.False(t, armed.Load(), "the prefetch panicked")
	res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)
	require.EqualValues(t, n, res.Size)
}

// TestFaultOrphanSessionCannotCommitLater: an append whose transaction
// waits on the chain's lock times out on the client's side, which closes
// the connection. pgx then asks the server to cancel the statement on a new
// connection, but in a network partition that request does not arrive: the
// server's session still holds BEGIN, the insert and COMMIT, and commits
// them once the lock is free, after the Log read the chain, found nothing
// and told its caller "not written" (or sealed the entries again: stored
// twice). The store ends that session before it reports (before, the entry
// landed after its caller was told it was not written).
func TestFaultOrphanSessionCannotCommitLater(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, clean := newDB(t)
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	app := "auditlog-orphan-" + db.Schema
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	// The partition: no new connection reaches the server (the cancel
	// request included); the connections already open still work.
	var partitioned atomic.Bool
	var dialer net.Dialer
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if partitioned.Load() {
			return nil, errors.New("partitioned")
		}
		return dialer.DialContext(ctx, network, addr)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	l, _ := auditlogtest.NewLog(t, pgstore.New(pool), auditlog.WithCommitTimeout(300*time.Millisecond))
	lg := newLedger()
	require.NoError(t, lg.append(ctx, t, l, "warm")) // the next append is one pipelined round trip, COMMIT included
	// Two open connections: one for the append, one to read with after.
	c1, err := pool.Acquire(ctx)
	require.NoError(t, err)
	c2, err := pool.Acquire(ctx)
	require.NoError(t, err)
	c1.Release()
	c2.Release()

	blocker, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = blocker.Rollback(ctx) }()
	_, err = blocker.Exec(ctx, `SELECT auditlog_lock_chain($1)`, "org:acme")
	require.NoError(t, err)
	partitioned.Store(true)
	err = lg.append(ctx, t, l, "victim")
	require.Error(t, err, "the chain stayed locked")
	partitioned.Store(false)
	require.NoError(t, blocker.Rollback(ctx))
	// Let any session still waiting on the lock run to its end.
	require.Eventually(t, func() bool {
		var waiting bool
		err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE application_name = $1 AND (wait_event_type = 'Lock' OR state = 'active'))`, app).Scan(&waiting)
		return err == nil && !waiting
	}, 10*time.Second, 20*time.Millisecond)
	lg.check(t, clean, "org:acme")
	var oue *auditlog.OutcomeUnknownError
	if errors.As(err, &oue) {
		ok, serr := l.Stored(ctx, oue.Receipt)
		require.NoError(t, serr)
		require.False(t, ok)
	}
}
