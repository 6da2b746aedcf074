package auditlog

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBusyChainsCounted: the count of chains whose writer runs, which
// decides between a pipeline (one busy chain) and the store's group commit
// (several), goes back to zero once every writer is idle, and every
// append of the concurrent writers is stored in order on its chain.
func TestBusyChainsCounted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryStore()
	l, err := New(s)
	require.NoError(t, err)
	require.NoError(t, l.Register(ActionType{Name: "test.created", Category: CategorySystem, Description: "test", SchemaVersion: 1}))
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 20 {
				_, err := l.Append(ctx, Entry{Org: fmt.Sprint("org", (w+i)%5), Actor: "user:u", Action: "test.created"})
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.Eventually(t, func() bool { return l.busyChains.Load() == 0 }, 5*time.Second, time.Millisecond)
	var n uint64
	for o := range 5 {
		res, err := Verify(ctx, s, ChainFor(fmt.Sprint("org", o)), VerifyOptions{})
		require.NoError(t, err)
		n += res.Size
	}
	require.Equal(t, uint64(16*20), n)
}
