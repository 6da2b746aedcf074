package auditlog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// memoryStore is the in-memory Store. It is unexported because its methods
// only restate the interfaces; NewMemoryStore documents it.
type memoryStore struct {
	mu     sync.RWMutex
	chains map[string]*memChain
	holds  map[string]Hold
	lifted map[string]bool
}

type memChain struct {
	entries []Entry
	tree    []tlog.Hash // index = tlog storage index
}

// NewMemoryStore returns an empty Store in process memory, for tests,
// examples and hosts that only need a tamper-evident log for the life of a
// process. It also implements the optional fast paths a Log looks for
// (SealedAppender, PipelinedAppender) and EntryQuerier.
func NewMemoryStore() Store { return newMemoryStore() }

// newMemoryStore returns the concrete type, for the package's own tests
// that edit stored entries in place.
func newMemoryStore() *memoryStore {
	return &memoryStore{chains: map[string]*memChain{}, holds: map[string]Hold{}, lifted: map[string]bool{}}
}

var _ Store = (*memoryStore)(nil)

func (s *memoryStore) head(chain string) Head {
	c := s.chains[chain]
	if c == nil || len(c.entries) == 0 {
		return Head{Chain: chain}
	}
	last := &c.entries[len(c.entries)-1]
	return Head{Chain: chain, Size: uint64(len(c.entries)), Hash: last.Hash}
}

// AppendBatch implements Store.
func (s *memoryStore) AppendBatch(ctx context.Context, chain string, seal SealFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	head := s.head(chain)
	c := s.chains[chain]
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if c == nil || x < 0 || x >= int64(len(c.tree)) {
				return nil, fmt.Errorf("%w: tree hash %d", ErrNotFound, x)
			}
			out[i] = c.tree[x]
		}
		return out, nil
	})
	b, err := seal(head, reader)
	if err != nil {
		return err
	}
	return s.storeLocked(head, b)
}

var _ SealedAppender = (*memoryStore)(nil)

// AppendSealed implements SealedAppender.
func (s *memoryStore) AppendSealed(ctx context.Context, expect Head, b *Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head(expect.Chain) != expect {
		return ErrFork
	}
	return s.storeLocked(expect, b)
}

var _ PipelinedAppender = (*memoryStore)(nil)

// OpenPipeline implements PipelinedAppender. The memory store has no round
// trip to hide: Send stores at once and Result reports the outcome.
func (s *memoryStore) OpenPipeline(ctx context.Context) (Pipeline, error) {
	return &memPipeline{s: s}, ctx.Err()
}

type memPipeline struct {
	s       *memoryStore
	results []error
}

func (p *memPipeline) Send(expect Head, b *Batch) error {
	p.results = append(p.results, p.s.AppendSealed(context.Background(), expect, b))
	return nil
}

func (p *memPipeline) Result(ctx context.Context) error {
	if len(p.results) == 0 {
		return errors.New("auditlog: pipeline: no batch in flight")
	}
	err := p.results[0]
	p.results = p.results[1:]
	return err
}

func (p *memPipeline) Close() error { return nil }

func (s *memoryStore) storeLocked(head Head, b *Batch) error {
	if err := CheckBatch(head, b); err != nil {
		return err
	}
	c := s.chains[head.Chain]
	if c == nil {
		c = &memChain{}
		s.chains[head.Chain] = c
	}
	for _, e := range b.Entries {
		e.Payload = append([]byte(nil), e.Payload...)
		c.entries = append(c.entries, e)
	}
	for _, th := range b.Tree {
		c.tree = append(c.tree, th.Hash)
	}
	return nil
}

// Head implements Store.
func (s *memoryStore) Head(ctx context.Context, chain string) (Head, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.head(chain), ctx.Err()
}

// Scan implements Store. It copies entries in small slices so fn runs
// without the lock held.
func (s *memoryStore) Scan(ctx context.Context, chain string, from uint64, fn func(e *Entry) error) error {
	const page = 1024
	for next := from; ; {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.RLock()
		var batch []Entry
		if c := s.chains[chain]; c != nil && next < uint64(len(c.entries)) {
			end := min(next+page, uint64(len(c.entries)))
			batch = append(batch, c.entries[next:end]...)
		}
		s.mu.RUnlock()
		if len(batch) == 0 {
			return nil
		}
		for i := range batch {
			if err := fn(&batch[i]); err != nil {
				return err
			}
		}
		next += uint64(len(batch))
	}
}

// TreeHashes implements Store.
func (s *memoryStore) TreeHashes(ctx context.Context, chain string, indexes []int64) ([]tlog.Hash, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.chains[chain]
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if c == nil || x < 0 || x >= int64(len(c.tree)) {
			return nil, fmt.Errorf("%w: tree hash %d of chain %q", ErrNotFound, x, chain)
		}
		out[i] = c.tree[x]
	}
	return out, ctx.Err()
}

// Chains implements Store.
func (s *memoryStore) Chains(ctx context.Context) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for name, c := range s.chains {
		if len(c.entries) > 0 {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, ctx.Err()
}

// PrunePayloads implements Store.
func (s *memoryStore) PrunePayloads(ctx context.Context, chain string, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chains[chain]
	if c == nil {
		return 0, ctx.Err()
	}
	var n int64
	for i := range c.entries {
		e := &c.entries[i]
		if e.Payload == nil || !e.Time.Before(before) || s.heldLocked(e) {
			continue
		}
		e.Payload = nil
		n++
	}
	return n, ctx.Err()
}

func (s *memoryStore) heldLocked(e *Entry) bool {
	for id, h := range s.holds {
		if !s.lifted[id] && h.Covers(e) {
			return true
		}
	}
	return false
}

// PutHold implements Store.
func (s *memoryStore) PutHold(ctx context.Context, h Hold) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.holds[h.ID]; dup {
		return fmt.Errorf("%w: %q already exists", ErrHeld, h.ID)
	}
	s.holds[h.ID] = h
	return ctx.Err()
}

// LiftHold implements Store.
func (s *memoryStore) LiftHold(ctx context.Context, id string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.holds[id]; !ok || s.lifted[id] {
		return fmt.Errorf("%w: hold %q", ErrNotFound, id)
	}
	s.lifted[id] = true
	return ctx.Err()
}

// Holds implements Store.
func (s *memoryStore) Holds(ctx context.Context) ([]Hold, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Hold
	for id, h := range s.holds {
		if !s.lifted[id] {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, ctx.Err()
}

var _ EntryQuerier = (*memoryStore)(nil)

// QueryEntries implements EntryQuerier. The matches are copied under the
// lock and fn runs without it.
func (s *memoryStore) QueryEntries(ctx context.Context, chain string, q Query, limit int, fn func(e *Entry) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if limit <= 0 {
		return fmt.Errorf("%w: limit %d", ErrBadQuery, limit)
	}
	var out []Entry
	s.mu.RLock()
	if c := s.chains[chain]; c != nil {
		for i := q.From; i < uint64(len(c.entries)) && (q.To == 0 || i < q.To) && len(out) < limit; i++ {
			if e := &c.entries[i]; q.Match(e) {
				out = append(out, ownEntry(e))
			}
		}
	}
	s.mu.RUnlock()
	for i := range out {
		if err := fn(&out[i]); err != nil {
			return err
		}
	}
	return nil
}
