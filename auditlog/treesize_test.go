package auditlog_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rampart-sdk/rampart/auditlog"
)

// hugeHead is a store whose head claims far more entries than any chain
// holds, as a forged or corrupt head row would.
type hugeHead struct {
	memStore
	size uint64
}

func (s hugeHead) Head(_ context.Context, chain string) (auditlog.Head, error) {
	return auditlog.Head{Chain: chain, Size: s.size}, nil
}

// zeroTree answers every stored-hash read, so that only the size decides.
var zeroTree = tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return make([]tlog.Hash, len(idx)), nil })

// within fails the test if f has not returned after a while: the tree
// arithmetic of golang.org/x/mod/sumdb/tlog loops forever on sizes above
// 2^62, so a size that reached it would hang rather than fail.
func within(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("still running after 10s: the size reached the tree arithmetic")
	}
}

// TestTreeSizesOutOfRangeAreRefused: a size no real chain reaches, in a
// store's head, a checkpoint or an argument, is refused with an error
// instead of hanging or overflowing the tree arithmetic.
func TestTreeSizesOutOfRangeAreRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	entry := auditlog.Entry{Org: "acme", Actor: "user:a", Action: "user.login"}
	for _, size := range []uint64{1<<48 + 1, 1 << 62, 1<<62 + 1, 1<<63 - 1, 1 << 63, math.MaxUint64} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			head := auditlog.Head{Chain: "org:acme", Size: size}
			within(t, func() {
				_, _, _, err := auditlog.Seal(head, zeroTree, []auditlog.Entry{entry})
				require.ErrorIs(t, err, auditlog.ErrChainBroken)
			})
			within(t, func() {
				b := &auditlog.Batch{Entries: []auditlog.Entry{{Chain: head.Chain, Seq: size}}}
				require.ErrorIs(t, auditlog.CheckBatch(head, b), auditlog.ErrChainBroken)
			})
			store := hugeHead{newMemStore(), size}
			within(t, func() {
				_, err := auditlog.CurrentCheckpoint(ctx, store, head.Chain, time.Now())
				require.ErrorIs(t, err, auditlog.ErrChainBroken)
			})
			within(t, func() {
				_, err := auditlog.Verify(ctx, store, head.Chain, auditlog.VerifyOptions{})
				var ve *auditlog.VerifyError
				require.ErrorAs(t, err, &ve)
			})
			within(t, func() {
				_, err := auditlog.ProveInclusion(ctx, store, head.Chain, size, 0)
				require.Error(t, err)
				_, err = auditlog.ProveConsistency(ctx, store, head.Chain, 1, size)
				require.Error(t, err)
			})
			within(t, func() {
				from := auditlog.Checkpoint{Chain: head.Chain, Size: size}
				_, err := auditlog.Verify(ctx, auditlog.NewMemoryStore(), head.Chain, auditlog.VerifyOptions{From: &from})
				var ve *auditlog.VerifyError
				require.ErrorAs(t, err, &ve)
				require.Equal(t, auditlog.ReasonCheckpointMismatch, ve.Reason)
			})
			if size < 1<<63 { // larger ones do not even parse as a size
				within(t, func() {
					text := auditlog.Checkpoint{Chain: head.Chain, Size: size, Time: time.Unix(0, 0)}.Text()
					_, err := auditlog.ParseCheckpoint(text)
					require.ErrorIs(t, err, auditlog.ErrBadCheckpoint)
				})
			}
		})
	}
}

// TestLargestTreeSizeIsAccepted: the bound refuses nothing a real chain
// could reach; the last entry below it seals.
func TestLargestTreeSizeIsAccepted(t *testing.T) {
	t.Parallel()
	head := auditlog.Head{Chain: "org:acme", Size: 1<<48 - 1}
	b, next, _, err := auditlog.Seal(head, zeroTree, []auditlog.Entry{{Org: "acme", Actor: "user:a", Action: "user.login"}})
	require.NoError(t, err)
	require.EqualValues(t, 1<<48, next.Size)
	require.NoError(t, auditlog.CheckBatch(head, b))
	_, err = auditlog.ParseCheckpoint(auditlog.Checkpoint{Chain: "org:acme", Size: 1 << 48, Time: time.Unix(0, 0)}.Text())
	require.NoError(t, err)
}
