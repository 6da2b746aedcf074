package pgstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgfault"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// TestFaultLookups kills the backend at every statement of a session
// lookup and an API-key verification: no panic, and each run either
// answers correctly or fails with an error that says the connection was
// lost (never "invalid session" or "invalid key", which would log a user
// out or refuse a good key because the database blinked).
func TestFaultLookups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	clean := mustNew(t, db.Pool)
	fp := pgfault.New(t, db.URL, 4)
	faulty := mustNew(t, fp.Pool)

	pepper, err := authn.NewStaticPepper([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	cleanKeys, err := authn.NewAPIKeys(clean, "atl_live", pepper)
	require.NoError(t, err)
	raw, key, err := cleanKeys.Create(ctx, authn.NewAPIKey{Org: "o", Owner: "u"})
	require.NoError(t, err)
	cleanSessions, err := authn.NewSessions(clean)
	require.NoError(t, err)
	token, sess, err := cleanSessions.Create(ctx, authn.NewSession{UserID: "u"})
	require.NoError(t, err)

	sessions, err := authn.NewSessions(faulty)
	require.NoError(t, err)
	ops := []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"session lookup", func(ctx context.Context) error {
			got, err := sessions.Lookup(ctx, token.Reveal())
			if err == nil {
				require.Equal(t, sess.ID, got.ID)
			}
			return err
		}},
		{"api key verify", func(ctx context.Context) error {
			keys, err := authn.NewAPIKeys(faulty, "atl_live", pepper) // no cache carried between runs
			require.NoError(t, err)
			got, err := keys.Verify(ctx, raw.Reveal())
			if err == nil {
				require.Equal(t, key.ID, got.ID)
			}
			return err
		}},
	}
	for _, tc := range ops {
		t.Run(tc.name, func(t *testing.T) {
			fp.EachPoint(t, 50, tc.op, func(o pgfault.Outcome) {
				if o.Err == nil {
					return
				}
				require.True(t, o.Killed, "an error without a kill: %v", o.Err)
				require.True(t, pgfault.ConnectionLost(o.Err), "point %d: %v", o.Point, o.Err)
				require.NotErrorIs(t, o.Err, authn.ErrSessionInvalid)
				require.NotErrorIs(t, o.Err, authn.ErrInvalidAPIKey)
				require.NotErrorIs(t, o.Err, authn.ErrNotFound)
			})
		})
	}

	// Coalesced lookups (many at once, more than the store's lookup slots)
	// while backends are killed: every answer is right or a lost
	// connection, and once the killing stops every lookup succeeds.
	stop := fp.KillRandomly(20*time.Millisecond, 80*time.Millisecond)
	var wg sync.WaitGroup
	deadline := time.Now().Add(2 * time.Second)
	for range 16 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				got, err := sessions.Lookup(ctx, token.Reveal())
				if err != nil {
					require.True(t, pgfault.ConnectionLost(err), "%v", err)
					continue
				}
				require.Equal(t, sess.ID, got.ID)
			}
		})
	}
	wg.Wait()
	t.Logf("%d backends killed under coalesced lookups", stop())
	fp.Pool.Reset()
	for range 4 {
		got, err := sessions.Lookup(ctx, token.Reveal())
		require.NoError(t, err)
		require.Equal(t, sess.ID, got.ID)
	}
}
