package auditlog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rampart-sdk/rampart/auditlog"
)

// countingStore counts the entries its Scan hands out.
type countingStore struct {
	memStore
	read uint64
}

func (c *countingStore) Scan(ctx context.Context, chain string, from uint64, fn func(e *auditlog.Entry) error) error {
	return c.memStore.Scan(ctx, chain, from, func(e *auditlog.Entry) error {
		c.read++
		return fn(e)
	})
}

// appendEntries seals entries [from, to) of a deterministic chain onto s;
// entry forge (if in range) gets another target, as a forger rewriting
// history and recomputing every hash and the tree after it would produce.
func appendEntries(t *testing.T, s memStore, from, to, forge int) {
	t.Helper()
	var es []auditlog.Entry
	for i := from; i < to; i++ {
		target := fmt.Sprintf("doc:%d", i)
		if i == forge {
			target = "doc:forged"
		}
		p := []byte(fmt.Sprintf(`{"i":%d}`, i))
		es = append(es, auditlog.Entry{Org: "acme", Actor: "user:u", Action: "test.created", Target: target,
			Time: time.Unix(1_700_000_000+int64(i), 0).UTC(), Payload: p, PayloadDigest: auditlog.PayloadDigest(p)})
	}
	require.NoError(t, s.AppendBatch(context.Background(), "org:acme", func(h auditlog.Head, tree tlog.HashReader) (*auditlog.Batch, error) {
		b, _, _, err := auditlog.Seal(h, tree, es)
		return b, err
	}))
}

func TestVerifyFromReadsOnlyNewEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := &countingStore{memStore: newMemStore()}
	appendEntries(t, s.memStore, 0, 100, -1)

	res, err := auditlog.VerifyFrom(ctx, s, "org:acme", auditlog.Checkpoint{}, auditlog.VerifyOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 100, res.Checked)
	require.EqualValues(t, 100, s.read, "a zero checkpoint verifies the whole chain")
	cp := res.Checkpoint()
	require.Equal(t, auditlog.Checkpoint{Chain: "org:acme", Size: 100, Root: res.Root}, cp)

	appendEntries(t, s.memStore, 100, 130, -1)
	s.read = 0
	res, err = auditlog.VerifyFrom(ctx, s, "org:acme", cp, auditlog.VerifyOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 130, res.Size)
	require.EqualValues(t, 30, res.Checked)
	require.EqualValues(t, 31, s.read, "the new entries and the newest one the checkpoint covers")
	full, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)
	require.Equal(t, full.Root, res.Root)

	s.read = 0
	again, err := auditlog.VerifyFrom(ctx, s, "org:acme", res.Checkpoint(), auditlog.VerifyOptions{})
	require.NoError(t, err)
	require.Zero(t, again.Checked)
	require.EqualValues(t, 1, s.read)

	_, err = auditlog.VerifyFrom(ctx, s, "org:other", cp, auditlog.VerifyOptions{})
	require.Error(t, err)
	_, err = auditlog.VerifyFrom(ctx, s, "org:acme", cp, auditlog.VerifyOptions{From: &cp})
	require.Error(t, err)
}

func TestVerifyFromCatchesTampering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	honest := newMemStore()
	appendEntries(t, honest, 0, 100, -1)
	res, err := auditlog.Verify(ctx, honest, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)
	cp := res.Checkpoint()

	for _, tc := range []struct {
		name   string
		store  func(t *testing.T) memStore
		seq    uint64
		reason auditlog.Reason
	}{{
		// History before the checkpoint rewritten with every hash and the
		// stored tree recomputed: a chain that verifies on its own, whose
		// tree at the checkpoint's size no longer hashes to its root.
		name: "recomputed before the checkpoint",
		store: func(t *testing.T) memStore {
			s := newMemStore()
			appendEntries(t, s, 0, 100, 40)
			appendEntries(t, s, 100, 120, -1)
			_, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
			require.NoError(t, err, "the forgery is self-consistent")
			return s
		},
		seq: 99, reason: auditlog.ReasonCheckpointMismatch,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.store(t)
			_, err := auditlog.VerifyFrom(ctx, s, "org:acme", cp, auditlog.VerifyOptions{})
			var ve *auditlog.VerifyError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tc.reason, ve.Reason)
			require.Equal(t, tc.seq, ve.Seq)
		})
	}
}
