package auditlog

import (
	"context"
	"errors"
	"fmt"
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
	return l.writer(p.e.Chain).append(ctx, p)
}

// writer returns chain's writer, made on first use.
func (l *Log) writer(chain string) *chainWriter {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.writers[chain]
	if w == nil {
		w = &chainWriter{chain: chain, store: l.store, cfg: &l.config, busyChains: &l.busyChains,
			cp: checkpointer{cfg: &l.config, at: l.now()}}
		l.writers[chain] = w
	}
	return w
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
	e.Time = time.UnixMicro(e.Time.UnixMicro()).UTC()
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

// publish signs cp and hands it to the sink, if any.
func (c *config) publish(ctx context.Context, cp Checkpoint) ([]byte, error) {
	msg, err := signCheckpoint(c.signer, cp)
	if err != nil {
		return nil, err
	}
	if c.sink != nil {
		if err := c.sink.SaveCheckpoint(ctx, cp.Chain, msg); err != nil {
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
	if l.signer == nil || l.sink == nil || interval <= 0 {
		// Without a sink every checkpoint it signed would be dropped.
		return fmt.Errorf("%w: RunCheckpoints needs a checkpoint signer and sink (WithCheckpoints) and a positive interval", ErrInvalidConfig)
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

// logPanic logs a recovered panic; a logger that panics in turn (the
// host's handler) is ignored rather than allowed to end the process.
func (c *config) logPanic(msg string, args ...any) {
	defer func() { _ = recover() }()
	c.logger.Error(msg, args...)
}
