package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
	"github.com/rampart-sdk/rampart/internal/pgfault"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// groupChains seals, for each of n chains named after prefix, a first batch of two entries on
// the empty head and a second of one entry on the first's head.
func groupChains(t *testing.T, prefix string, n int) (first, second []*groupReq) {
	t.Helper()
	p := []byte(`{}`)
	e := auditlog.Entry{Org: "acme", Actor: "user:a", Action: "test.created", Time: time.Unix(1700000000, 0).UTC(),
		Payload: p, PayloadDigest: auditlog.PayloadDigest(p)}
	for i := range n {
		var tree auditlogtest.Tree
		empty := auditlog.Head{Chain: fmt.Sprintf("%s%02d", prefix, i)}
		b1, h1, _, err := auditlog.Seal(empty, &tree, []auditlog.Entry{e, e})
		require.NoError(t, err)
		tree.Add(b1)
		b2, _, _, err := auditlog.Seal(h1, &tree, []auditlog.Entry{e})
		require.NoError(t, err)
		first = append(first, &groupReq{ctx: context.Background(), expect: empty, b: b1, done: make(chan struct{})})
		second = append(second, &groupReq{ctx: context.Background(), expect: h1, b: b2, done: make(chan struct{})})
	}
	return first, second
}

// TestGroupCommit: several chains' batches committed as one group are one
// transaction (one xmin), each chain extended by exactly its batch, and
// the chains verify. When one batch of a group forks, only that batch is
// refused (ErrFork): the others are stored, each alone.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, Migrate(ctx, db.Pool))
	s := newStore(db.Pool)
	first, second := groupChains(t, "org:g", 5)
	// Given in reverse byte order: the locks are taken sorted anyway.
	rev := make([]*groupReq, len(first))
	for i, r := range first {
		rev[len(first)-1-i] = r
	}
	s.commitGroup(rev)
	for _, r := range first {
		<-r.done
		require.NoError(t, r.err)
	}
	var txs int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(DISTINCT xmin::text) FROM auditlog_entries`).Scan(&txs))
	require.Equal(t, 1, txs, "one transaction for the group")

	// Chain 2's batch is stale: it repeats the first batch's head.
	stale := &groupReq{ctx: ctx, expect: first[2].expect, b: first[2].b, done: make(chan struct{})}
	group := []*groupReq{second[0], second[1], stale, second[3], second[4]}
	s.commitGroup(group)
	for i, r := range group {
		<-r.done
		if i == 2 {
			require.ErrorIs(t, r.err, auditlog.ErrFork)
			continue
		}
		require.NoError(t, r.err, "batch %d", i)
	}
	for i, r := range first {
		want := uint64(3)
		if i == 2 {
			want = 2
		}
		h, err := s.Head(ctx, r.expect.Chain)
		require.NoError(t, err)
		require.Equal(t, want, h.Size, r.expect.Chain)
		_, err = auditlog.Verify(ctx, s, r.expect.Chain, auditlog.VerifyOptions{})
		require.NoError(t, err)
	}
}

// TestGroupCommitFaults kills the backend at every statement of a group's
// transaction: each batch's caller gets nil (then every chain has its
// batch) or an error wrapping ErrConnectionLost (then either all of the
// group is stored or none of it, never some chains without the others).
func TestGroupCommitFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, Migrate(ctx, db.Pool))
	clean := newStore(db.Pool)
	fp := pgfault.New(t, db.URL, 2)
	faulty := newStore(fp.Pool)
	run := 0
	var group []*groupReq
	fp.EachPoint(t, 100, func(ctx context.Context) error {
		run++
		first, _ := groupChains(t, fmt.Sprintf("org:run%d-", run), 3)
		for _, r := range first {
			r.ctx = ctx
		}
		group = first
		faulty.commitGroup(group)
		for _, r := range group {
			<-r.done
			if r.err != nil {
				return r.err
			}
		}
		return nil
	}, func(o pgfault.Outcome) {
		stored := 0
		for _, r := range group {
			if o.Err == nil {
				require.NoError(t, r.err)
			} else {
				require.True(t, pgfault.ConnectionLost(r.err), "point %d: %v", o.Point, r.err)
			}
			h, err := clean.Head(ctx, r.expect.Chain)
			require.NoError(t, err)
			if h.Size > 0 {
				stored++
			}
		}
		if o.Err == nil {
			require.Equal(t, len(group), stored, "acknowledged: every chain has its batch")
		} else {
			require.Contains(t, []int{0, len(group)}, stored, "all or nothing (point %d)", o.Point)
		}
	})
}
