package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/pgstore"
	"github.com/rampart-sdk/rampart/privacy/privacytest"
	"github.com/rampart-sdk/rampart/tenant"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

// newProtected returns privacy's schema protected by a non-superuser
// migration role, and the store of an application role that owns nothing,
// whose sweep runs on the owner's pool.
func newProtected(t *testing.T) (*pgtest.Roles, pgstore.Store) {
	t.Helper()
	r := pgtest.NewRoles(t, "rampart_privacy", pgstore.Migrate, func(ctx context.Context, owner *pgxpool.Pool, role string) error {
		return pgstore.Protect(ctx, owner, role)
	})
	return r, mustNew(t, r.App, pgstore.WithTenantBinding(), pgstore.WithMaintenancePool(r.Owner))
}

// TestStoreProtected runs the suite as the application role on protected
// tables, pool-bound and bound to an unbound caller's transaction (the
// sweep's subtests then run pool-bound: the sweep never joins a caller's
// transaction).
func TestStoreProtected(t *testing.T) {
	t.Parallel()
	pool := func(t *testing.T) privacy.Store { _, s := newProtected(t); return s }
	t.Run("Pool", func(t *testing.T) { t.Parallel(); privacytest.TestStore(t, pool) })
	t.Run("Tx", func(t *testing.T) {
		t.Parallel()
		privacytest.TestStore(t, func(t *testing.T) privacy.Store {
			r, s := newProtected(t)
			return s.WithTx(pgtest.Tx(t, r.App))
		}, privacytest.WithConcurrentStore(pool), privacytest.WithSweepStore(pool))
	})
}

// TestProtectedTenantCannotReachAnother: a store bound to organisation A,
// by the context or by the caller's transaction, neither reads nor changes
// organisation B's subject, events, holds, requests or consent when the
// code passes B's organisation; without a maintenance pool the sweep fails
// loudly instead of finding nothing.
func TestProtectedTenantCannotReachAnother(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, s := newProtected(t)
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	sub := privacy.Subject{Org: "orgB", ID: "s1", State: privacy.StateDeletionRequested, DeletionRequestedAt: t0,
		EraseAfter: t0.Add(time.Hour), NextDue: t0.Add(time.Hour)}
	ev := privacy.Event{Org: "orgB", SubjectID: "s1", At: t0, Action: privacy.ActionDeletionRequested,
		From: privacy.StateActive, To: privacy.StateDeletionRequested, Actor: "user:u"}
	require.NoError(t, s.Transition(ctx, sub, privacy.StateActive, ev))
	hold := privacy.Hold{Org: "orgB", ID: "h1", Reason: "litigation", Owner: "legal", PlacedAt: t0, PlacedBy: "u"}
	require.NoError(t, s.PutHold(ctx, hold))
	req := privacy.Request{ID: "r1", Org: "orgB", SubjectID: "s1", Kind: privacy.KindErasure, ReceivedAt: t0,
		DueAt: t0.AddDate(0, 1, 0), Status: privacy.RequestOpen}
	require.NoError(t, s.PutRequest(ctx, req))
	require.NoError(t, s.AppendConsent(ctx, privacy.ConsentRecord{Org: "orgB", Who: "s1", Purpose: "mail", Granted: true, Version: 1, At: t0}))

	attempts := func(t *testing.T, ctx context.Context, s pgstore.Store) {
		_, err := s.Subject(ctx, "orgB", "s1")
		require.ErrorIs(t, err, privacy.ErrNotFound, "Subject")
		evs, err := s.Events(ctx, "orgB", "s1")
		require.NoError(t, err)
		require.Empty(t, evs, "Events")
		hs, err := s.Holds(ctx, "orgB")
		require.NoError(t, err)
		require.Empty(t, hs, "Holds")
		_, err = s.LiftHold(ctx, "orgB", "h1", t0, "u")
		require.ErrorIs(t, err, privacy.ErrNotFound, "LiftHold")
		_, err = s.Request(ctx, "orgB", "r1")
		require.ErrorIs(t, err, privacy.ErrNotFound, "Request")
		closed := req
		closed.Status, closed.ClosedAt = privacy.RequestCompleted, t0
		require.ErrorIs(t, s.UpdateRequest(ctx, req, closed), privacy.ErrConflict, "UpdateRequest")
		_, err = s.LatestConsent(ctx, "orgB", "s1", "mail")
		require.ErrorIs(t, err, privacy.ErrNotFound, "LatestConsent")
		active := sub
		active.State = privacy.StateActive
		require.Error(t, s.Transition(ctx, active, privacy.StateDeletionRequested, ev), "Transition")
		require.Error(t, s.AppendConsent(ctx, privacy.ConsentRecord{Org: "orgB", Who: "s1", Purpose: "mail", Version: 2, At: t0}))
	}
	t.Run("ContextBoundPool", func(t *testing.T) { attempts(t, tenant.With(ctx, "orgA"), s) })
	t.Run("CallerTxBound", func(t *testing.T) {
		require.NoError(t, tenantpg.Run(tenant.With(ctx, "orgA"), r.App, func(ctx context.Context, tx pgx.Tx) error {
			attempts(t, context.Background(), s.WithTx(tx))
			return nil
		}))
	})

	got, err := s.Subject(ctx, "orgB", "s1")
	require.NoError(t, err)
	require.Equal(t, privacy.StateDeletionRequested, got.State, "B's subject is intact")
	hs, err := s.Holds(ctx, "orgB")
	require.NoError(t, err)
	require.Len(t, hs, 1)

	due, err := s.DueSubjects(ctx, t0.Add(2*time.Hour), 0)
	require.NoError(t, err)
	require.Len(t, due, 1, "the maintenance pool sees every organisation")
	_, err = mustNew(t, r.App, pgstore.WithTenantBinding()).DueSubjects(ctx, t0.Add(2*time.Hour), 0)
	require.ErrorIs(t, err, pgstore.ErrNoMaintenancePool)
	tx, err := r.App.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = s.WithTx(tx).DueSubjects(ctx, t0.Add(2*time.Hour), 0)
	require.ErrorIs(t, err, pgstore.ErrCrossOrgInTx, "never apart from the caller's transaction")
	require.NoError(t, tx.Rollback(ctx))
	require.ErrorIs(t, s.PutHold(ctx, privacy.Hold{ID: "h2", Reason: "x", Owner: "y", PlacedAt: t0}), privacy.ErrInvalid)

	fs, err := tenantpg.Check(ctx, r.Pool, "org", r.AppRole)
	require.NoError(t, err)
	require.Empty(t, tenantpg.Failed(fs))
}
