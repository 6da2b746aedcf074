package pgstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgfault"
)

// OutboxRecorder satisfies the recorder interfaces of rbac, authn, mfa and
// privacy (one method, this exact signature).
var _ interface {
	Record(ctx context.Context, org, actor, action, target string, payload map[string]any) error
} = (*pgstore.OutboxRecorder)(nil)

// TestOutboxRecorder: a recorded entry is an outbox row until the relay
// seals it into its organisation's chain; an entry Append would refuse is
// refused here and leaves no row.
func TestOutboxRecorder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := outboxDB(t)
	s := pgstore.New(db.Pool)
	l := newOutboxLog(t, s)
	rec := pgstore.NewOutboxRecorder(db.Pool, l)
	cases := []struct {
		name    string
		rec     *pgstore.OutboxRecorder
		action  string
		payload map[string]any
		wantErr error
	}{
		{"recorded", rec, "test.created", map[string]any{"n": 1}, nil},
		{"nil payload", rec, "test.created", nil, nil},
		{"unregistered action", rec, "test.nope", nil, auditlog.ErrUnknownAction},
		{"zero recorder", &pgstore.OutboxRecorder{}, "test.created", nil, pgstore.ErrNoRecorder},
		{"nil recorder", nil, "test.created", nil, pgstore.ErrNoRecorder},
	}
	var want []string
	for i, tc := range cases {
		target := "biz:" + strconv.Itoa(i)
		err := tc.rec.Record(ctx, "acme", "user:1", tc.action, target, tc.payload)
		if tc.wantErr != nil {
			require.ErrorIs(t, err, tc.wantErr, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		want = append(want, target)
	}
	st, err := s.OutboxStatus(ctx)
	require.NoError(t, err)
	require.EqualValues(t, len(want), st.Depth, "only outbox rows until the relay runs")
	require.Empty(t, chainTargets(t, s, auditlog.ChainFor("acme")))
	depth, age, err := s.OutboxBacklog(ctx)
	require.NoError(t, err)
	require.EqualValues(t, len(want), depth)
	require.Positive(t, age, "measured by the database's clock since the first row")
	require.Less(t, age, time.Minute)
	drain(t, l, s, s)
	require.Equal(t, want, chainTargets(t, s, auditlog.ChainFor("acme")))
	depth, age, err = s.OutboxBacklog(ctx)
	require.NoError(t, err)
	require.Zero(t, depth)
	require.Zero(t, age)
}

// TestOutboxRecorderBackendKilled: the backend is killed at each statement
// of a Record: a Record that returned nil has exactly one entry after the
// relay, one that failed at most one (the INSERT may have committed before
// the connection broke), never two.
func TestOutboxRecorderBackendKilled(t *testing.T) {
	t.Parallel()
	db := outboxDB(t)
	clean := pgstore.New(db.Pool)
	l := newOutboxLog(t, clean)
	fp := pgfault.New(t, db.URL, 2)
	rec := pgstore.NewOutboxRecorder(fp.Pool, l)

	n := 0
	outcome := map[string]error{}
	fp.EachPoint(t, 10, func(ctx context.Context) error {
		n++
		target := "biz:" + strconv.Itoa(n)
		err := rec.Record(ctx, "acme", "user:1", "test.created", target, map[string]any{"n": n})
		outcome[target] = err
		return err
	}, func(o pgfault.Outcome) {
		if o.Err != nil {
			require.True(t, pgfault.ConnectionLost(o.Err), "point %d: %v", o.Point, o.Err)
		}
	})
	drain(t, l, clean, clean)
	seen := map[string]int{}
	for _, target := range chainTargets(t, clean, auditlog.ChainFor("acme")) {
		seen[target]++
	}
	for target, err := range outcome {
		if err == nil {
			require.Equal(t, 1, seen[target], "%s recorded: exactly one entry", target)
		} else {
			require.LessOrEqual(t, seen[target], 1, "%s failed: at most one entry", target)
		}
	}
}
