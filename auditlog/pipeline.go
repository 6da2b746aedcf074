package auditlog

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/mod/sumdb/tlog"
)

// pipelineDepth is how many batches of one chain a Log keeps in flight
// through a Pipeline: one being committed, the next already at the store.
const pipelineDepth = 2

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

// drainPipelined is drain for a PipelinedAppender. Each batch is sealed on
// the head the previous one leaves and sent without waiting for it, so the
// store always has the next batch when it finishes one; the callers of a
// batch are released once its Result says it is stored. When the expected
// head turns out wrong (another writer, or a failed batch before), the
// batches sealed on it go back to the front of the queue and are sealed
// again on the head read from the store: nothing is lost, reordered or
// written twice, as the store refuses any batch not extending its head.
func (l *Log) drainPipelined(chain string, cw *chainWriter, pa PipelinedAppender) {
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
			base, frontier := cw.cacheHead, cw.cacheFrontier
			if n := len(flight); n > 0 {
				base, frontier = flight[n-1].head, flight[n-1].frontier
			}
			batch := l.take(cw, mayIdle && len(flight) == 0)
			if batch == nil {
				return len(flight) > 0
			}
			if len(flight) == 0 && (frontier == nil || pl == nil && len(batch) == 1 && l.queued(cw) == 0 || l.busyChains.Load() > 1) {
				// The synchronous path: with no head known to seal on (a
				// first batch, or after a failure) it reads the store's;
				// and a lone append, nobody else waiting, gains nothing
				// from a pipeline, whose opening costs a round trip. An
				// empty queue alone does not make a batch lone: a batch
				// takes every waiting entry, so under steady load the
				// queue is empty whenever a batch is sealed.
				closePipeline()
				l.finish(chain, cw, batch)
				continue
			}
			sb, err := sealOn(base, frontier, batch)
			if err == nil && pl == nil {
				ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
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
				l.requeue(cw, batch)
				if len(flight) == 0 {
					closePipeline()
					cw.cacheHead, cw.cacheFrontier = Head{}, nil
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
		ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		err := pl.Result(ctx)
		cancel()
		if err == nil {
			cw.cacheHead, cw.cacheFrontier = sb.head, sb.frontier
			// Wake these callers, and let them run, before sending the
			// next batch, so that those appending again join it. Sent
			// first, the next batch missed them all: under steady load the
			// appenders settled into two groups taking turns, three
			// outcomes in four were read with no batch behind them, and
			// the store sat idle while the Log read each and sent the next.
			// Woken first, they make the batch that keeps the pipeline
			// full. The yield costs an idle store a few microseconds.
			l.release(chain, cw, sb, nil)
			runtime.Gosched()
			fill(false)
			continue
		}
		// sb is not known to be stored, so neither is anything sealed on
		// it: stop the pipeline, settle sb, and put back every later batch
		// that is not stored.
		closePipeline()
		cw.cacheHead, cw.cacheFrontier = Head{}, nil
		later := flight
		flight = nil
		if errors.Is(err, ErrFork) {
			// Another writer moved the head: sb was not written, nor was
			// anything sealed on it; seal them again on the real head.
			l.requeue(cw, append(sb.pend, laterPending(later)...))
			continue
		}
		// Anything else: read the store to learn what was written. A batch
		// is put back only when it is known not to be stored; when sb is
		// not, the batches sealed on it cannot be either.
		// Callers are released in chain order, so checkpoints only move on.
		sbIs, cerr := l.settle(chain, sb.b, err)
		var again []*pending
		switch sbIs {
		case stored:
			l.release(chain, cw, sb, nil)
		case notStored:
			if retryable(err) {
				// The connection was lost and sb is not stored: seal it
				// again, as the batches after it.
				again = append(again, sb.pend...)
			} else {
				l.release(chain, cw, sb, err)
			}
		default:
			l.release(chain, cw, sb, fmt.Errorf("%w: %w (checking afterwards: %w)", ErrOutcomeUnknown, err, cerr))
		}
		for _, lb := range later {
			is, lerr := notStored, error(nil)
			if sbIs != notStored {
				is, lerr = l.settle(chain, lb.b, err)
			}
			switch is {
			case notStored:
				again = append(again, lb.pend...)
			case stored:
				l.release(chain, cw, lb, nil)
			default:
				l.release(chain, cw, lb, fmt.Errorf("%w: the pipeline broke (%w), and checking afterwards failed: %w", ErrOutcomeUnknown, err, lerr))
			}
		}
		l.requeue(cw, again)
	}
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
func (l *Log) settle(chain string, b *Batch, serr error) (outcome, error) {
	ok, err := l.committed(chain, b)
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

// release gives a settled batch's callers their receipts (err == nil) or
// err, after the checkpoint its entries make due (see maybeCheckpoint).
func (l *Log) release(chain string, cw *chainWriter, sb *sealedBatch, err error) {
	for i, p := range sb.pend {
		if err != nil {
			p.err = appendErr(chain, err, sb.b, i)
			continue
		}
		e := &sb.b.Entries[i]
		p.rec = Receipt{Chain: chain, Seq: e.Seq, Hash: e.Hash}
	}
	if err == nil {
		l.maybeCheckpoint(chain, cw, sb.head, sb.root)
	}
	for _, p := range sb.pend {
		close(p.done)
	}
}
