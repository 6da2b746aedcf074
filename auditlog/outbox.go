package auditlog

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// ActionOutboxRejected is the entry the outbox relay seals in place of an
// outbox row that is not a valid entry (one inserted into the outbox
// directly, bypassing validation, or with an action this Log does not
// know): the row is accounted for in its chain instead of blocking it or
// vanishing.
const ActionOutboxRejected = "auditlog.outbox.rejected"

// Outbox is a store's transactional outbox: entries recorded inside host
// transactions (auditlog/pgstore's RecordTx), waiting for a relay to seal
// them into their chains. Log.RunOutbox drains it.
type Outbox interface {
	// OutboxChains lists chains that have waiting entries, at most limit.
	OutboxChains(ctx context.Context, limit int) ([]string, error)
	// RelayOutbox relays chain's waiting entries, one transaction per
	// batch. Each transaction locks chain's head as AppendBatch does, takes
	// up to max waiting entries in outbox order, calls seal with the head,
	// the tree reader and those entries, stores the batch seal returns (one
	// entry per waiting entry, in the same order), removes exactly the
	// entries taken, and commits; then it calls committed with the batch.
	// Either all of a batch is durable or none is, so an entry is never
	// sealed twice nor lost. It may relay several batches in a row (a store
	// may start the next transaction in the same round trip as the
	// previous commit), and returns how many entries it relayed (0 and no
	// error when none waits).
	RelayOutbox(ctx context.Context, chain string, max int, seal OutboxSealFunc, committed func(*Batch)) (int, error)
	// OutboxStatus reports how many entries wait and since when.
	OutboxStatus(ctx context.Context) (OutboxStatus, error)
}

// OutboxSealFunc turns waiting outbox entries into the batch that extends
// head. Each entry carries only what its recorder wrote (Org, Chain as the
// store derived it from Org, Actor, Action, SchemaVersion, Target, Request,
// Payload, Time).
type OutboxSealFunc func(head Head, tree tlog.HashReader, waiting []Entry) (*Batch, error)

// OutboxStatus is the state of an outbox, for monitoring.
type OutboxStatus struct {
	// Depth is how many entries wait to be sealed.
	Depth int64 `json:"depth"`
	// Oldest is when the oldest waiting entry was queued (zero when
	// Depth is 0).
	Oldest time.Time `json:"oldest,omitempty"`
}

// Drained reports whether no entry waits.
func (s OutboxStatus) Drained() bool { return s.Depth == 0 }

// Age is how long the oldest waiting entry has waited at now (0 when
// drained).
func (s OutboxStatus) Age(now time.Time) time.Duration {
	if s.Depth == 0 || s.Oldest.IsZero() {
		return 0
	}
	return max(now.Sub(s.Oldest), 0)
}

// RelayOptions configures RunOutbox.
type RelayOptions struct {
	// Interval is how long the relay sleeps when the outbox is empty
	// (default 5ms). It bounds the delay between a host's commit and the
	// relay seeing its row; a relay that found work looks again at once.
	Interval time.Duration
	// OnSealed, if set, is called with the entries of each batch the relay
	// committed, in chain order (for metrics and tests). It must not keep
	// the slice.
	OnSealed func(entries []Entry)
}

// maxRelayChains bounds how many chains one pass of the relay visits.
const maxRelayChains = 256

// Prepare validates e as Append does and returns it as Append would seal
// it: chain derived from the organisation, time stamped (the Log's clock,
// if e.Time is zero) and truncated to microseconds, the action's schema
// version, the payload in canonical form with its digest. An error is the
// one Append would return (ErrUnknownAction, ErrBadEntry, ...). Outbox
// recorders (auditlog/pgstore's RecordTx) call it so that a defective
// entry fails in the host's transaction, not in the relay.
func (l *Log) Prepare(e Entry) (Entry, error) {
	p, err := l.prepare(e)
	if err != nil {
		return Entry{}, err
	}
	return p.e, nil
}

// RunOutbox relays o into the chains until ctx ends, and returns
// ctx.Err(). Each pass lists the chains with waiting entries and, up to
// four chains at once (each on a connection of its own), seals up to the
// Log's batch size (WithMaxBatch) of a chain's entries in one
// store transaction that also removes them from the outbox (group commit:
// every entry waiting when the transaction starts joins it), so an
// outbox entry is in its chain exactly once whatever fails when: a
// transaction that did not commit leaves its entries waiting for the next
// pass.
//
// Order: within a chain, entries are sealed in the order the relay finds
// them committed, and those found by one transaction in outbox order
// (auditlog/pgstore: insertion order). So if a host transaction committed
// before another recorded its entry, the first one's entry precedes the
// second's; two transactions that overlap may be sealed in either order.
// Any number of relays (in any number of processes) may run over one
// outbox; each chain is relayed under its head lock, so they take turns.
//
// Each waiting entry is validated again with this Log's registry; one that
// fails (inserted into the outbox without RecordTx, or with an action this
// Log has not registered) is sealed as an ActionOutboxRejected entry of
// the same organisation saying why, so it is accounted for and the chain
// moves on. A store error is logged (WithLogger) and the pass is tried
// again after a backoff; a panic in the relay is recovered, logged, and
// the relay goes on after the same backoff.
func (l *Log) RunOutbox(ctx context.Context, o Outbox, opts RelayOptions) error {
	if o == nil {
		return errors.New("auditlog: RunOutbox needs an outbox")
	}
	interval := opts.Interval
	if interval <= 0 {
		interval = 5 * time.Millisecond
	}
	backoff := time.Duration(0)
	cache := &frontiers{m: map[string]relayFrontier{}}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		busy, err := l.relayPass(ctx, o, cache, opts.OnSealed)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			cache.reset()
			backoff = min(max(2*backoff, 10*time.Millisecond), 5*time.Second)
			l.relayWarn(err, backoff)
			t.Reset(backoff)
		case busy:
			backoff = 0
			t.Reset(0)
		default:
			backoff = 0
			t.Reset(interval)
		}
	}
}

// relayWarn logs a failed pass; a logger that panics does not end the
// relay (nor the host, whose goroutine runs it).
func (l *Log) relayWarn(err error, retryIn time.Duration) {
	defer func() { _ = recover() }()
	l.logger.Warn("auditlog: outbox relay", "err", err, "retry_in", retryIn)
}

// relayFrontier is the tree frontier a relay left after its last batch
// of a chain: when the next batch finds the same head (nobody else wrote
// in between), sealing needs no read of the stored tree.
type relayFrontier struct {
	head     Head
	frontier overlay
}

// frontiers are a relay's relayFrontier per chain, shared by its workers.
type frontiers struct {
	mu sync.Mutex
	m  map[string]relayFrontier
}

// take removes and returns chain's frontier: it is put back only by a
// batch that committed.
func (f *frontiers) take(chain string) (relayFrontier, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rf, ok := f.m[chain]
	delete(f.m, chain)
	return rf, ok
}

func (f *frontiers) put(chain string, rf relayFrontier) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[chain] = rf
}

func (f *frontiers) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.m)
}

// relayWorkers is how many chains one relay seals at once, each on a
// connection of its own.
const relayWorkers = 4

// relayPass relays the chains with waiting entries, each until none
// waits, up to relayWorkers chains at once, and reports whether it
// relayed anything. A panic in any of its goroutines becomes an error.
func (l *Log) relayPass(ctx context.Context, o Outbox, cache *frontiers, onSealed func([]Entry)) (busy bool, err error) {
	defer l.recoverRelay(cache, &err)
	chains, err := o.OutboxChains(ctx, maxRelayChains)
	if err != nil {
		return false, fmt.Errorf("auditlog: outbox relay: %w", err)
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		next = make(chan string)
	)
	for range min(relayWorkers, len(chains)) {
		wg.Go(func() {
			var werr error
			defer func() {
				if werr != nil {
					mu.Lock()
					errs = append(errs, werr)
					mu.Unlock()
				}
				for range next { // let the feeder finish
				}
			}()
			defer l.recoverRelay(cache, &werr) // first: recover works only when deferred directly
			for chain := range next {
				// The chain is relayed again until none waits: the rows
				// committed while one batch was sealed make the next,
				// without a round trip to list the chains in between.
				for ctx.Err() == nil {
					n, err := l.relayChain(ctx, o, chain, cache, onSealed)
					if n > 0 {
						mu.Lock()
						busy = true
						mu.Unlock()
					}
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("chain %q: %w", chain, err))
						mu.Unlock()
						break
					}
					if n == 0 {
						break
					}
				}
			}
		})
	}
	for _, c := range chains {
		next <- c
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return busy, fmt.Errorf("auditlog: outbox relay: %w", errors.Join(errs...))
	}
	return busy, nil
}

// recoverRelay turns a panic in the relay into *err, logged with its
// stack; the frontiers are forgotten, as after any failure.
func (l *Log) recoverRelay(cache *frontiers, err *error) {
	if r := recover(); r != nil {
		l.logPanic("auditlog: panic in the outbox relay", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		cache.reset()
		*err = fmt.Errorf("auditlog: outbox relay: %w: panic: %v", ErrInternal, r)
	}
}

// relayChain seals chain's waiting entries, a batch at a time.
func (l *Log) relayChain(ctx context.Context, o Outbox, chain string, cache *frontiers, onSealed func([]Entry)) (int, error) {
	tctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	var next relayFrontier // what the batch being stored leaves
	cached, hasCache := cache.take(chain)
	n, err := o.RelayOutbox(tctx, chain, l.maxBatch, func(h Head, tree tlog.HashReader, waiting []Entry) (*Batch, error) {
		entries := make([]Entry, len(waiting))
		for i, w := range waiting {
			entries[i] = l.relayEntry(chain, w)
		}
		var frontier overlay
		if hasCache {
			frontier = cached.frontier
		}
		read, reader := frontierReader(h, tree, cached.head, frontier)
		b, nh, _, err := Seal(h, reader, entries)
		if err != nil {
			return nil, err
		}
		next = relayFrontier{head: nh, frontier: nextFrontier(read, b, nh.Size)}
		return b, nil
	}, func(b *Batch) {
		// This batch is durable: the next one may seal on what it left.
		if next.frontier != nil {
			cached, hasCache = next, true
			cache.put(chain, next)
		}
		next = relayFrontier{}
		if onSealed != nil {
			onSealed(b.Entries)
		}
	})
	return n, err
}

// relayEntry validates a waiting entry and returns it ready to seal, or
// the ActionOutboxRejected entry that stands for it.
func (l *Log) relayEntry(chain string, w Entry) Entry {
	if w.Chain != chain || ChainFor(w.Org) != chain {
		return l.rejected(chain, w, fmt.Errorf("%w: chain %q is not the chain of org %q", ErrBadEntry, w.Chain, w.Org))
	}
	at, ok := l.reg.lookup(w.Action)
	if !ok {
		return l.rejected(chain, w, fmt.Errorf("%w: %q", ErrUnknownAction, w.Action))
	}
	if w.SchemaVersion != at.SchemaVersion {
		return l.rejected(chain, w, fmt.Errorf("%w: schema version %d, registered %d", ErrBadEntry, w.SchemaVersion, at.SchemaVersion))
	}
	p, err := l.prepare(w)
	if err != nil {
		return l.rejected(chain, w, err)
	}
	if string(p.e.Payload) != string(w.Payload) || !p.e.Time.Equal(w.Time) {
		return l.rejected(chain, w, fmt.Errorf("%w: payload or time not as RecordTx stores them", ErrBadEntry))
	}
	return p.e
}

// rejected is the entry sealed in place of an invalid outbox entry. Its
// organisation is the row's when chain is that organisation's chain.
func (l *Log) rejected(chain string, w Entry, why error) Entry {
	org := ""
	if chain != GlobalChain {
		org = chain[len("org:"):]
	}
	reason := why.Error()
	if len(reason) > 512 {
		reason = reason[:512]
	}
	payload, err := CanonicalPayload(map[string]any{"reason": reason})
	if err != nil {
		payload = []byte("{}")
	}
	e := Entry{Org: org, Chain: chain, Actor: "system:auditlog.outbox", Action: ActionOutboxRejected,
		SchemaVersion: 1, Time: time.UnixMicro(l.now().UnixMicro()).UTC(), Payload: payload}
	e.PayloadDigest = PayloadDigest(payload)
	return e
}
