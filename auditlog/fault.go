package auditlog

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"
)

// appendAttempts bounds how often a Log stores one batch when the
// connection is lost and the store shows the batch was not stored.
const appendAttempts = 5

// Stored reports whether the entry of r (the Receipt of an
// OutcomeUnknownError) is in its chain. The answer is final once the
// database has no session left of the connection that was lost: the
// PostgreSQL store ends such a session before it returns, and reports
// ErrOutcomeUnknown when it could not.
func (l *Log) Stored(ctx context.Context, r Receipt) (bool, error) {
	h, err := entryHashAt(ctx, l.store, r.Chain, r.Seq)
	if err != nil {
		return false, err
	}
	return h != nil && *h == r.Hash, nil
}

// retryable reports whether a batch that failed with err and was found
// not stored may be stored again.
func retryable(err error) bool {
	return errors.Is(err, ErrConnectionLost) && !errors.Is(err, ErrOutcomeUnknown)
}

// retryBackoff is the pause before attempt n (n >= 1) of storing a batch
// again.
func retryBackoff(n int) time.Duration { return time.Duration(n*n) * 20 * time.Millisecond }

// recoverWriter is deferred at the top of a chain's draining goroutine. On
// a panic it logs it, fails every caller whose entry was handed over and
// not released (ErrInternal, ErrOutcomeUnknown), forgets the head the
// writer expected, and starts a new drainer if entries are waiting, so the
// next Append is served.
func (l *Log) recoverWriter(chain string, cw *chainWriter) {
	r := recover()
	if r == nil {
		return
	}
	l.logPanic("auditlog: panic in the chain writer", "chain", chain, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	err := fmt.Errorf("auditlog: append to chain %q: %w: %w: panic: %v", chain, ErrInternal, ErrOutcomeUnknown, r)
	cw.mu.Lock()
	var fail []*pending
	for _, p := range cw.inHand {
		select {
		case <-p.done: // released before the panic
		default:
			fail = append(fail, p)
		}
	}
	cw.inHand = nil
	// Some may have been put back in the queue: they are answered now.
	cw.queue = slices.DeleteFunc(cw.queue, func(q *pending) bool { return slices.Contains(fail, q) })
	cw.cacheHead, cw.cacheFrontier = Head{}, nil
	restart := len(cw.queue) > 0
	cw.busy = restart
	if !restart {
		l.busyChains.Add(-1)
	}
	cw.mu.Unlock()
	for _, p := range fail {
		if p.err == nil && p.rec.Chain == "" {
			p.err = err
		}
		close(p.done)
	}
	if restart {
		go l.drain(chain, cw)
	}
}

// recoverCheckpoints is deferred at the top of the goroutine that saves
// checkpoints: a panicking signer or sink is logged and counted as a failed
// save, and appends go on.
func (l *Log) recoverCheckpoints(cs *checkpoints, cp *Checkpoint, saved *chan struct{}) {
	r := recover()
	if r == nil {
		return
	}
	l.logPanic("auditlog: panic saving a checkpoint", "chain", cp.Chain, "size", cp.Size, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	cs.mu.Lock()
	cs.inFlight, cs.next, cs.failing = false, nil, true
	cs.backoff = min(max(2*cs.backoff, time.Second), time.Minute)
	cs.retryAt = time.Now().Add(cs.backoff) // not l.now: the clock may be what panicked
	cs.mu.Unlock()
	if *saved != nil {
		close(*saved)
		*saved = nil
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

// logPanic logs a recovered panic; a logger that panics in turn (the
// host's handler) is ignored rather than allowed to end the process.
func (l *Log) logPanic(msg string, args ...any) {
	defer func() { _ = recover() }()
	l.logger.Error(msg, args...)
}
