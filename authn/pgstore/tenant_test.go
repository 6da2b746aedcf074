package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/authn/authntest"
	"github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/tenant"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

// protectedEnv is authn's schema migrated and protected by a migration
// role that is not a superuser (so its directory functions rely on the
// rampart_owner policy), and a store of an application role that owns
// nothing and bypasses nothing.
type protectedEnv struct {
	*pgtest.Roles
	appStore pgstore.Store
}

func newProtectedEnv(t *testing.T) *protectedEnv {
	t.Helper()
	r := pgtest.NewRoles(t, "rampart_authn", pgstore.Migrate, func(ctx context.Context, owner *pgxpool.Pool, role string) error {
		if err := pgstore.Protect(ctx, owner, role); err != nil {
			return err
		}
		return pgstore.Protect(ctx, owner, role) // idempotent
	})
	return &protectedEnv{Roles: r, appStore: mustNew(t, r.App, pgstore.WithTenantBinding())}
}

// TestConformanceProtected runs the suite as the application role on
// protected tables, pool-bound and bound to a transaction of the caller's
// that is not bound to any organisation (each operation then binds its own,
// for itself only).
func TestConformanceProtected(t *testing.T) {
	t.Parallel()
	pool := func(t *testing.T) authn.Store { return newProtectedEnv(t).appStore }
	t.Run("Pool", func(t *testing.T) {
		t.Parallel()
		authntest.TestStore(t, pool, authntest.WithOrganisationRequired())
	})
	t.Run("Tx", func(t *testing.T) {
		t.Parallel()
		authntest.TestStore(t, func(t *testing.T) authn.Store {
			e := newProtectedEnv(t)
			return e.appStore.WithTx(pgtest.Tx(t, e.App))
		}, authntest.WithConcurrentStore(pool), authntest.WithOrganisationRequired())
	})
}

// TestProtectedTenantCannotReachAnother: with protection on, a store bound
// to organisation A (by the request's context, or by the caller's
// transaction) can neither read, revoke, list nor write organisation B's
// sessions, keys and policy, even when the Go code passes B's organisation
// and IDs: the database, not the WHERE clause, refuses.
func TestProtectedTenantCannotReachAnother(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newProtectedEnv(t)
	s := e.appStore
	sessB := authn.SessionRecord{ID: "sB", TokenHash: hash("sB"), Org: "orgB", UserID: "u1", Method: "password",
		CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}
	keyB := authn.APIKeyRecord{ID: "kB", Prefix: "p", Org: "orgB", Owner: "u1", HashAlg: authn.APIKeyHashHMAC, Hash: hash("kB"), CreatedAt: t0}
	require.NoError(t, s.CreateSession(ctx, sessB))
	require.NoError(t, s.CreateAPIKey(ctx, keyB))
	require.NoError(t, s.SetOrgPolicy(ctx, "orgB", authn.OrgPolicy{PasswordLoginDisabled: true}))

	attempts := func(t *testing.T, ctx context.Context, s pgstore.Store) {
		got, err := s.ListSessions(ctx, "orgB", "u1", authn.ListPage{Limit: 10})
		require.NoError(t, err)
		require.Empty(t, got, "ListSessions")
		keys, err := s.ListAPIKeys(ctx, "orgB", authn.ListPage{Limit: 10})
		require.NoError(t, err)
		require.Empty(t, keys, "ListAPIKeys")
		_, err = s.SessionByID(ctx, "sB")
		require.ErrorIs(t, err, authn.ErrNotFound, "SessionByID")
		require.ErrorIs(t, s.DeleteSession(ctx, "orgB", "u1", "sB"), authn.ErrNotFound, "DeleteSession")
		n, err := s.DeleteUserSessions(ctx, "orgB", "u1", "")
		require.NoError(t, err)
		require.Zero(t, n, "DeleteUserSessions")
		require.ErrorIs(t, s.RevokeAPIKey(ctx, "orgB", "kB", t0), authn.ErrNotFound, "RevokeAPIKey")
		require.ErrorIs(t, s.SetSessionMFAVerified(ctx, "sB", t0), authn.ErrNotFound, "SetSessionMFAVerified")
		require.ErrorIs(t, s.RotateSessionToken(ctx, "sB", hash("sB"), hash("x"), t0), authn.ErrNotFound, "RotateSessionToken")
		pol, err := s.OrgPolicy(ctx, "orgB")
		require.NoError(t, err)
		require.False(t, pol.PasswordLoginDisabled, "OrgPolicy reads as unset")
		require.Error(t, s.SetOrgPolicy(ctx, "orgB", authn.OrgPolicy{}), "SetOrgPolicy: WITH CHECK refuses B's row")
		stray := sessB
		stray.ID, stray.TokenHash = "stray", hash("stray")
		require.Error(t, s.CreateSession(ctx, stray), "CreateSession of a B row")
	}
	t.Run("ContextBoundPool", func(t *testing.T) {
		attempts(t, tenant.With(ctx, "orgA"), s)
	})
	t.Run("CallerTxBound", func(t *testing.T) {
		require.NoError(t, tenantpg.Run(tenant.With(ctx, "orgA"), e.App, func(ctx context.Context, tx pgx.Tx) error {
			// A plain context: only the transaction's binding speaks.
			attempts(t, context.Background(), s.WithTx(tx))
			return nil
		}))
	})

	// B's rows are intact, and the owner's sweep function still works.
	got, err := s.SessionByTokenHash(ctx, hash("sB"))
	require.NoError(t, err)
	require.True(t, got.MFAVerifiedAt.IsZero())
	require.True(t, got.OrgRequiresSSO, "the directory lookup joins B's policy")
	k, err := s.APIKeyByID(ctx, "kB")
	require.NoError(t, err)
	require.True(t, k.RevokedAt.IsZero())
	n, err := s.DeleteSessionsBefore(ctx, t0.Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// TestProtectedFailsClosed: the application role reading authn's tables
// directly, with no organisation bound, sees no row; a store without
// WithTenantBinding on protected tables finds nothing rather than
// everything.
func TestProtectedFailsClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newProtectedEnv(t)
	require.NoError(t, e.appStore.CreateSession(ctx, sessionRec("s1")))
	for _, table := range []string{"authn_sessions", "authn_api_keys", "authn_org_policies"} {
		var n int
		require.NoError(t, e.App.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n))
		require.Zero(t, n, table)
	}
	unbound := mustNew(t, e.App)
	_, err := unbound.SessionByTokenHash(ctx, hash("s1"))
	require.ErrorIs(t, err, authn.ErrNotFound)
	list, err := unbound.ListSessions(ctx, "org", "u", authn.ListPage{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, list)
}

// TestProtectedDirectoryFunctions: the directory functions answer exact
// keys only and run only for the application role; the posture check finds
// authn's protected tables sound, and names the one table with an org
// column that is deliberately left unprotected.
func TestProtectedDirectoryFunctions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newProtectedEnv(t)
	require.NoError(t, e.appStore.CreateSession(ctx, sessionRec("s1")))
	for _, q := range []string{`SELECT count(*) FROM authn_dir_sessions(ARRAY[''::bytea])`,
		`SELECT count(*) FROM authn_dir_api_keys(ARRAY['%'])`, `SELECT count(*) FROM authn_dir_session_org('%') o WHERE o IS NOT NULL`} {
		var n int
		require.NoError(t, e.App.QueryRow(ctx, q).Scan(&n))
		require.Zero(t, n, "no pattern, no wildcard: %s", q)
	}
	other, _ := e.Role(t, "rampart_authn_other", 1, "")
	for _, fn := range []string{"authn_dir_sessions(bytea[])", "authn_dir_api_keys(text[])", "authn_dir_session_org(text)",
		"authn_dir_api_key_org(text)", "authn_sweep_sessions(timestamptz)"} {
		var app, oth bool
		require.NoError(t, e.Pool.QueryRow(ctx, `SELECT has_function_privilege($1, $3::regprocedure, 'EXECUTE'),
			has_function_privilege($2, $3::regprocedure, 'EXECUTE')`, e.AppRole, other, fn).Scan(&app, &oth))
		require.True(t, app, fn)
		require.False(t, oth, "%s: not granted to PUBLIC", fn)
	}

	fs, err := tenantpg.Check(ctx, e.Pool, "org", e.AppRole)
	require.NoError(t, err)
	var failed []string
	for _, f := range tenantpg.Failed(fs) {
		failed = append(failed, f.Table)
	}
	magic := e.Schema + ".authn_magic_links"
	require.Equal(t, []string{magic, magic, magic}, failed, fmt.Sprintf("%+v", tenantpg.Failed(fs)))
}
