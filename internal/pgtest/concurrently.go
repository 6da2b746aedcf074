package pgtest

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Concurrently runs fn from instances goroutines at once, round after
// round, and fails the test with the round and instance of any error: the
// shape of "several application instances start at the same moment".
func Concurrently(t testing.TB, rounds, instances int, fn func() error) {
	t.Helper()
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, instances)
		for i := range instances {
			wg.Go(func() { errs[i] = fn() })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "round %d, instance %d", round, i)
		}
	}
}
