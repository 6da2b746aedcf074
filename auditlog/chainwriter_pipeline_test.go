package auditlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
)

// slowMemory is the memory store taking a little while per batch, as a
// database does, so that appends queue up behind the batch being stored and
// the Log pipelines them. Without it, appends to the memory store could
// each find nothing queued and all go the synchronous way, leaving the
// pipeline under test unused.
type slowMemory struct{ memStore }

const storeLatency = 200 * time.Microsecond

func (s slowMemory) AppendSealed(ctx context.Context, expect auditlog.Head, b *auditlog.Batch) error {
	time.Sleep(storeLatency)
	return s.memStore.AppendSealed(ctx, expect, b)
}

func (s slowMemory) AppendBatch(ctx context.Context, chain string, seal auditlog.SealFunc) error {
	time.Sleep(storeLatency)
	return s.memStore.AppendBatch(ctx, chain, seal)
}

// unreliableStore pipelines like the memory store, but every few batches
// another writer slips an entry in first (so the batch forks), or the
// pipeline breaks after storing the batch, or before.
type unreliableStore struct {
	slowMemory
	other *auditlog.Log // the other writer, on the same store

	mu    sync.Mutex
	sends int
	opens int
}

func (s *unreliableStore) OpenPipeline(ctx context.Context) (auditlog.Pipeline, error) {
	s.mu.Lock()
	s.opens++
	n := s.opens
	s.mu.Unlock()
	if n%4 == 0 {
		return nil, errLost // the Log appends without a pipeline this time
	}
	return &unreliablePipeline{s: s}, ctx.Err()
}

type unreliablePipeline struct {
	s       *unreliableStore
	results []error
	broken  bool
}

var errLost = errors.New("connection lost")

func (p *unreliablePipeline) Send(expect auditlog.Head, b *auditlog.Batch) error {
	if p.broken {
		return errLost
	}
	p.s.mu.Lock()
	p.s.sends++
	n := p.s.sends
	p.s.mu.Unlock()
	ctx := context.Background()
	switch {
	case n%13 == 0:
		// The connection drops while sending: b is not sent, and the
		// outcomes of the batches in flight are unknown.
		p.broken = true
		return errLost
	case n%5 == 0:
		// Another process appends first: b no longer extends the head.
		if _, err := p.s.other.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:other", Action: "user.login"}); err != nil {
			return err
		}
		p.results = append(p.results, p.s.AppendSealed(ctx, expect, b))
	case n%7 == 0:
		// Stored, but the connection drops before the outcome arrives.
		err := p.s.AppendSealed(ctx, expect, b)
		if err == nil {
			err = errLost
		}
		p.results = append(p.results, err)
	case n%11 == 0:
		// The connection drops before b reaches the store.
		p.results = append(p.results, errLost)
	default:
		p.results = append(p.results, p.s.AppendSealed(ctx, expect, b))
	}
	return nil
}

func (p *unreliablePipeline) Result(context.Context) error {
	if p.broken {
		return errLost
	}
	err := p.results[0]
	p.results = p.results[1:]
	if err != nil && !errors.Is(err, auditlog.ErrFork) {
		p.broken = true
	}
	return err
}

func (p *unreliablePipeline) Close() error { return nil }

// TestPipelineSettlesEveryOutcome: whatever happens to pipelined batches
// (forks, a connection lost after or before the store), every append that
// returned nil is in the chain exactly once, every one that failed is not,
// the chain verifies, and the checkpoint signed after each stored batch
// only ever moves forward and matches the chain.
func TestPipelineSettlesEveryOutcome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := newMemStore()
	other, err := auditlog.New(mem)
	require.NoError(t, err)
	require.NoError(t, other.Register(testActions...))
	s := &unreliableStore{slowMemory: slowMemory{mem}, other: other}
	signer, verifier := auditlogtest.NewSigner(t, "pipeline.test")
	var sunk bytes.Buffer
	l, err := auditlog.New(s, auditlog.WithMaxBatch(4),
		auditlog.WithCheckpoints(signer, auditlog.NewWriterSink(&sunk), 1, 0))
	require.NoError(t, err)
	require.NoError(t, l.Register(testActions...))

	var (
		mu      sync.Mutex
		written = map[string]bool{}
		failed  int
		wg      sync.WaitGroup
	)
	for w := range 16 {
		wg.Go(func() {
			for i := range 25 {
				id := fmt.Sprintf("w%d-%d", w, i)
				_, err := l.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:" + id, Action: "user.login"})
				mu.Lock()
				if err == nil {
					written[id] = true
				} else {
					require.ErrorIs(t, err, errLost)
					failed++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Positive(t, failed, "some batches were lost before the store")
	require.Greater(t, s.sends, 20, "the Log pipelined")

	cps, err := auditlog.ReadCheckpoints(sunk.Bytes(), note.VerifierList(verifier))
	require.NoError(t, err)
	require.Greater(t, len(cps), 20)
	for i := 1; i < len(cps); i++ {
		require.Greater(t, cps[i].Size, cps[i-1].Size, "checkpoint %d goes back", i)
	}
	res, err := auditlog.Verify(ctx, mem, "org:acme", auditlog.VerifyOptions{Checkpoints: cps})
	require.NoError(t, err)
	require.Equal(t, len(cps), res.Checkpoints)
	got := map[string]int{}
	others := 0
	require.NoError(t, mem.Scan(ctx, "org:acme", 0, func(e *auditlog.Entry) error {
		if e.Actor == "user:other" {
			others++
		} else {
			got[e.Actor[len("user:"):]]++
		}
		return nil
	}))
	for id, n := range got {
		require.Equal(t, 1, n, "%s written once", id)
		require.True(t, written[id], "%s in the chain but reported failed", id)
	}
	require.Len(t, got, len(written), "every append reported written is in the chain")
	require.EqualValues(t, len(written)+others, res.Size)
}

type countingPipelines struct {
	memStore
	opens int
}

func (s *countingPipelines) OpenPipeline(ctx context.Context) (auditlog.Pipeline, error) {
	s.opens++
	return s.memStore.OpenPipeline(ctx)
}

// TestLoneAppendsSkipThePipeline: opening a pipeline costs a round trip, so
// appends that find nothing else waiting go the synchronous way.
func TestLoneAppendsSkipThePipeline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := &countingPipelines{memStore: newMemStore()}
	l, err := auditlog.New(s)
	require.NoError(t, err)
	require.NoError(t, l.Register(testActions...))
	for range 5 {
		_, err := l.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:a", Action: "user.login"})
		require.NoError(t, err)
	}
	require.Zero(t, s.opens)
}

// pacedStore counts the batches stored the synchronous way and through a
// pipeline, each taking storeLatency, and the pipelined batches holding an
// entry of an actor whose previous entry was in the batch whose outcome
// the pipeline returned last (rejoined).
type pacedStore struct {
	slowMemory
	mu                      sync.Mutex
	synced, piped, rejoined int
	released                map[string]bool // actors of the last batch returned
}

func (s *pacedStore) AppendSealed(ctx context.Context, expect auditlog.Head, b *auditlog.Batch) error {
	s.mu.Lock()
	s.synced++
	s.mu.Unlock()
	return s.slowMemory.AppendSealed(ctx, expect, b)
}

func (s *pacedStore) AppendBatch(ctx context.Context, chain string, seal auditlog.SealFunc) error {
	s.mu.Lock()
	s.synced++
	s.mu.Unlock()
	return s.slowMemory.AppendBatch(ctx, chain, seal)
}

func (s *pacedStore) OpenPipeline(context.Context) (auditlog.Pipeline, error) {
	return &pacedPipeline{s: s}, nil
}

type pacedPipeline struct {
	s       *pacedStore
	results []error
	actors  []map[string]bool
}

func (p *pacedPipeline) Send(expect auditlog.Head, b *auditlog.Batch) error {
	actors := make(map[string]bool)
	rejoined := false
	p.s.mu.Lock()
	for _, e := range b.Entries {
		actors[e.Actor] = true
		rejoined = rejoined || p.s.released[e.Actor]
	}
	p.s.piped++
	if rejoined {
		p.s.rejoined++
	}
	p.s.mu.Unlock()
	p.actors = append(p.actors, actors)
	p.results = append(p.results, p.s.memStore.AppendSealed(context.Background(), expect, b))
	return nil
}

func (p *pacedPipeline) Result(context.Context) error {
	time.Sleep(storeLatency)
	err := p.results[0]
	p.results = p.results[1:]
	p.s.mu.Lock()
	p.s.released = p.actors[0]
	p.s.mu.Unlock()
	p.actors = p.actors[1:]
	return err
}

func (p *pacedPipeline) Close() error { return nil }

// appendInLoops runs workers goroutines that each append each entries, one
// after another, as actor "user:<worker>".
func appendInLoops(t *testing.T, l *auditlog.Log, workers, each int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				_, err := l.Append(context.Background(), auditlog.Entry{Org: "acme", Actor: fmt.Sprintf("user:%d", w), Action: "user.login"})
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
}

// TestConcurrentAppendsPipeline: under steady concurrent load most batches
// go through the pipeline, even though each batch takes every entry that
// is waiting (so that, when it is sealed, nothing is queued behind it yet).
func TestConcurrentAppendsPipeline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := &pacedStore{slowMemory: slowMemory{newMemStore()}}
	l, err := auditlog.New(s)
	require.NoError(t, err)
	require.NoError(t, l.Register(testActions...))
	appendInLoops(t, l, 16, 25)
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Greater(t, s.piped, 2*s.synced, "batches through the pipeline (%d) and not (%d)", s.piped, s.synced)
	_, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)
}

// TestReleasedCallersJoinTheNextBatch: the callers of a stored batch are
// woken, and given the chance to append again, before the next batch is
// sent. Sending first made each batch miss the callers just released: the
// appenders settled into two groups taking turns, one batch in flight at a
// time, and 64 appenders on PostgreSQL ran a fifth slower. One processor,
// so that the yield lets the woken callers run before the Log goes on.
func TestReleasedCallersJoinTheNextBatch(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := &pacedStore{slowMemory: slowMemory{newMemStore()}}
	l, err := auditlog.New(s)
	require.NoError(t, err)
	require.NoError(t, l.Register(testActions...))
	appendInLoops(t, l, 32, 20)
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Greater(t, s.rejoined, s.piped/2, "of %d pipelined batches, %d held a caller of the batch stored just before", s.piped, s.rejoined)
}

// blindStore loses the outcome of its third pipelined batch (stored all
// the same) and from then on cannot be read, so the Log cannot settle the
// batches in flight.
type blindStore struct {
	slowMemory
	mu    sync.Mutex
	sends int
	blind bool
}

func (s *blindStore) Scan(ctx context.Context, chain string, from uint64, fn func(*auditlog.Entry) error) error {
	s.mu.Lock()
	blind := s.blind
	s.mu.Unlock()
	if blind {
		return errors.New("store unreachable")
	}
	return s.memStore.Scan(ctx, chain, from, fn)
}

func (s *blindStore) OpenPipeline(context.Context) (auditlog.Pipeline, error) {
	return &blindPipeline{s: s}, nil
}

type blindPipeline struct {
	s       *blindStore
	results []error
}

func (p *blindPipeline) Send(expect auditlog.Head, b *auditlog.Batch) error {
	err := p.s.AppendSealed(context.Background(), expect, b)
	p.s.mu.Lock()
	p.s.sends++
	if p.s.sends == 3 && err == nil {
		err, p.s.blind = errLost, true
	}
	p.s.mu.Unlock()
	p.results = append(p.results, err)
	return nil
}

func (p *blindPipeline) Result(context.Context) error {
	err := p.results[0]
	p.results = p.results[1:]
	return err
}

func (p *blindPipeline) Close() error { return nil }

// TestPipelineUnknownOutcomeIsNotRetried: when neither the pipeline nor a
// read of the store can say whether a batch was written, its callers get
// ErrOutcomeUnknown, and neither it nor the batches sealed on it are
// written again.
func TestPipelineUnknownOutcomeIsNotRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := &blindStore{slowMemory: slowMemory{newMemStore()}}
	l, err := auditlog.New(s, auditlog.WithMaxBatch(2))
	require.NoError(t, err)
	require.NoError(t, l.Register(testActions...))
	var (
		mu      sync.Mutex
		results = map[string]error{}
		wg      sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			for i := range 4 {
				id := fmt.Sprintf("w%d-%d", w, i)
				_, err := l.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:" + id, Action: "user.login"})
				mu.Lock()
				results[id] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	unknown := 0
	for _, err := range results {
		if err != nil {
			require.ErrorIs(t, err, auditlog.ErrOutcomeUnknown)
			unknown++
		}
	}
	require.Positive(t, unknown)
	s.mu.Lock()
	s.blind = false
	s.mu.Unlock()
	seen := map[string]int{}
	require.NoError(t, s.Scan(ctx, "org:acme", 0, func(e *auditlog.Entry) error {
		seen[e.Actor]++
		return nil
	}))
	for id, err := range results {
		n := seen["user:"+id]
		require.LessOrEqual(t, n, 1, "%s written twice", id)
		if err == nil {
			require.Equal(t, 1, n, "%s reported written", id)
		}
	}
	_, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)
}
