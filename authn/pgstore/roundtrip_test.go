package pgstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// countingTracer counts the statements sent to the server.
type countingTracer struct{ n atomic.Int64 }

func (c *countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (*countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestStatementsPerOperation pins how many statements the request-path
// operations send, pool-bound and transaction-bound: one each. Binding a
// store to a transaction adds no savepoint to an operation of one
// statement, and the querier seam adds nothing on the pool.
func TestStatementsPerOperation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	tracer := &countingTracer{}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s := mustNew(t, pool)

	key := authn.APIKeyRecord{ID: "k1", Prefix: "p", Org: "org", HashAlg: authn.APIKeyHashHMAC, Hash: hash("k1"), CreatedAt: t0}
	ops := []struct {
		name string
		op   func(s pgstore.Store) error
	}{
		{"create session", func(s pgstore.Store) error { return s.CreateSession(ctx, sessionRec("s1")) }},
		{"create api key", func(s pgstore.Store) error { return s.CreateAPIKey(ctx, key) }},
		{"duplicate api key", func(s pgstore.Store) error {
			err := s.CreateAPIKey(ctx, key)
			if err != nil && !isConflict(err) {
				return err
			}
			return nil
		}},
		{"session lookup", func(s pgstore.Store) error { _, err := s.SessionByTokenHash(ctx, hash("s1")); return err }},
		{"key lookup", func(s pgstore.Store) error { _, err := s.APIKeyByID(ctx, "k1"); return err }},
		{"touch session", func(s pgstore.Store) error { return s.TouchSession(ctx, "s1", t0.Add(time.Minute)) }},
		{"revoke sessions", func(s pgstore.Store) error { _, err := s.DeleteUserSessions(ctx, "org", "u", ""); return err }},
	}
	run := func(t *testing.T, s pgstore.Store) {
		for _, o := range ops {
			before := tracer.n.Load()
			require.NoError(t, o.op(s), o.name)
			require.Equal(t, int64(1), tracer.n.Load()-before, "%s: statements", o.name)
		}
	}
	t.Run("pool", func(t *testing.T) { run(t, s) })
	t.Run("tx", func(t *testing.T) {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { _ = tx.Rollback(context.Background()) }) // a failed test must not leave it holding locks
		_, err = tx.Exec(ctx, `DELETE FROM authn_sessions`)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `DELETE FROM authn_api_keys`)
		require.NoError(t, err)
		run(t, s.WithTx(tx))
		require.NoError(t, tx.Rollback(ctx))
	})
}

func isConflict(err error) bool { return err != nil && errors.Is(err, authn.ErrConflict) }
