package auditlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Log appends entries to per-organisation chains with group commit, and
// verifies, exports, checkpoints and prunes them. It is safe for concurrent
// use; several Logs in several processes may share one Store.
type Log struct {
	config
	store Store
	reg   registry

	mu      sync.Mutex
	writers map[string]*chainWriter
	// busyChains counts the chains whose writer is running: a pipeline
	// serves one busy chain; with several, their batches go to the store
	// one at a time, so that it can commit them together.
	busyChains atomic.Int64
}

// New returns a Log over store, configured by opts; an option outside its
// range is an error wrapping ErrInvalidConfig. The built-in actions of the
// log itself (holds, pruning) are registered; the host registers its own
// with Register.
func New(store Store, opts ...Option) (*Log, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidConfig)
	}
	cfg := defaults()
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil Option", ErrInvalidConfig)
		}
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := &Log{config: cfg, store: store, writers: map[string]*chainWriter{}}
	if err := l.reg.register(builtinActions()...); err != nil {
		return nil, err
	}
	return l, nil
}

// Store returns the log's store.
func (l *Log) Store() Store { return l.store }

// Register adds action types. Registering the same definition twice is a
// no-op; a different definition under a taken name is ErrDuplicateAction.
func (l *Log) Register(types ...ActionType) error { return l.reg.register(types...) }

// Actions lists the registered action types by name.
func (l *Log) Actions() []ActionType {
	l.reg.mu.RLock()
	defer l.reg.mu.RUnlock()
	out := make([]ActionType, 0, len(l.reg.m))
	for _, at := range l.reg.m {
		out = append(out, at)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Record appends one entry and returns once it is durable. It is the
// recorder interface other rampart packages declare: org "" is the global
// system chain, actor is "user:<id>", "apikey:<id>" or "system:<source>",
// target is "<type>:<id>" or "".
func (l *Log) Record(ctx context.Context, org, actor, action, target string, payload map[string]any) error {
	p, err := CanonicalPayload(payload)
	if err != nil {
		return err
	}
	_, err = l.Append(ctx, Entry{Org: org, Actor: actor, Action: action, Target: target, Payload: p})
	return err
}

// Append validates e, appends it to its organisation's chain and returns its
// sequence number and hash once the entry is durable. Only Org, Actor,
// Action, Target, Request, Payload (a JSON object; nil means {}) and
// optionally Time are read from e; the rest is computed.
//
// If ctx ends before e was handed to the store, Append returns ctx.Err() and
// e is not written. Once handed over, Append waits for the outcome: nil means
// written, an error means not written, except ErrOutcomeUnknown. A batch
// whose connection was lost is stored again by the Log when the store shows
// it was not stored (ErrConnectionLost, up to 5 attempts), so an error
// wrapping ErrConnectionLost means the store stayed unreachable and
// appending e again is safe. ErrOutcomeUnknown comes as an
// *OutcomeUnknownError when the Log knows where e would be: its Receipt is
// where e is if it was stored, and Stored tells, once the store answers;
// append e again only if it says false. After a panic in the Log's
// goroutine (ErrInternal, which also wraps ErrOutcomeUnknown) that place is
// not known.
func (l *Log) Append(ctx context.Context, e Entry) (Receipt, error) {
	p, err := l.prepare(e)
	if err != nil {
		return Receipt{}, err
	}
	cw := l.writer(p.e.Chain)
	cw.mu.Lock()
	cw.queue = append(cw.queue, p)
	if !cw.busy {
		cw.busy = true
		l.busyChains.Add(1)
		go l.drain(p.e.Chain, cw)
	}
	cw.mu.Unlock()

	select {
	case <-p.done:
		return p.rec, p.err
	case <-ctx.Done():
	}
	cw.mu.Lock()
	if !p.taken {
		for i, q := range cw.queue {
			if q == p {
				cw.queue = append(cw.queue[:i:i], cw.queue[i+1:]...)
				break
			}
		}
		cw.mu.Unlock()
		return Receipt{}, ctx.Err()
	}
	cw.mu.Unlock()
	<-p.done
	return p.rec, p.err
}

func (l *Log) prepare(e Entry) (*pending, error) {
	at, ok := l.reg.lookup(e.Action)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownAction, e.Action)
	}
	chain := ChainFor(e.Org)
	if e.Chain != "" && e.Chain != chain {
		return nil, fmt.Errorf("%w: chain %q is not the chain of org %q", ErrBadEntry, e.Chain, e.Org)
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	// Every per-entry defect is refused here, before the entry joins a
	// batch: a defect the store found would fail every entry of the batch.
	if err := checkTime(e.Time); err != nil {
		return nil, err
	}
	e.Time = time.UnixMicro(TimeMicros(e.Time)).UTC()
	e.Chain = chain
	e.SchemaVersion = at.SchemaVersion
	if e.Payload == nil {
		e.Payload = []byte("{}")
	}
	canon, err := CanonicalJSON(e.Payload)
	if err != nil {
		return nil, err
	}
	e.Payload = canon
	e.PayloadDigest = PayloadDigest(canon)
	if err := checkHeader(&e); err != nil {
		return nil, err
	}
	return &pending{e: e, done: make(chan struct{})}, nil
}

type pending struct {
	e     Entry
	taken bool // guarded by chainWriter.mu
	done  chan struct{}
	rec   Receipt
	err   error
}

type chainWriter struct {
	mu    sync.Mutex
	queue []*pending
	busy  bool

	cp checkpoints
	// inHand are the entries handed to the drainer whose callers may not
	// have been released yet: recoverWriter answers them after a panic.
	inHand []*pending
	// The tree frontier after this writer's last batch: when the next
	// batch finds the same head (no other process wrote in between), the
	// store need not be read for it.
	cacheHead     Head
	cacheFrontier overlay
}

func (l *Log) writer(chain string) *chainWriter {
	l.mu.Lock()
	defer l.mu.Unlock()
	cw := l.writers[chain]
	if cw == nil {
		cw = &chainWriter{cp: checkpoints{at: l.now()}}
		l.writers[chain] = cw
	}
	return cw
}

// drain seals the queue of one chain batch after batch; one goroutine per
// chain runs it while the queue is not empty.
func (l *Log) drain(chain string, cw *chainWriter) {
	defer l.recoverWriter(chain, cw)
	if pa, ok := l.store.(PipelinedAppender); ok {
		l.drainPipelined(chain, cw, pa)
		return
	}
	for {
		batch := l.take(cw, true)
		if batch == nil {
			return
		}
		l.finish(chain, cw, batch)
	}
}

// take hands up to maxBatch queued entries over to the drainer. If the
// queue is empty it returns nil and, if idle, marks the chain idle: the
// next Append starts a new drainer.
func (l *Log) take(cw *chainWriter, idle bool) []*pending {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if len(cw.queue) == 0 {
		if idle {
			cw.busy = false
			l.busyChains.Add(-1)
		}
		return nil
	}
	n := min(len(cw.queue), l.maxBatch)
	batch := make([]*pending, n)
	copy(batch, cw.queue)
	for _, p := range batch {
		p.taken = true
	}
	cw.queue = append(cw.queue[:0:0], cw.queue[n:]...)
	cw.inHand = slices.DeleteFunc(cw.inHand, func(p *pending) bool {
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	})
	cw.inHand = append(cw.inHand, batch...)
	return batch
}

// queued reports how many entries wait in cw's queue.
func (l *Log) queued(cw *chainWriter) int {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	return len(cw.queue)
}

// requeue puts entries that were handed over but not written back at the
// front of the queue, in order, to be sealed again.
func (l *Log) requeue(cw *chainWriter, ps []*pending) {
	if len(ps) == 0 {
		return
	}
	cw.mu.Lock()
	cw.queue = append(ps[:len(ps):len(ps)], cw.queue...)
	cw.mu.Unlock()
}

// finish stores batch synchronously and releases its callers.
func (l *Log) finish(chain string, cw *chainWriter, batch []*pending) {
	head, root, err := l.commit(chain, cw, batch)
	for n := 1; n < appendAttempts && err != nil && retryable(err); n++ {
		// Known not stored, and the connection was lost: store it again.
		time.Sleep(retryBackoff(n))
		head, root, err = l.commit(chain, cw, batch)
	}
	if err == nil {
		// Before releasing the callers: an append that returned is
		// covered by any checkpoint that was due, unless the sink was
		// slow or failing.
		l.maybeCheckpoint(chain, cw, head, root)
	}
	for _, p := range batch {
		close(p.done)
	}
}

// commit seals batch in one store transaction and sets each pending's
// receipt or error. On a store error it finds out whether the transaction
// committed, so callers learn exactly which entries were written.
func (l *Log) commit(chain string, cw *chainWriter, batch []*pending) (Head, tlog.Hash, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
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
	if sa, ok := l.store.(SealedAppender); ok && cw.cacheFrontier != nil {
		if b, nh, r, serr := Seal(cw.cacheHead, cw.cacheFrontier, entries); serr == nil {
			sealed, head, root = b, nh, r
			frontier = nextFrontier(cw.cacheFrontier, b, nh.Size)
			err = sa.AppendSealed(ctx, cw.cacheHead, b)
			done = !errors.Is(err, ErrFork)
		}
	}
	if !done {
		sealed, frontier = nil, nil
		err = l.store.AppendBatch(ctx, chain, func(h Head, tree tlog.HashReader) (*Batch, error) {
			read, reader := frontierReader(h, tree, cw.cacheHead, cw.cacheFrontier)
			b, newHead, r, err := Seal(h, reader, entries)
			if err != nil {
				return nil, err
			}
			sealed, head, root = b, newHead, r
			frontier = nextFrontier(read, b, newHead.Size)
			return b, nil
		})
	}
	cw.cacheHead, cw.cacheFrontier = Head{}, nil
	if err != nil && sealed != nil && !errors.Is(err, ErrFork) {
		if ok, cerr := l.committed(chain, sealed); cerr != nil {
			err = fmt.Errorf("%w: %w (checking afterwards: %w)", ErrOutcomeUnknown, err, cerr)
		} else if ok {
			err = nil
		}
	}
	if err == nil && frontier != nil {
		cw.cacheHead, cw.cacheFrontier = head, frontier
	}
	for i, p := range batch {
		if err != nil {
			p.err = appendErr(chain, err, sealed, i)
			continue
		}
		e := &sealed.Entries[i]
		p.rec, p.err = Receipt{Chain: chain, Seq: e.Seq, Hash: e.Hash}, nil
	}
	return head, root, err
}

// nextFrontier returns the tree frontier after b from the frontier (or any
// superset) before it, or nil if a hash is missing.
func nextFrontier(prev overlay, b *Batch, size uint64) overlay {
	added := make(map[int64]tlog.Hash, len(b.Tree))
	for _, th := range b.Tree {
		added[th.Index] = th.Hash
	}
	next := overlay{}
	for _, x := range frontierIndexes(int64(size)) {
		if h, ok := added[x]; ok {
			next[x] = h
		} else if h, ok := prev[x]; ok {
			next[x] = h
		} else {
			return nil
		}
	}
	return next
}

// committed reports whether the first entry of b is in the store, which, as
// a batch is one transaction, says whether all of b is.
func (l *Log) committed(chain string, b *Batch) (bool, error) {
	if len(b.Entries) == 0 {
		return false, nil
	}
	first := &b.Entries[0]
	var lastErr error
	for attempt := range 5 {
		time.Sleep(time.Duration(attempt*attempt) * 50 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		found, err := entryHashAt(ctx, l.store, chain, first.Seq)
		cancel()
		if err == nil {
			return found != nil && *found == first.Hash, nil
		}
		lastErr = err
	}
	return false, lastErr
}

var errStop = errors.New("stop")

func entryHashAt(ctx context.Context, s Store, chain string, seq uint64) (*tlog.Hash, error) {
	var found *tlog.Hash
	err := s.Scan(ctx, chain, seq, func(e *Entry) error {
		if e.Seq == seq {
			h := e.Hash
			found = &h
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return found, nil
}

// Seal extends head with entries: it assigns sequence numbers, links and
// hashes, and computes the tree hashes they add, reading only the frontier
// of the existing tree (at most 63 hashes) from tree. It returns the batch,
// the new head and the new tree root. Stores call it through the SealFunc
// a Log passes; it is exported for hosts that write their own Store.
func Seal(head Head, tree tlog.HashReader, entries []Entry) (*Batch, Head, tlog.Hash, error) {
	if err := checkTreeSize("head", head.Size, len(entries)); err != nil {
		return nil, Head{}, tlog.Hash{}, fmt.Errorf("%w: %w", ErrChainBroken, err)
	}
	// Sized up front: the frontier, and the hashes the entries add.
	added := tlog.StoredHashCount(int64(head.Size)+int64(len(entries))) - tlog.StoredHashCount(int64(head.Size))
	ov := make(overlay, 64+added)
	if head.Size > 0 {
		idx := frontierIndexes(int64(head.Size))
		hs, err := tree.ReadHashes(idx)
		if err != nil {
			return nil, Head{}, tlog.Hash{}, fmt.Errorf("auditlog: read tree frontier: %w", err)
		}
		for i, x := range idx {
			ov[x] = hs[i]
		}
	}
	b := &Batch{Entries: make([]Entry, len(entries)), Tree: make([]TreeHash, 0, added)}
	prev, seq := head.Hash, head.Size
	for i := range entries {
		e := entries[i]
		e.Chain = head.Chain
		e.Seq = seq
		e.PrevHash = prev
		e.Hash = EntryHash(&e)
		hs, err := tlog.StoredHashesForRecordHash(int64(seq), tlog.RecordHash(e.Hash[:]), ov)
		if err != nil {
			return nil, Head{}, tlog.Hash{}, fmt.Errorf("auditlog: tree: %w", err)
		}
		base := tlog.StoredHashCount(int64(seq))
		for j, h := range hs {
			ov[base+int64(j)] = h
			b.Tree = append(b.Tree, TreeHash{Index: base + int64(j), Hash: h})
		}
		b.Entries[i] = e
		prev, seq = e.Hash, seq+1
	}
	root, err := tlog.TreeHash(int64(seq), ov)
	if err != nil {
		return nil, Head{}, tlog.Hash{}, fmt.Errorf("auditlog: tree: %w", err)
	}
	return b, Head{Chain: head.Chain, Size: seq, Hash: prev}, root, nil
}

// checkpointWait bounds how long the appends that make a checkpoint due
// wait for the sink to save it before they return; it is then saved in the
// background.
const checkpointWait = time.Second

// checkpoints is a chain's checkpoint state. The draining goroutine decides
// when one is due; a goroutine of its own signs it and hands it to the
// sink, so that a slow or unreachable sink holds appends back for
// checkpointWait at most, and not at all once it is known to be failing.
// One checkpoint is saved at a time, in chain order, so they only move on.
type checkpoints struct {
	mu       sync.Mutex
	size     uint64        // of the newest checkpoint saved
	at       time.Time     // when it was signed (at first, when the writer was made)
	inFlight bool          // a goroutine is saving one
	next     *Checkpoint   // fell due while one was in flight: the newest such
	failing  bool          // the last save failed: appends do not wait for the next
	retryAt  time.Time     // after a failure, no new attempt before then
	backoff  time.Duration // 1s after a first failure, doubling up to a minute
}

// maybeCheckpoint starts saving a checkpoint of head if one is due, and
// waits for it as WithCheckpoints describes.
func (l *Log) maybeCheckpoint(chain string, cw *chainWriter, head Head, root tlog.Hash) {
	if l.signer == nil || l.sink == nil {
		return
	}
	cs := &cw.cp
	now := l.now()
	cs.mu.Lock()
	// Heads arrive in chain order; the size guard keeps a checkpoint from
	// ever going back even if one did not (and the subtraction from
	// wrapping).
	due := head.Size > cs.size && ((l.cpEvery > 0 && head.Size-cs.size >= l.cpEvery) ||
		(l.cpInterval > 0 && now.Sub(cs.at) >= l.cpInterval))
	if !due || now.Before(cs.retryAt) {
		cs.mu.Unlock()
		return
	}
	cp := Checkpoint{Chain: chain, Size: head.Size, Root: root, Time: now}
	if cs.inFlight {
		cs.next = &cp
		cs.mu.Unlock()
		return
	}
	cs.inFlight = true
	wait := !cs.failing
	cs.mu.Unlock()
	saved := make(chan struct{})
	// A panic in the saver closes saved (recoverCheckpoints).
	go l.saveCheckpoints(cs, cp, saved)
	if wait {
		t := time.NewTimer(checkpointWait)
		defer t.Stop()
		select {
		case <-saved:
		case <-t.C:
		}
	}
}

// saveCheckpoints signs and saves cp, closes saved, then saves the newest
// checkpoint that fell due meanwhile, if any, and so on. After a failure
// it stops; the next append due after the backoff tries again with its
// own, newer head.
func (l *Log) saveCheckpoints(cs *checkpoints, cp Checkpoint, saved chan struct{}) {
	defer l.recoverCheckpoints(cs, &cp, &saved)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		_, err := l.publish(ctx, cp)
		cancel()
		if err != nil {
			l.logger.Warn("auditlog: checkpoint", "chain", cp.Chain, "size", cp.Size, "err", err)
		}
		cs.mu.Lock()
		next := cs.next
		cs.next = nil
		if err != nil {
			cs.failing = true
			cs.backoff = min(max(2*cs.backoff, time.Second), time.Minute)
			cs.retryAt = l.now().Add(cs.backoff)
			next = nil
		} else {
			cs.size, cs.at = cp.Size, cp.Time
			cs.failing, cs.backoff, cs.retryAt = false, 0, time.Time{}
		}
		if next == nil || next.Size <= cs.size {
			cs.inFlight = false
		}
		more := cs.inFlight
		cs.mu.Unlock()
		if saved != nil {
			close(saved)
			saved = nil
		}
		if !more {
			return
		}
		cp = *next
	}
}

func (l *Log) publish(ctx context.Context, cp Checkpoint) ([]byte, error) {
	msg, err := SignCheckpoint(l.signer, cp)
	if err != nil {
		return nil, err
	}
	if l.sink != nil {
		if err := l.sink.SaveCheckpoint(ctx, cp.Chain, msg); err != nil {
			return nil, fmt.Errorf("auditlog: checkpoint sink: %w", err)
		}
	}
	return msg, nil
}

// Checkpoint signs the current head of chain now, hands it to the sink (if
// any) and returns the signed note. It needs WithCheckpoints' signer.
func (l *Log) Checkpoint(ctx context.Context, chain string) (Checkpoint, []byte, error) {
	if l.signer == nil {
		return Checkpoint{}, nil, errors.New("auditlog: no checkpoint signer configured")
	}
	cp, err := CurrentCheckpoint(ctx, l.store, chain, l.now())
	if err != nil {
		return Checkpoint{}, nil, err
	}
	msg, err := l.publish(ctx, cp)
	return cp, msg, err
}

// CurrentCheckpoint returns the (unsigned) checkpoint of chain's current
// head, with the root computed from the stored tree.
func CurrentCheckpoint(ctx context.Context, r ChainReader, chain string, now time.Time) (Checkpoint, error) {
	head, err := r.Head(ctx, chain)
	if err != nil {
		return Checkpoint{}, err
	}
	if err := checkTreeSize("head", head.Size, 0); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: chain %q: %w", ErrChainBroken, chain, err)
	}
	root, err := tlog.TreeHash(int64(head.Size), storeReader(ctx, r, chain))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("auditlog: tree of chain %q: %w", chain, err)
	}
	return Checkpoint{Chain: chain, Size: head.Size, Root: root, Time: now.UTC()}, nil
}

// storeReader adapts a store's TreeHashes to tlog.HashReader.
func storeReader(ctx context.Context, r ChainReader, chain string) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return r.TreeHashes(ctx, chain, idx)
	})
}

// RunCheckpoints signs, every interval, a checkpoint of each chain that grew
// since the last one it signed, including growth by other processes, and
// hands it to the sink; it returns when ctx ends. Appends already trigger
// checkpoints by count and age, but only when they happen: run this in one
// process of a deployment so that a quiet chain's newest entries are
// covered too.
func (l *Log) RunCheckpoints(ctx context.Context, interval time.Duration) error {
	if l.signer == nil || interval <= 0 {
		return errors.New("auditlog: RunCheckpoints needs a checkpoint signer and a positive interval")
	}
	last := map[string]uint64{}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		chains, err := l.store.Chains(ctx)
		if err != nil {
			l.logger.Warn("auditlog: checkpoint: list chains", "err", err)
			continue
		}
		for _, c := range chains {
			head, err := l.store.Head(ctx, c)
			if err != nil || head.Size <= last[c] {
				continue
			}
			if cp, _, err := l.Checkpoint(ctx, c); err != nil {
				l.logger.Warn("auditlog: checkpoint", "chain", c, "err", err)
			} else {
				last[c] = cp.Size
			}
		}
	}
}

// frontierReader is the tree reader a batch is sealed with: the frontier
// cached after the chain's last batch when it belongs to head h (no read of
// the store at all), else the store's tree, remembering what it read so the
// next frontier can be built from it. read holds the hashes sealing used.
func frontierReader(h Head, tree tlog.HashReader, cachedHead Head, cached overlay) (read overlay, reader tlog.HashReader) {
	useCache := cached != nil && h == cachedHead
	read = overlay{}
	if useCache {
		read = cached
	}
	return read, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		if hs, err := read.ReadHashes(idx); err == nil {
			return hs, nil
		}
		hs, err := tree.ReadHashes(idx)
		if err == nil && !useCache {
			for i, x := range idx {
				read[x] = hs[i]
			}
		}
		return hs, err
	})
}
