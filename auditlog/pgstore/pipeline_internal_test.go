package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// TestPipelineCloseIsBounded: a pipeline whose batch waits on a lock that
// another transaction holds cannot be read to its end. Close gives up after
// its timeout, reports it, frees the pipeline's slot, and discards the
// connection rather than hand it back to the pool in the middle of a
// pipeline. The batch, already at the server with its Sync, may still be
// stored once the lock is released: a failed Close means the outcome is
// unknown, which is why a Log settles such batches by reading the store.
func TestPipelineCloseIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, Migrate(ctx, db.Pool))
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	cfg.MaxConns = 4
	// Named, so that the wait below looks at this pool's backends only.
	app := "rampart-close-test-" + db.Schema
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	s := newStore(pool)
	s.closeTimeout = 300 * time.Millisecond

	var tree auditlogtest.Tree
	entry := auditlog.Entry{Org: "acme", Actor: "user:a", Action: "test.created", Time: time.Unix(1700000000, 0).UTC(),
		Payload: []byte("{}"), PayloadDigest: auditlog.PayloadDigest([]byte("{}"))}
	empty := auditlog.Head{Chain: "org:acme"}
	b1, h1, _, err := auditlog.Seal(empty, &tree, []auditlog.Entry{entry})
	require.NoError(t, err)
	tree.Add(b1)
	b2, h2, _, err := auditlog.Seal(h1, &tree, []auditlog.Entry{entry})
	require.NoError(t, err)
	require.NoError(t, s.AppendSealed(ctx, empty, b1))

	// Another transaction holds the chain's lock.
	blocker, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = blocker.Rollback(ctx) }()
	_, err = blocker.Exec(ctx, lockChain, "org:acme")
	require.NoError(t, err)

	p, err := s.OpenPipeline(ctx)
	require.NoError(t, err)
	require.NoError(t, p.Send(h1, b2))
	start := time.Now()
	require.Error(t, p.Close(), "the batch in flight could not be read")
	require.Less(t, time.Since(start), 10*time.Second, "Close waited for the lock")
	require.Zero(t, s.pipelines.Load(), "the pipeline's slot is free")

	// Every connection the pool hands out is usable: the interrupted one was
	// not returned to it.
	var conns []*pgxpool.Conn
	for range cfg.MaxConns {
		c, err := pool.Acquire(ctx)
		require.NoError(t, err)
		conns = append(conns, c)
		_, err = c.Exec(ctx, "SELECT 1")
		require.NoError(t, err)
	}
	for _, c := range conns {
		c.Release()
	}

	// Once the lock is free the batch may or may not land; either way the
	// chain is whole.
	require.NoError(t, blocker.Rollback(ctx))
	require.Eventually(t, func() bool {
		var waiting bool
		err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock')`, app).Scan(&waiting)
		return err == nil && !waiting
	}, 10*time.Second, 20*time.Millisecond)
	head, err := s.Head(ctx, "org:acme")
	require.NoError(t, err)
	require.Contains(t, []auditlog.Head{h1, h2}, head)
	_, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)
}
