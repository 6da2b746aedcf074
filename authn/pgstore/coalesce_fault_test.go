package pgstore

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCoalescerSurvivesAPanickingQuery: a query that panics, whether it
// runs in the caller's goroutine (an idle coalescer) or in the coalescer's
// own (queued lookups), fails its callers with ErrInternal instead of
// ending the process (before, the test binary died), hands its slot on,
// and the next lookups are answered.
func TestCoalescerSurvivesAPanickingQuery(t *testing.T) {
	t.Parallel()
	for _, queued := range []bool{false, true} {
		t.Run(map[bool]string{false: "inline", true: "queued"}[queued], func(t *testing.T) {
			t.Parallel()
			var armed atomic.Bool
			gate := make(chan struct{})
			var gated atomic.Bool
			c := &coalescer[string]{
				fetch: func(_ context.Context, keys []string) (map[string]string, error) {
					if armed.CompareAndSwap(true, false) {
						panic("injected lookup panic")
					}
					if gated.CompareAndSwap(true, false) {
						<-gate // hold the only slot so that the next lookups queue
					}
					out := map[string]string{}
					for _, k := range keys {
						out[k] = "v-" + k
					}
					return out, nil
				},
				limit: 1, maxBatch: 8, timeout: 5 * time.Second,
			}
			ctx := context.Background()
			if !queued {
				armed.Store(true)
				_, _, err := c.get(ctx, "a")
				require.ErrorIs(t, err, ErrInternal)
			} else {
				gated.Store(true)
				first := make(chan error, 1)
				go func() { _, _, err := c.get(ctx, "holder"); first <- err }()
				require.Eventually(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.inflight == 1 }, 5*time.Second, time.Millisecond)
				var wg sync.WaitGroup
				errs := make(chan error, 4)
				for _, k := range []string{"q1", "q2", "q3", "q4"} {
					wg.Go(func() { _, _, err := c.get(ctx, k); errs <- err })
				}
				require.Eventually(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.queue) == 4 }, 5*time.Second, time.Millisecond)
				armed.Store(true) // the queued batch's query panics, in the coalescer's goroutine
				close(gate)
				require.NoError(t, <-first)
				wg.Wait()
				close(errs)
				for err := range errs {
					require.ErrorIs(t, err, ErrInternal)
				}
			}
			v, ok, err := c.get(ctx, "b")
			require.NoError(t, err, "the store keeps serving")
			require.True(t, ok)
			require.Equal(t, "v-b", v)
			c.mu.Lock()
			defer c.mu.Unlock()
			require.Zero(t, c.inflight, "the slot was handed back")
		})
	}
}
