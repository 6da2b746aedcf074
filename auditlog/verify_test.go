package auditlog_test

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"
)

// TestVerifyLongChainProgress builds a chain longer than ProgressEvery in
// one sealed batch and checks progress reports and the resumable start.
func TestVerifyLongChainProgress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := auditlog.NewMemoryStore()
	const n = auditlog.ProgressEvery + 100
	entries := make([]auditlog.Entry, n)
	digest := auditlog.PayloadDigest([]byte("{}"))
	for i := range entries {
		entries[i] = auditlog.Entry{Org: "acme", Actor: "system:load", Action: "bulk", Time: time.Unix(int64(i), 0).UTC(),
			Payload: []byte("{}"), PayloadDigest: digest}
	}
	require.NoError(t, s.AppendBatch(ctx, "org:acme", func(h auditlog.Head, tree tlog.HashReader) (*auditlog.Batch, error) {
		b, _, _, err := auditlog.Seal(h, tree, entries)
		return b, err
	}))
	var calls [][2]uint64
	res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{Progress: func(done, total uint64) {
		calls = append(calls, [2]uint64{done, total})
	}})
	require.NoError(t, err)
	require.EqualValues(t, n, res.Size)
	require.Equal(t, [][2]uint64{{auditlog.ProgressEvery, n}}, calls)

	cp, err := auditlog.CurrentCheckpoint(ctx, s, "org:acme", time.Unix(0, 0))
	require.NoError(t, err)
	res, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{From: &cp})
	require.NoError(t, err)
	require.Zero(t, res.Checked)

	// A trusted checkpoint beyond the chain: rows were deleted.
	beyond := cp
	beyond.Size += 5
	_, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{From: &beyond})
	require.ErrorIs(t, err, auditlog.ErrChainBroken)

	res, err = auditlog.Verify(ctx, s, "org:empty", auditlog.VerifyOptions{})
	require.NoError(t, err)
	require.Zero(t, res.Size)
}
