package auditlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
)

// panicky panics once, in the store method the test arms, the next time it
// is called.
type panicky struct {
	slowMemory
	armed atomic.Bool
	only  string // the method that panics; "" for any
}

func (p *panicky) fire(method string) {
	if (p.only == "" || p.only == method) && p.armed.CompareAndSwap(true, false) {
		panic("injected store panic")
	}
}

func (p *panicky) AppendBatch(ctx context.Context, chain string, seal auditlog.SealFunc) error {
	p.fire("AppendBatch")
	return p.slowMemory.AppendBatch(ctx, chain, seal)
}

func (p *panicky) AppendSealed(ctx context.Context, expect auditlog.Head, b *auditlog.Batch) error {
	p.fire("AppendSealed")
	return p.slowMemory.AppendSealed(ctx, expect, b)
}

func (p *panicky) OpenPipeline(ctx context.Context) (auditlog.Pipeline, error) {
	pl, err := p.slowMemory.OpenPipeline(ctx)
	return panickyPipeline{pl, p}, err
}

type panickyPipeline struct {
	auditlog.Pipeline
	p *panicky
}

func (pp panickyPipeline) Result(ctx context.Context) error {
	pp.p.fire("Result")
	return pp.Pipeline.Result(ctx)
}

// batchOnly hides the store's fast paths: every batch goes through
// AppendBatch.
type batchOnly struct{ auditlog.Store }

// sealedNoPipeline hides the pipeline: batches go through AppendSealed.
type sealedNoPipeline struct {
	auditlog.Store
	s auditlog.SealedAppender
}

func (s sealedNoPipeline) AppendSealed(ctx context.Context, expect auditlog.Head, b *auditlog.Batch) error {
	return s.s.AppendSealed(ctx, expect, b)
}

// TestPanicInTheWriterFailsItsCallersOnly: a store that panics in the
// goroutine that drains a chain (AppendBatch, AppendSealed, a pipeline's
// Result) does not take the process down (before, the test binary died).
// The callers whose entries were in hand get ErrInternal, which also says
// the outcome is unknown; the panic is logged; the next Append works; and
// the chain verifies with every acknowledged entry in it once.
func TestPanicInTheWriterFailsItsCallersOnly(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"AppendBatch", "AppendSealed", "pipeline"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			ps := &panicky{slowMemory: slowMemory{newMemStore()}}
			var store auditlog.Store = ps
			switch path {
			case "AppendBatch":
				store = batchOnly{ps}
			case "AppendSealed":
				store = sealedNoPipeline{ps, ps}
			case "pipeline":
				ps.only = "Result"
			}
			var logs bytes.Buffer
			var logMu sync.Mutex
			l, _ := auditlogtest.NewLog(t, store, auditlog.WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))),
				auditlog.WithMaxBatch(4))
			ctx := context.Background()
			appendOne := func(tag string) (auditlog.Receipt, error) {
				return l.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:a", Action: "test.created", Payload: []byte(`{"t":"` + tag + `"}`)})
			}
			_, err := appendOne("warm")
			require.NoError(t, err)

			ps.armed.Store(true)
			var (
				mu     sync.Mutex
				acked  = map[uint64]string{}
				failed int
				wg     sync.WaitGroup
			)
			// Several appenders, so that the pipeline is used and several
			// batches are in hand when the panic comes.
			for w := range 8 {
				wg.Go(func() {
					for i := range 6 {
						rec, err := appendOne(fmt.Sprint(w, "-", i))
						mu.Lock()
						if err != nil {
							require.ErrorIs(t, err, auditlog.ErrInternal)
							require.ErrorIs(t, err, auditlog.ErrOutcomeUnknown)
							failed++
						} else {
							acked[rec.Seq] = fmt.Sprint(w, "-", i)
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			require.False(t, ps.armed.Load(), "the panic happened")
			require.Positive(t, failed, "the callers in hand were failed")

			_, err = appendOne("after")
			require.NoError(t, err, "the log keeps serving")
			logMu.Lock()
			require.Contains(t, logs.String(), "injected store panic")
			logMu.Unlock()

			_, err = auditlog.Verify(ctx, ps, "org:acme", auditlog.VerifyOptions{})
			require.NoError(t, err)
			got := map[uint64]string{}
			for _, e := range auditlogtest.Entries(t, ps, "org:acme") {
				got[e.Seq] = string(e.Payload)
			}
			for seq, tag := range acked {
				require.Equal(t, `{"t":"`+tag+`"}`, got[seq], "acknowledged entry %d", seq)
			}
		})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(b)
}

// panickySigner panics while signing a checkpoint.
type panickySigner struct{ note.Signer }

func (panickySigner) Sign([]byte) ([]byte, error) { panic("injected signer panic") }

// TestPanicSavingACheckpoint: a signer (or sink) that panics in the
// goroutine that saves checkpoints is logged as a failed checkpoint;
// appends succeed and keep succeeding.
func TestPanicSavingACheckpoint(t *testing.T) {
	t.Parallel()
	signer, _ := auditlogtest.NewSigner(t, "panicky")
	var logs bytes.Buffer
	var mu sync.Mutex
	l, _ := auditlogtest.NewLog(t, auditlog.NewMemoryStore(),
		auditlog.WithCheckpoints(panickySigner{signer}, auditlog.NewWriterSink(&bytes.Buffer{}), 1, 0),
		auditlog.WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))))
	for i := range 3 {
		require.NoError(t, l.Record(context.Background(), "acme", "user:a", "test.created", "", map[string]any{"i": i}))
	}
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, logs.String(), "injected signer panic")
}

// TestOutcomeUnknownSaysWhereToLook: an Append whose outcome is unknown
// carries the receipt the entry has if it was stored, and Log.Stored
// answers whether it was.
func TestOutcomeUnknownSaysWhereToLook(t *testing.T) {
	t.Parallel()
	for _, landed := range []bool{false, true} {
		t.Run(fmt.Sprint("landed=", landed), func(t *testing.T) {
			t.Parallel()
			mem := newMemStore()
			s := &blindScan{memStore: mem, landed: landed}
			l, _ := auditlogtest.NewLog(t, batchOnly{s})
			ctx := context.Background()
			_, err := l.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:a", Action: "test.created"})
			require.ErrorIs(t, err, auditlog.ErrOutcomeUnknown)
			var oue *auditlog.OutcomeUnknownError
			require.ErrorAs(t, err, &oue)
			require.Equal(t, "org:acme", oue.Receipt.Chain)
			s.blind.Store(false) // the store is reachable again
			ok, err := l.Stored(ctx, oue.Receipt)
			require.NoError(t, err)
			require.Equal(t, landed, ok)
		})
	}
}

// blindScan loses the connection on every append (after storing the batch
// if landed) and cannot be read until blind is cleared.
type blindScan struct {
	memStore
	landed bool
	blind  atomic.Bool
}

var errNoConn = errors.New("no connection")

func (b *blindScan) AppendBatch(ctx context.Context, chain string, seal auditlog.SealFunc) error {
	b.blind.Store(true)
	if b.landed {
		if err := b.memStore.AppendBatch(ctx, chain, seal); err != nil {
			return err
		}
		return errNoConn
	}
	return b.memStore.AppendBatch(ctx, chain, func(h auditlog.Head, tree tlog.HashReader) (*auditlog.Batch, error) {
		if _, err := seal(h, tree); err != nil {
			return nil, err
		}
		return nil, errNoConn
	})
}

func (b *blindScan) Scan(ctx context.Context, chain string, from uint64, fn func(e *auditlog.Entry) error) error {
	if b.blind.Load() {
		return errNoConn
	}
	return b.memStore.Scan(ctx, chain, from, fn)
}

// TestPanicAfterCommitAcknowledges: a panic in the writer after its batch
// committed (here the clock, read to decide on a checkpoint) releases the
// batch's callers with their receipts, since their entries are stored; the
// log keeps serving.
func TestPanicAfterCommitAcknowledges(t *testing.T) {
	t.Parallel()
	var armed atomic.Bool
	clock := auditlogtest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	now := func() time.Time {
		if armed.CompareAndSwap(true, false) {
			panic("injected clock panic")
		}
		return clock.Now()
	}
	signer, _ := auditlogtest.NewSigner(t, "clock")
	mem := auditlog.NewMemoryStore()
	l, err := auditlog.New(batchOnly{mem}, auditlog.WithClock(now),
		auditlog.WithCheckpoints(signer, auditlog.NewWriterSink(&bytes.Buffer{}), 1000, time.Hour),
		auditlog.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	require.NoError(t, l.Register(auditlogtest.Actions...))
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	_, err = l.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:a", Action: "test.created", Time: at})
	require.NoError(t, err)
	armed.Store(true) // entries carry their time: the next clock reading is the writer's
	rec, err := l.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:a", Action: "test.created", Time: at})
	require.NoError(t, err, "the entry was stored before the panic")
	require.False(t, armed.Load(), "the clock panicked in the writer")
	got := auditlogtest.Entries(t, mem, "org:acme")
	require.Len(t, got, 2)
	require.Equal(t, got[1].Hash, rec.Hash)
	_, err = l.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:a", Action: "test.created", Time: at})
	require.NoError(t, err)
}
