package auditlog

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// A chainWriter is the writer of one chain, and the one place an entry goes
// through between Log.Append and its outcome. Append hands it the entry
// once (append). While its queue is not empty one goroutine (drain) takes
// batches from it (take) and stores each, either on the synchronous path
// (finish: seal on the store's head and commit, in one call) or through a
// Pipeline (drainPipelined: seal each batch on the head the previous one
// leaves and send it without waiting). A batch whose outcome a failure hid
// is looked up in the store (committed, settle); what is known not stored
// goes back to the front of the queue (requeue), to be sealed again. The
// callers of a batch are then woken (release), after the checkpoint their
// entries make due (checkpointer). A panic in the goroutine fails the
// callers in hand and starts a new one (recoverPanic).
type chainWriter struct {
	chain      string
	store      Store
	cfg        *config
	busyChains *atomic.Int64 // the Log's count of chains whose writer runs
	cp         checkpointer

	mu    sync.Mutex
	queue []*pending
	busy  bool // a goroutine runs drain
	// inHand are the entries handed to the drainer whose callers may not
	// have been released yet: recoverPanic answers them after a panic.
	inHand []*pending

	// Owned by the draining goroutine: the tree frontier after this
	// writer's last batch. When the next batch finds the same head (no
	// other process wrote in between), the store need not be read for it.
	cacheHead     Head
	cacheFrontier overlay
}

// pending is an entry handed to a chainWriter, with its outcome.
type pending struct {
	e     Entry
	taken bool // guarded by chainWriter.mu
	done  chan struct{}
	rec   Receipt
	err   error
}

// A sealedBatch is a batch sealed on a head the writer expects, with what
// storing it leaves behind.
type sealedBatch struct {
	pend     []*pending
	base     Head
	b        *Batch
	head     Head
	root     tlog.Hash
	frontier overlay
}

// appendAttempts bounds how often a Log stores one batch when the
// connection is lost and the store shows the batch was not stored.
const appendAttempts = 5

// pipelineDepth is how many batches of one chain a Log keeps in flight
// through a Pipeline: one being committed, the next already at the store.
const pipelineDepth = 2

// append queues p, starts the draining goroutine if none runs, and waits
// for p's outcome, as Log.Append describes.
func (w *chainWriter) append(ctx context.Context, p *pending) (Receipt, error) {
	w.mu.Lock()
	w.queue = append(w.queue, p)
	if !w.busy {
		w.busy = true
		w.busyChains.Add(1)
		go w.drain()
	}
	w.mu.Unlock()

	select {
	case <-p.done:
		return p.rec, p.err
	case <-ctx.Done():
	}
	w.mu.Lock()
	if !p.taken {
		for i, q := range w.queue {
			if q == p {
				w.queue = append(w.queue[:i:i], w.queue[i+1:]...)
				break
			}
		}
		w.mu.Unlock()
		return Receipt{}, ctx.Err()
	}
	w.mu.Unlock()
	<-p.done
	return p.rec, p.err
}

// drain stores the queue batch after batch; one goroutine per chain runs
// it while the queue is not empty.
func (w *chainWriter) drain() {
	defer w.recoverPanic()
	if pa, ok := w.store.(PipelinedAppender); ok {
		w.drainPipelined(pa)
		return
	}
	for {
		batch := w.take(true)
		if batch == nil {
			return
		}
		w.finish(batch)
	}
}

// take hands up to maxBatch queued entries over to the drainer. If the
// queue is empty it returns nil and, if idle, marks the chain idle: the
// next Append starts a new drainer.
func (w *chainWriter) take(idle bool) []*pending {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		if idle {
			w.busy = false
			w.busyChains.Add(-1)
		}
		return nil
	}
	n := min(len(w.queue), w.cfg.maxBatch)
	batch := make([]*pending, n)
	copy(batch, w.queue)
	for _, p := range batch {
		p.taken = true
	}
	w.queue = append(w.queue[:0:0], w.queue[n:]...)
	w.inHand = slices.DeleteFunc(w.inHand, func(p *pending) bool {
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	})
	w.inHand = append(w.inHand, batch...)
	return batch
}

// queued reports how many entries wait in the queue.
func (w *chainWriter) queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// requeue puts entries that were handed over but not written back at the
// front of the queue, in order, to be sealed again.
func (w *chainWriter) requeue(ps []*pending) {
	if len(ps) == 0 {
		return
	}
	w.mu.Lock()
	w.queue = append(ps[:len(ps):len(ps)], w.queue...)
	w.mu.Unlock()
}

// finish stores batch synchronously and releases its callers.
func (w *chainWriter) finish(batch []*pending) {
	sb, err := w.commit(batch)
	for n := 1; n < appendAttempts && err != nil && retryable(err); n++ {
		// Known not stored, and the connection was lost: store it again.
		time.Sleep(retryBackoff(n))
		sb, err = w.commit(batch)
	}
	// Before the callers are woken: an append that returned is covered by
	// any checkpoint that was due, unless the sink was slow or failing.
	w.release(sb, err)
}

// commit seals batch in one store transaction. On a store error it finds
// out whether the transaction committed, so callers learn exactly which
// entries were written. The batch comes back as sealed (b is nil if it was
// not), with the error of the whole batch.
func (w *chainWriter) commit(batch []*pending) (*sealedBatch, error) {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.timeout)
	defer cancel()
	entries := make([]Entry, len(batch))
	for i, p := range batch {
		entries[i] = p.e
	}
	var (
		sealed   *Batch
		head     Head
		root     tlog.Hash
		frontier overlay
		err      error
		done     bool
	)
	// Fast path: seal against the head this writer left, and store in one
	// step; the store refuses (ErrFork) if another writer moved the head.
	if sa, ok := w.store.(SealedAppender); ok && w.cacheFrontier != nil {
		if b, nh, r, serr := Seal(w.cacheHead, w.cacheFrontier, entries); serr == nil {
			sealed, head, root = b, nh, r
			frontier = nextFrontier(w.cacheFrontier, b, nh.Size)
			err = sa.AppendSealed(ctx, w.cacheHead, b)
			done = !errors.Is(err, ErrFork)
		}
	}
	if !done {
		sealed, frontier = nil, nil
		err = w.store.AppendBatch(ctx, w.chain, func(h Head, tree tlog.HashReader) (*Batch, error) {
			read, reader := frontierReader(h, tree, w.cacheHead, w.cacheFrontier)
			b, newHead, r, err := Seal(h, reader, entries)
			if err != nil {
				return nil, err
			}
			sealed, head, root = b, newHead, r
			frontier = nextFrontier(read, b, newHead.Size)
			return b, nil
		})
	}
	w.cacheHead, w.cacheFrontier = Head{}, nil
	if err != nil && sealed != nil && !errors.Is(err, ErrFork) {
		if ok, cerr := w.committed(sealed); cerr != nil {
			err = fmt.Errorf("%w: %w (checking afterwards: %w)", ErrOutcomeUnknown, err, cerr)
		} else if ok {
			err = nil
		}
	}
	if err == nil && frontier != nil {
		w.cacheHead, w.cacheFrontier = head, frontier
	}
	return &sealedBatch{pend: batch, b: sealed, head: head, root: root, frontier: frontier}, err
}

// drainPipelined is drain for a PipelinedAppender. Each batch is sealed on
// the head the previous one leaves and sent without waiting for it, so the
// store always has the next batch when it finishes one; the callers of a
// batch are released once its Result says it is stored. When the expected
// head turns out wrong (another writer, or a failed batch before), the
// batches sealed on it go back to the front of the queue and are sealed
// again on the head read from the store: nothing is lost, reordered or
// written twice, as the store refuses any batch not extending its head.
func (w *chainWriter) drainPipelined(pa PipelinedAppender) {
	var (
		pl     Pipeline
		flight []*sealedBatch // sent, outcome not read yet, oldest first
	)
	closePipeline := func() {
		if pl != nil {
			_ = pl.Close()
			pl = nil
		}
	}
	defer closePipeline()

	// fill sends batches until pipelineDepth are in flight or the queue is
	// empty. It reports false when the chain has gone idle, which only a
	// caller about to return may let it do (mayIdle): once idle, the next
	// Append starts another drainer.
	fill := func(mayIdle bool) bool {
		for len(flight) < pipelineDepth {
			base, frontier := w.cacheHead, w.cacheFrontier
			if n := len(flight); n > 0 {
				base, frontier = flight[n-1].head, flight[n-1].frontier
			}
			batch := w.take(mayIdle && len(flight) == 0)
			if batch == nil {
				return len(flight) > 0
			}
			if len(flight) == 0 && (frontier == nil || pl == nil && len(batch) == 1 && w.queued() == 0 || w.busyChains.Load() > 1) {
				// The synchronous path: with no head known to seal on (a
				// first batch, or after a failure) it reads the store's;
				// and a lone append, nobody else waiting, gains nothing
				// from a pipeline, whose opening costs a round trip. An
				// empty queue alone does not make a batch lone: a batch
				// takes every waiting entry, so under steady load the
				// queue is empty whenever a batch is sealed.
				closePipeline()
				w.finish(batch)
				continue
			}
			sb, err := sealOn(base, frontier, batch)
			if err == nil && pl == nil {
				ctx, cancel := context.WithTimeout(context.Background(), w.cfg.timeout)
				pl, err = pa.OpenPipeline(ctx)
				cancel()
				if err != nil {
					pl = nil
				}
			}
			if err == nil {
				err = pl.Send(sb.base, sb.b)
			}
			if err != nil {
				// Not sent: seal it again once what is in flight is settled
				// (the pipeline's next Result reports it broken, if it is),
				// or at once on the synchronous path if nothing is.
				w.requeue(batch)
				if len(flight) == 0 {
					closePipeline()
					w.cacheHead, w.cacheFrontier = Head{}, nil
					continue
				}
				return true
			}
			flight = append(flight, sb)
		}
		return true
	}

	for fill(true) {
		sb := flight[0]
		flight = flight[1:]
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.timeout)
		err := pl.Result(ctx)
		cancel()
		if err == nil {
			w.cacheHead, w.cacheFrontier = sb.head, sb.frontier
			// Wake these callers, and let them run, before sending the
			// next batch, so that those appending again join it. Sent
			// first, the next batch missed them all: under steady load the
			// appenders settled into two groups taking turns, three
			// outcomes in four were read with no batch behind them, and
			// the store sat idle while the Log read each and sent the next.
			// Woken first, they make the batch that keeps the pipeline
			// full. The yield costs an idle store a few microseconds.
			w.release(sb, nil)
			runtime.Gosched()
			fill(false)
			continue
		}
		// sb is not known to be stored, so neither is anything sealed on
		// it: stop the pipeline, settle sb, and put back every later batch
		// that is not stored.
		closePipeline()
		w.cacheHead, w.cacheFrontier = Head{}, nil
		later := flight
		flight = nil
		if errors.Is(err, ErrFork) {
			// Another writer moved the head: sb was not written, nor was
			// anything sealed on it; seal them again on the real head.
			w.requeue(append(sb.pend, laterPending(later)...))
			continue
		}
		// Anything else: read the store to learn what was written. A batch
		// is put back only when it is known not to be stored; when sb is
		// not, the batches sealed on it cannot be either.
		// Callers are released in chain order, so checkpoints only move on.
		sbIs, cerr := w.settle(sb.b, err)
		var again []*pending
		switch sbIs {
		case stored:
			w.release(sb, nil)
		case notStored:
			if retryable(err) {
				// The connection was lost and sb is not stored: seal it
				// again, as the batches after it.
				again = append(again, sb.pend...)
			} else {
				w.release(sb, err)
			}
		default:
			w.release(sb, fmt.Errorf("%w: %w (checking afterwards: %w)", ErrOutcomeUnknown, err, cerr))
		}
		for _, lb := range later {
			is, lerr := notStored, error(nil)
			if sbIs != notStored {
				is, lerr = w.settle(lb.b, err)
			}
			switch is {
			case notStored:
				again = append(again, lb.pend...)
			case stored:
				w.release(lb, nil)
			default:
				w.release(lb, fmt.Errorf("%w: the pipeline broke (%w), and checking afterwards failed: %w", ErrOutcomeUnknown, err, lerr))
			}
		}
		w.requeue(again)
	}
}

func laterPending(bs []*sealedBatch) []*pending {
	var out []*pending
	for _, b := range bs {
		out = append(out, b.pend...)
	}
	return out
}

// sealOn seals batch on head, whose tree frontier is known.
func sealOn(head Head, frontier overlay, batch []*pending) (*sealedBatch, error) {
	entries := make([]Entry, len(batch))
	for i, p := range batch {
		entries[i] = p.e
	}
	b, nh, root, err := Seal(head, frontier, entries)
	if err != nil {
		return nil, err
	}
	next := nextFrontier(frontier, b, nh.Size)
	if next == nil {
		return nil, errors.New("auditlog: tree frontier incomplete")
	}
	return &sealedBatch{pend: batch, base: head, b: b, head: nh, root: root, frontier: next}, nil
}

type outcome int

const (
	notStored outcome = iota
	stored
	unknown
)

// settle reads the store to learn whether b, whose outcome a broken
// pipeline did not deliver (with serr), was stored; unknown comes with the
// error of the check. A batch not found is not stored only if the store
// did not report that it may still be (ErrOutcomeUnknown: a session it
// could not end).
func (w *chainWriter) settle(b *Batch, serr error) (outcome, error) {
	ok, err := w.committed(b)
	switch {
	case err != nil:
		return unknown, err
	case ok:
		return stored, nil
	case errors.Is(serr, ErrOutcomeUnknown):
		return unknown, errors.New("not stored yet")
	default:
		return notStored, nil
	}
}

// committed reports whether the first entry of b is in the store, which, as
// a batch is one transaction, says whether all of b is.
func (w *chainWriter) committed(b *Batch) (bool, error) {
	if len(b.Entries) == 0 {
		return false, nil
	}
	first := &b.Entries[0]
	var lastErr error
	for attempt := range 5 {
		time.Sleep(time.Duration(attempt*attempt) * 50 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.timeout)
		found, err := entryHashAt(ctx, w.store, w.chain, first.Seq)
		cancel()
		if err == nil {
			return found != nil && *found == first.Hash, nil
		}
		lastErr = err
	}
	return false, lastErr
}

// retryable reports whether a batch that failed with err and was found
// not stored may be stored again.
func retryable(err error) bool {
	return errors.Is(err, ErrConnectionLost) && !errors.Is(err, ErrOutcomeUnknown)
}

// retryBackoff is the pause before attempt n (n >= 1) of storing a batch
// again.
func retryBackoff(n int) time.Duration { return time.Duration(n*n) * 20 * time.Millisecond }

// release gives a settled batch's callers their receipts (err == nil) or
// err, and wakes them after the checkpoint its entries make due (see
// checkpointer.maybe).
func (w *chainWriter) release(sb *sealedBatch, err error) {
	for i, p := range sb.pend {
		if err != nil {
			p.err = appendErr(w.chain, err, sb.b, i)
			continue
		}
		e := &sb.b.Entries[i]
		p.rec, p.err = Receipt{Chain: w.chain, Seq: e.Seq, Hash: e.Hash}, nil
	}
	if err == nil {
		w.cp.maybe(w.chain, sb.head, sb.root)
	}
	for _, p := range sb.pend {
		close(p.done)
	}
}

// appendErr is the error of the i-th entry of a batch that failed with err;
// b is the batch as sealed, if it was.
func appendErr(chain string, err error, b *Batch, i int) error {
	err = fmt.Errorf("auditlog: append to chain %q: %w", chain, err)
	if b != nil && i < len(b.Entries) && errors.Is(err, ErrOutcomeUnknown) {
		e := &b.Entries[i]
		err = &OutcomeUnknownError{Receipt: Receipt{Chain: chain, Seq: e.Seq, Hash: e.Hash}, Err: err}
	}
	return err
}

// recoverPanic is deferred at the top of the draining goroutine. On a
// panic it logs it, fails every caller whose entry was handed over and not
// released (ErrInternal, ErrOutcomeUnknown), forgets the head the writer
// expected, and starts a new drainer if entries are waiting, so the next
// Append is served.
func (w *chainWriter) recoverPanic() {
	r := recover()
	if r == nil {
		return
	}
	w.cfg.logPanic("auditlog: panic in the chain writer", "chain", w.chain, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	err := fmt.Errorf("auditlog: append to chain %q: %w: %w: panic: %v", w.chain, ErrInternal, ErrOutcomeUnknown, r)
	w.mu.Lock()
	var fail []*pending
	for _, p := range w.inHand {
		select {
		case <-p.done: // released before the panic
		default:
			fail = append(fail, p)
		}
	}
	w.inHand = nil
	// Some may have been put back in the queue: they are answered now.
	w.queue = slices.DeleteFunc(w.queue, func(q *pending) bool { return slices.Contains(fail, q) })
	w.cacheHead, w.cacheFrontier = Head{}, nil
	restart := len(w.queue) > 0
	w.busy = restart
	if !restart {
		w.busyChains.Add(-1)
	}
	w.mu.Unlock()
	for _, p := range fail {
		if p.err == nil && p.rec.Chain == "" {
			p.err = err
		}
		close(p.done)
	}
	if restart {
		go w.drain()
	}
}
