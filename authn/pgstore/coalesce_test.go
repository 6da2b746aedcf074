package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeFetch records every query and lets the test hold queries open.
type fakeFetch struct {
	mu      sync.Mutex
	calls   [][]string
	started chan []string // receives each query's keys as it starts
	release chan struct{} // each query waits for one token
	data    map[string][]byte
	err     error
}

func newFake() *fakeFetch {
	return &fakeFetch{started: make(chan []string, 100), release: make(chan struct{}, 100), data: map[string][]byte{}}
}

// fetch reads its answer when it starts, as a database snapshot would, and
// returns it when released.
func (f *fakeFetch) fetch(_ context.Context, keys []string) (map[string][]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, append([]string(nil), keys...))
	out := map[string][]byte{}
	for _, k := range keys {
		if v, ok := f.data[k]; ok {
			out[k] = append([]byte(nil), v...)
		}
	}
	f.mu.Unlock()
	f.started <- keys
	<-f.release
	if f.err != nil {
		return nil, f.err
	}
	return out, nil
}

func newCoalescer(f *fakeFetch, limit int) *coalescer[[]byte] {
	return &coalescer[[]byte]{
		fetch:    f.fetch,
		clone:    func(b []byte) []byte { return append([]byte(nil), b...) },
		limit:    limit,
		maxBatch: 4,
		timeout:  5 * time.Second,
	}
}

type result struct {
	key   string
	val   []byte
	found bool
	err   error
}

func goGet(c *coalescer[[]byte], ctx context.Context, key string, out chan<- result) {
	go func() {
		v, ok, err := c.get(ctx, key)
		out <- result{key, v, ok, err}
	}()
}

// waitQueued waits until n lookups are queued.
func waitQueued(t *testing.T, c *coalescer[[]byte], n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.queue) == n
	}, 5*time.Second, time.Millisecond)
}

func TestCoalescerIdleRunsAlone(t *testing.T) {
	f := newFake()
	f.data["a"] = []byte("A")
	c := newCoalescer(f, 2)
	f.release <- struct{}{}
	v, ok, err := c.get(context.Background(), "a")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []byte("A"), v)
	f.release <- struct{}{}
	_, ok, err = c.get(context.Background(), "missing")
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, [][]string{{"a"}, {"missing"}}, f.calls)
	c.mu.Lock()
	defer c.mu.Unlock()
	require.Zero(t, c.inflight)
}

// Lookups made while the slots are busy are answered together by one query
// that starts after them, each with its own value, duplicates with their
// own copy, and at most maxBatch keys per query.
func TestCoalescerBatchesUnderLoad(t *testing.T) {
	f := newFake()
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		f.data[k] = []byte("value of " + k)
	}
	c := newCoalescer(f, 1)
	out := make(chan result, 10)
	ctx := context.Background()

	goGet(c, ctx, "first", out)
	require.Equal(t, []string{"first"}, <-f.started)
	keys := []string{"a", "b", "b", "nope", "c", "d"}
	for i, k := range keys {
		goGet(c, ctx, k, out)
		waitQueued(t, c, i+1)
	}
	f.release <- struct{}{} // "first" ends; its slot goes to the queue
	require.False(t, (<-out).found)
	require.Equal(t, []string{"a", "b", "nope"}, <-f.started, "the first maxBatch lookups, keys deduplicated")
	f.release <- struct{}{}
	require.Equal(t, []string{"c", "d"}, <-f.started, "the rest in the next query")
	f.release <- struct{}{}

	got := map[string][]result{}
	for range keys {
		r := <-out
		require.NoError(t, r.err)
		got[r.key] = append(got[r.key], r)
	}
	for _, k := range []string{"a", "c", "d"} {
		require.True(t, got[k][0].found)
		require.Equal(t, "value of "+k, string(got[k][0].val))
	}
	require.False(t, got["nope"][0].found)
	require.Len(t, got["b"], 2)
	require.Equal(t, got["b"][0].val, got["b"][1].val)
	got["b"][0].val[0] = 'X'
	require.NotEqual(t, got["b"][0].val, got["b"][1].val, "two callers of one key must not share memory")
	require.Eventually(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.inflight == 0 }, time.Second, time.Millisecond)
}

// A lookup is never answered by a query that started before it was made:
// that is what makes a revocation visible to every later request.
func TestCoalescerNeverAnswersFromAnEarlierQuery(t *testing.T) {
	f := newFake()
	c := newCoalescer(f, 1)
	out := make(chan result, 2)
	ctx := context.Background()
	goGet(c, ctx, "s", out)
	require.Equal(t, []string{"s"}, <-f.started)
	// The session is created (or revoked) while that query runs, and then
	// a second request looks it up.
	f.mu.Lock()
	f.data["s"] = []byte("now present")
	f.mu.Unlock()
	goGet(c, ctx, "s", out)
	waitQueued(t, c, 1)
	f.release <- struct{}{}
	f.release <- struct{}{}
	require.Equal(t, []string{"s"}, <-f.started, "the later lookup gets its own query")
	results := []result{<-out, <-out}
	require.ElementsMatch(t, []bool{false, true}, []bool{results[0].found, results[1].found})
}

func TestCoalescerErrorReachesEveryCaller(t *testing.T) {
	f := newFake()
	f.err = errors.New("connection reset")
	c := newCoalescer(f, 1)
	out := make(chan result, 4)
	goGet(c, context.Background(), "x", out)
	<-f.started
	goGet(c, context.Background(), "y", out)
	goGet(c, context.Background(), "z", out)
	waitQueued(t, c, 2)
	f.release <- struct{}{}
	f.release <- struct{}{}
	for range 3 {
		r := <-out
		require.ErrorIs(t, r.err, f.err)
		require.False(t, r.found)
	}
}

// A caller that gives up while queued leaves the queue: its key is never
// fetched on its behalf, and it learns ctx.Err().
func TestCoalescerCancelWhileQueued(t *testing.T) {
	f := newFake()
	c := newCoalescer(f, 1)
	out := make(chan result, 2)
	goGet(c, context.Background(), "busy", out)
	<-f.started
	ctx, cancel := context.WithCancel(context.Background())
	goGet(c, ctx, "gone", out)
	waitQueued(t, c, 1)
	cancel()
	r := <-out
	require.ErrorIs(t, r.err, context.Canceled)
	waitQueued(t, c, 0)
	f.release <- struct{}{}
	<-out
	require.Equal(t, [][]string{{"busy"}}, f.calls)
	require.Eventually(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.inflight == 0 }, time.Second, time.Millisecond)
}

// Many goroutines, a few slots: every caller gets exactly its own value.
func TestCoalescerConcurrent(t *testing.T) {
	f := newFake()
	for i := range 50 {
		f.data[fmt.Sprint(i)] = []byte(fmt.Sprint("v", i))
	}
	go func() {
		for range f.started {
			f.release <- struct{}{}
		}
	}()
	c := newCoalescer(f, 2)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 200 {
				k := fmt.Sprint((g + i) % 60)
				v, ok, err := c.get(context.Background(), k)
				if err != nil {
					t.Error(err)
					return
				}
				if _, want := f.data[k]; ok != want || (ok && string(v) != "v"+k) {
					t.Errorf("key %s: got %q, %v", k, v, ok)
					return
				}
			}
		})
	}
	wg.Wait()
	close(f.started)
	c.mu.Lock()
	defer c.mu.Unlock()
	require.Zero(t, c.inflight)
}
