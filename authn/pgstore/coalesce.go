package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// A coalescer turns concurrent point lookups into few queries. While fewer
// than limit queries are in flight a lookup runs at once, alone, so an idle
// server sees no added latency. Beyond that, lookups wait in a queue, and
// each query that finishes hands the whole queue (up to maxBatch keys) to
// one new query: under load, the cost of a round trip, of a backend's
// scheduling slot and of a statement execution is shared by everybody who
// arrived meanwhile, instead of 32 backends fighting over two cores.
//
// It differs from singleflight in what matters for credentials: a lookup is
// only ever answered by a query that started after the lookup was made, so
// a session revoked before a request arrived is never served from a query
// that read it before the revocation.
type coalescer[V any] struct {
	fetch    func(ctx context.Context, keys []string) (map[string]V, error)
	clone    func(V) V // for the second and later callers of one key
	limit    int
	maxBatch int
	timeout  time.Duration

	mu       sync.Mutex
	inflight int
	queue    []*lookup[V]
}

type lookup[V any] struct {
	ctx   context.Context // of the caller; only its values are used by a batch
	key   string
	taken bool // guarded by coalescer.mu
	done  chan struct{}
	val   V
	found bool
	err   error
}

// get returns the value stored under key, found=false if there is none.
func (c *coalescer[V]) get(ctx context.Context, key string) (V, bool, error) {
	c.mu.Lock()
	if c.inflight < c.limit {
		c.inflight++
		c.mu.Unlock()
		vals, err := c.safeFetch(ctx, []string{key})
		c.handOff()
		v, ok := vals[key]
		return v, ok && err == nil, err
	}
	l := &lookup[V]{ctx: ctx, key: key, done: make(chan struct{})}
	c.queue = append(c.queue, l)
	c.mu.Unlock()

	select {
	case <-l.done:
		return l.val, l.found, l.err
	case <-ctx.Done():
	}
	c.mu.Lock()
	if !l.taken {
		// Not in a query yet: leave the queue. Once taken, the answer is on
		// its way (bounded by timeout) and is simply not waited for.
		for i, q := range c.queue {
			if q == l {
				c.queue = append(c.queue[:i:i], c.queue[i+1:]...)
				break
			}
		}
	}
	c.mu.Unlock()
	var zero V
	return zero, false, ctx.Err()
}

// handOff is called by whoever finished a query: it gives the slot to the
// queued lookups, or frees it.
func (c *coalescer[V]) handOff() {
	c.mu.Lock()
	if len(c.queue) == 0 {
		c.inflight--
		c.mu.Unlock()
		return
	}
	n := min(len(c.queue), c.maxBatch)
	batch := make([]*lookup[V], n)
	copy(batch, c.queue)
	for _, l := range batch {
		l.taken = true
	}
	c.queue = append(c.queue[:0:0], c.queue[n:]...)
	c.mu.Unlock()
	go c.run(batch)
}

// run answers batch with one query, then hands the slot on.
func (c *coalescer[V]) run(batch []*lookup[V]) {
	// The query serves several callers, so no single caller's cancellation
	// may abort it; it keeps the first caller's context values (tracing)
	// and is bounded by its own timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), c.timeout)
	keys := make([]string, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	for _, l := range batch {
		if !seen[l.key] {
			seen[l.key] = true
			keys = append(keys, l.key)
		}
	}
	vals, err := c.safeFetch(ctx, keys)
	cancel()
	c.handOff()
	given := make(map[string]bool, len(keys))
	for _, l := range batch {
		if err != nil {
			l.err = err
		} else if v, ok := vals[l.key]; ok {
			if given[l.key] && c.clone != nil {
				v = c.clone(v)
			}
			l.val, l.found, given[l.key] = v, true, true
		}
		close(l.done)
	}
}

// safeFetch is fetch with a panic turned into ErrInternal: a lookup's
// query runs in a goroutine of the store's (run), where a panic would end
// the host process, and either way its slot must be handed on.
func (c *coalescer[V]) safeFetch(ctx context.Context, keys []string) (vals map[string]V, err error) {
	defer func() {
		if r := recover(); r != nil {
			slog.Default().Error("authn/pgstore: panic in a lookup", "keys", len(keys), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			vals, err = nil, fmt.Errorf("%w: lookup panicked: %v", ErrInternal, r)
		}
	}()
	return c.fetch(ctx, keys)
}
