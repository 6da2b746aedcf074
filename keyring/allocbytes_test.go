//go:build !race

package keyring_test

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSealOpenBytes: a Seal allocates exactly its envelope and an Open
// exactly its plaintext (rounded up to the allocator's size classes: 112
// and 64 bytes for a 64-byte field), and nothing else; before, the
// associated data rode in spare capacity of both (272 bytes in all). Not
// parallel: it reads the process-wide allocation counter.
func TestSealOpenBytes(t *testing.T) {
	r := testRing(t, testDoc(t))
	f := r.Field("users", "email")
	pt := make([]byte, 64)
	const row = "123456"
	for range 100 { // warm the scratch pool
		ct, err := f.Seal(row, pt)
		require.NoError(t, err)
		_, err = f.Open(row, ct)
		require.NoError(t, err)
	}
	const n = 2000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		ct, _ := f.Seal(row, pt)
		_, _ = f.Open(row, ct)
	}
	runtime.ReadMemStats(&after)
	perOp := float64(after.TotalAlloc-before.TotalAlloc) / n
	allocs := float64(after.Mallocs-before.Mallocs) / n
	require.LessOrEqual(t, allocs, 2.05, "allocations per Seal+Open")
	require.LessOrEqual(t, perOp, 176.0+8, "bytes per Seal+Open (envelope 112 + plaintext 64)")
}
