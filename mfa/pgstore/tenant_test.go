package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/mfa/mfatest"
	"github.com/rampart-sdk/rampart/mfa/pgstore"
	"github.com/rampart-sdk/rampart/tenant"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

// newProtected returns mfa's schema protected by a non-superuser migration
// role, and the store of an application role that owns nothing.
func newProtected(t *testing.T) (*pgtest.Roles, pgstore.Store) {
	t.Helper()
	r := pgtest.NewRoles(t, "rampart_mfa", pgstore.Migrate, func(ctx context.Context, owner *pgxpool.Pool, role string) error {
		return pgstore.Protect(ctx, owner, role)
	})
	return r, mustNew(t, r.App, pgstore.WithTenantBinding())
}

// TestStoreProtected runs the suite as the application role on protected
// tables, pool-bound and bound to an unbound caller's transaction.
func TestStoreProtected(t *testing.T) {
	t.Parallel()
	pool := func(t *testing.T) mfa.Store { _, s := newProtected(t); return s }
	t.Run("Pool", func(t *testing.T) { t.Parallel(); mfatest.TestStore(t, pool) })
	t.Run("Tx", func(t *testing.T) {
		t.Parallel()
		mfatest.TestStore(t, func(t *testing.T) mfa.Store {
			r, s := newProtected(t)
			return s.WithTx(pgtest.Tx(t, r.App))
		}, mfatest.WithConcurrentStore(pool))
	})
}

// TestProtectedTenantCannotReachAnother: a store bound to organisation A,
// by the context or by the caller's transaction, neither reads, uses,
// deletes nor writes organisation B's enrolment, codes or policy when the
// code passes B's organisation.
func TestProtectedTenantCannotReachAnother(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, s := newProtected(t)
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	codes := [][]byte{[]byte("code-hash-1"), []byte("code-hash-2")}
	require.NoError(t, s.BeginEnrollment(ctx, mfa.Enrollment{Org: "orgB", User: "u1", ID: "e1", SealedSecret: []byte("x"),
		Algorithm: mfa.SHA1, Digits: 6, LastStep: -1, CreatedAt: t0}))
	require.NoError(t, s.ConfirmEnrollment(ctx, "orgB", "u1", "e1", 5, t0, t0.Add(-time.Hour), 5, codes))
	require.NoError(t, s.SetOrgPolicy(ctx, "orgB", true))

	attempts := func(t *testing.T, ctx context.Context, s pgstore.Store) {
		_, err := s.Enrollment(ctx, "orgB", "u1")
		require.ErrorIs(t, err, mfa.ErrNotEnrolled, "Enrollment")
		v, err := s.AcceptStep(ctx, "orgB", "u1", "e1", 9, t0, 5)
		require.NoError(t, err)
		require.Equal(t, mfa.Stale, v, "AcceptStep")
		ok, _, err := s.UseRecoveryCode(ctx, "orgB", "u1", codes[0], t0, 5)
		require.NoError(t, err)
		require.False(t, ok, "UseRecoveryCode")
		n, err := s.RecoveryCodesLeft(ctx, "orgB", "u1")
		require.NoError(t, err)
		require.Zero(t, n, "RecoveryCodesLeft")
		require.ErrorIs(t, s.ReplaceRecoveryCodes(ctx, "orgB", "u1", codes), mfa.ErrNotEnrolled)
		require.NoError(t, s.DeleteEnrollment(ctx, "orgB", "u1"), "deletes nothing it cannot see")
		req, err := s.OrgPolicy(ctx, "orgB")
		require.NoError(t, err)
		require.False(t, req, "OrgPolicy reads as unset")
		require.Error(t, s.SetOrgPolicy(ctx, "orgB", false), "WITH CHECK refuses B's row")
		require.Error(t, s.BeginEnrollment(ctx, mfa.Enrollment{Org: "orgB", User: "u2", ID: "e2", SealedSecret: []byte("x"),
			Algorithm: mfa.SHA1, Digits: 6, LastStep: -1, CreatedAt: t0}))
	}
	t.Run("ContextBoundPool", func(t *testing.T) { attempts(t, tenant.With(ctx, "orgA"), s) })
	t.Run("CallerTxBound", func(t *testing.T) {
		require.NoError(t, tenantpg.Run(tenant.With(ctx, "orgA"), r.App, func(ctx context.Context, tx pgx.Tx) error {
			attempts(t, context.Background(), s.WithTx(tx))
			return nil
		}))
	})

	e, err := s.Enrollment(ctx, "orgB", "u1")
	require.NoError(t, err)
	require.True(t, e.Confirmed, "B's enrolment is intact")
	n, err := s.RecoveryCodesLeft(ctx, "orgB", "u1")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	req, err := s.OrgPolicy(ctx, "orgB")
	require.NoError(t, err)
	require.True(t, req)

	for _, table := range []string{"mfa_enrollments", "mfa_recovery_codes", "mfa_org_policies"} {
		var c int
		require.NoError(t, r.App.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&c))
		require.Zero(t, c, "%s unbound: fails closed", table)
	}
	require.ErrorIs(t, s.SetOrgPolicy(ctx, "", true), tenant.ErrInvalidOrg, "the public sentinel, whichever store refused")
	fs, err := tenantpg.Check(ctx, r.Pool, "org", r.AppRole)
	require.NoError(t, err)
	require.Empty(t, tenantpg.Failed(fs))
}
