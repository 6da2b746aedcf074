// Package authntest is the conformance suite of authn.Store, in the manner
// of testing/fstest.TestFS: authn's memory store and authn/pgstore both run
// it, and a host that writes its own adapter can run it too:
//
//	func TestMyStore(t *testing.T) {
//		authntest.TestStore(t, func(t *testing.T) authn.Store { return newMyStore(t) })
//	}
//
// Besides the contract of each method it checks the properties the
// security of authn rests on: a magic link consumed by many concurrent
// callers is won exactly once, the per-email issue limit holds under
// concurrency, a session token rotated concurrently is rotated once, a
// revoked key or session stops working, and one tenant can neither list nor
// revoke another's credentials, even when both have a user with the same ID,
// an organisation that requires SSO is refused on every login path and its
// non-SSO sessions end, and the login throttle never admits more attempts
// than its limit, even under concurrency.
package authntest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/authn"
)

// Option configures TestStore.
type Option func(*suite)

type suite struct {
	concurrent  func(t *testing.T) authn.Store
	orgRequired bool
}

// WithOrganisationRequired declares a store that keeps no session and no
// organisation policy for the empty organisation, as authn/pgstore does
// under WithTenantBinding (row-level security has no organisation to bind
// such a row to). The suite then checks that both writes are refused with
// ErrInvalidArgument, where it would otherwise check the empty
// organisation's sessions.
func WithOrganisationRequired() Option {
	return func(s *suite) { s.orgRequired = true }
}

// WithConcurrentStore gives the subtests that race many goroutines on one
// store (MagicLinkConcurrentConsume, MagicLinkConcurrentRateLimit,
// SessionConcurrentRotate, ThrottleConcurrent) their own factory; by default
// they use newStore. A suite run with stores bound to a caller's transaction
// passes a pool-bound factory here: a transaction is one connection that
// runs one statement at a time, so the races these subtests stage need two
// or more sessions, as two application instances have.
func WithConcurrentStore(newStore func(t *testing.T) authn.Store) Option {
	return func(s *suite) { s.concurrent = newStore }
}

// TestStore runs the conformance suite. newStore must return an empty store
// for each call (each subtest uses its own).
func TestStore(t *testing.T, newStore func(t *testing.T) authn.Store, opts ...Option) {
	cfg := suite{concurrent: newStore}
	for _, o := range opts {
		o(&cfg)
	}
	racy := cfg.concurrent
	t.Run("APIKeys", func(t *testing.T) { t.Parallel(); testAPIKeys(t, newStore(t)) })
	t.Run("MagicLinks", func(t *testing.T) { t.Parallel(); testMagicLinks(t, newStore(t)) })
	t.Run("MagicLinkConcurrentConsume", func(t *testing.T) { t.Parallel(); testConcurrentConsume(t, racy(t)) })
	t.Run("MagicLinkConcurrentRateLimit", func(t *testing.T) { t.Parallel(); testConcurrentRateLimit(t, racy(t)) })
	t.Run("Sessions", func(t *testing.T) { t.Parallel(); testSessions(t, newStore(t)) })
	t.Run("SessionTenantIsolation", func(t *testing.T) { t.Parallel(); testSessionTenantIsolation(t, newStore(t)) })
	t.Run("ManagerTenantIsolation", func(t *testing.T) { t.Parallel(); testManagerTenantIsolation(t, newStore(t)) })
	t.Run("SessionConcurrentRotate", func(t *testing.T) { t.Parallel(); testConcurrentRotate(t, racy(t)) })
	t.Run("Policies", func(t *testing.T) { t.Parallel(); testPolicies(t, newStore(t)) })
	t.Run("Components", func(t *testing.T) { t.Parallel(); testComponents(t, newStore(t)) })
	t.Run("SessionOrgRequiresSSO", func(t *testing.T) { t.Parallel(); testSessionOrgRequiresSSO(t, newStore(t), cfg.orgRequired) })
	t.Run("SSOEveryLoginPath", func(t *testing.T) { t.Parallel(); testSSOEveryLoginPath(t, newStore(t)) })
	t.Run("Throttle", func(t *testing.T) { t.Parallel(); testThrottle(t, newStore(t)) })
	t.Run("ThrottleConcurrent", func(t *testing.T) { t.Parallel(); s := racy(t); TestThrottleConcurrent(t, s, s) })
	t.Run("ThrottleComponents", func(t *testing.T) { t.Parallel(); testThrottleComponents(t, newStore(t)) })
}

var base = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func randomBytes(t *testing.T) []byte {
	t.Helper()
	var b [32]byte
	_, _ = rand.Read(b[:])
	h := sha256.Sum256(b[:])
	return h[:]
}

func testAPIKeys(t *testing.T, s authn.Store) {
	ctx := context.Background()
	rec := authn.APIKeyRecord{ID: "AAAAAAAAAAA1", Prefix: "atl_live", Org: "org1", Owner: "u1", Name: "ci",
		Scopes: []string{"a.read", "b.write"}, HashAlg: authn.APIKeyHashHMAC, Hash: randomBytes(t),
		CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	require.NoError(t, s.CreateAPIKey(ctx, rec))
	require.ErrorIs(t, s.CreateAPIKey(ctx, rec), authn.ErrConflict)

	got, err := s.APIKeyByID(ctx, rec.ID)
	require.NoError(t, err)
	require.Equal(t, rec, got)
	_, err = s.APIKeyByID(ctx, "nope")
	require.ErrorIs(t, err, authn.ErrNotFound)

	rec2 := rec
	rec2.ID, rec2.Scopes, rec2.ExpiresAt, rec2.CreatedAt, rec2.Hash = "AAAAAAAAAAA2", []string{}, time.Time{}, base.Add(time.Second), randomBytes(t)
	require.NoError(t, s.CreateAPIKey(ctx, rec2))
	rec3 := rec2
	rec3.ID, rec3.Org = "AAAAAAAAAAA3", "org2"
	require.NoError(t, s.CreateAPIKey(ctx, rec3))

	all := authn.ListPage{Limit: 10}
	list, err := s.ListAPIKeys(ctx, "org1", all)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, rec.ID, list[0].ID)
	require.Equal(t, rec2.ID, list[1].ID)
	require.Empty(t, list[1].Scopes)
	require.True(t, list[1].ExpiresAt.IsZero())
	list, err = s.ListAPIKeys(ctx, "org-none", all)
	require.NoError(t, err)
	require.Empty(t, list)
	// Pages: a limit, then the rest after the last key seen.
	list, err = s.ListAPIKeys(ctx, "org1", authn.ListPage{Limit: 1})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, rec.ID, list[0].ID)
	list, err = s.ListAPIKeys(ctx, "org1", authn.ListPage{AfterCreated: list[0].CreatedAt, AfterID: list[0].ID, Limit: 10})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, rec2.ID, list[0].ID)
	list, err = s.ListAPIKeys(ctx, "org1", authn.ListPage{AfterCreated: list[0].CreatedAt, AfterID: list[0].ID, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, list)

	// Tenant isolation on revoke.
	require.ErrorIs(t, s.RevokeAPIKey(ctx, "org2", rec.ID, base), authn.ErrNotFound)
	require.NoError(t, s.RevokeAPIKey(ctx, "org1", rec.ID, base.Add(time.Minute)))
	require.NoError(t, s.RevokeAPIKey(ctx, "org1", rec.ID, base.Add(2*time.Minute)))
	got, err = s.APIKeyByID(ctx, rec.ID)
	require.NoError(t, err)
	require.Equal(t, base.Add(time.Minute), got.RevokedAt, "first revocation time kept")

	// Last-used only moves forward.
	require.NoError(t, s.TouchAPIKey(ctx, rec2.ID, base.Add(time.Hour)))
	require.NoError(t, s.TouchAPIKey(ctx, rec2.ID, base.Add(time.Minute)))
	got, err = s.APIKeyByID(ctx, rec2.ID)
	require.NoError(t, err)
	require.Equal(t, base.Add(time.Hour), got.LastUsedAt)
}

func link(t *testing.T, email string, created time.Time) authn.MagicLinkRecord {
	return authn.MagicLinkRecord{TokenHash: randomBytes(t), Org: "org1", Email: email, Purpose: "login",
		CreatedAt: created, ExpiresAt: created.Add(15 * time.Minute)}
}

func testMagicLinks(t *testing.T, s authn.Store) {
	ctx := context.Background()
	l := link(t, "a@example.com", base)
	require.NoError(t, s.InsertMagicLink(ctx, l, 3, base.Add(-time.Hour)))
	require.ErrorIs(t, s.InsertMagicLink(ctx, l, 3, base.Add(-time.Hour)), authn.ErrConflict)

	got, err := s.ConsumeMagicLink(ctx, l.TokenHash, base.Add(time.Minute))
	require.NoError(t, err)
	want := l
	want.ConsumedAt = base.Add(time.Minute)
	require.Equal(t, want, got)
	_, err = s.ConsumeMagicLink(ctx, l.TokenHash, base.Add(2*time.Minute))
	require.ErrorIs(t, err, authn.ErrAlreadyConsumed, "reused link")
	_, err = s.ConsumeMagicLink(ctx, randomBytes(t), base)
	require.ErrorIs(t, err, authn.ErrNotFound)

	// Rate limit counts links created at or after since, per email.
	require.NoError(t, s.InsertMagicLink(ctx, link(t, "a@example.com", base.Add(time.Second)), 3, base.Add(-time.Hour)))
	require.NoError(t, s.InsertMagicLink(ctx, link(t, "a@example.com", base.Add(2*time.Second)), 3, base.Add(-time.Hour)))
	require.ErrorIs(t, s.InsertMagicLink(ctx, link(t, "a@example.com", base.Add(3*time.Second)), 3, base.Add(-time.Hour)), authn.ErrRateLimited)
	require.NoError(t, s.InsertMagicLink(ctx, link(t, "b@example.com", base.Add(3*time.Second)), 3, base.Add(-time.Hour)))
	require.NoError(t, s.InsertMagicLink(ctx, link(t, "a@example.com", base.Add(3*time.Second)), 3, base.Add(time.Second)), "window slid past the first")

	n, err := s.DeleteMagicLinksBefore(ctx, base.Add(15*time.Minute+2*time.Second))
	require.NoError(t, err)
	require.Equal(t, 2, n, "links expiring strictly before the cutoff")
	_, err = s.ConsumeMagicLink(ctx, l.TokenHash, base)
	require.ErrorIs(t, err, authn.ErrNotFound)
}

func testConcurrentConsume(t *testing.T, s authn.Store) {
	ctx := context.Background()
	for range 5 {
		l := link(t, "race@example.com", base)
		require.NoError(t, s.InsertMagicLink(ctx, l, 1000, base.Add(-time.Hour)))
		var wins, used atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 8 {
			wg.Go(func() {
				<-start
				_, err := s.ConsumeMagicLink(ctx, l.TokenHash, base.Add(time.Minute))
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, authn.ErrAlreadyConsumed):
					used.Add(1)
				default:
					t.Errorf("consume: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, int64(1), wins.Load(), "exactly one concurrent consumer wins")
		require.Equal(t, int64(7), used.Load())
	}
}

func testConcurrentRateLimit(t *testing.T, s authn.Store) {
	ctx := context.Background()
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 10 {
		wg.Go(func() {
			<-start
			err := s.InsertMagicLink(ctx, link(t, "burst@example.com", base.Add(time.Duration(i)*time.Millisecond)), 3, base.Add(-time.Hour))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, authn.ErrRateLimited):
				limited.Add(1)
			default:
				t.Errorf("insert: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	require.Equal(t, int64(3), ok.Load(), "the limit holds under concurrency")
	require.Equal(t, int64(7), limited.Load())
}

func session(t *testing.T, id, user string, created time.Time) authn.SessionRecord {
	return authn.SessionRecord{ID: id, TokenHash: randomBytes(t), Org: "org1", UserID: user, Method: "password",
		IP: "192.0.2.1", UserAgent: "test", CreatedAt: created, LastSeenAt: created, ExpiresAt: created.Add(12 * time.Hour)}
}

func testSessions(t *testing.T, s authn.Store) {
	ctx := context.Background()
	a := session(t, "sid_a", "u1", base)
	require.NoError(t, s.CreateSession(ctx, a))
	require.ErrorIs(t, s.CreateSession(ctx, a), authn.ErrConflict)
	dupToken := session(t, "sid_dup", "u1", base)
	dupToken.TokenHash = a.TokenHash
	require.ErrorIs(t, s.CreateSession(ctx, dupToken), authn.ErrConflict)

	got, err := s.SessionByTokenHash(ctx, a.TokenHash)
	require.NoError(t, err)
	require.Equal(t, a, got)
	got, err = s.SessionByID(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, a, got)
	_, err = s.SessionByTokenHash(ctx, randomBytes(t))
	require.ErrorIs(t, err, authn.ErrNotFound)
	_, err = s.SessionByID(ctx, "sid_none")
	require.ErrorIs(t, err, authn.ErrNotFound)

	require.NoError(t, s.TouchSession(ctx, a.ID, base.Add(time.Hour)))
	require.NoError(t, s.TouchSession(ctx, a.ID, base.Add(time.Minute)))
	require.NoError(t, s.SetSessionMFAVerified(ctx, a.ID, base.Add(2*time.Minute)))
	require.ErrorIs(t, s.SetSessionMFAVerified(ctx, "sid_none", base), authn.ErrNotFound)
	got, err = s.SessionByID(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, base.Add(time.Hour), got.LastSeenAt)
	require.Equal(t, base.Add(2*time.Minute), got.MFAVerifiedAt)

	// Rotation replaces the token; the old hash no longer finds it.
	newHash := randomBytes(t)
	require.ErrorIs(t, s.RotateSessionToken(ctx, a.ID, randomBytes(t), newHash, base), authn.ErrNotFound)
	require.NoError(t, s.RotateSessionToken(ctx, a.ID, a.TokenHash, newHash, base.Add(2*time.Hour)))
	_, err = s.SessionByTokenHash(ctx, a.TokenHash)
	require.ErrorIs(t, err, authn.ErrNotFound)
	got, err = s.SessionByTokenHash(ctx, newHash)
	require.NoError(t, err)
	require.Equal(t, a.ID, got.ID)
	require.Equal(t, base.Add(2*time.Hour), got.LastSeenAt)

	b := session(t, "sid_b", "u1", base.Add(time.Second))
	c := session(t, "sid_c", "u1", base.Add(2*time.Second))
	other := session(t, "sid_o", "u2", base)
	for _, r := range []authn.SessionRecord{b, c, other} {
		require.NoError(t, s.CreateSession(ctx, r))
	}
	list, err := s.ListSessions(ctx, "org1", "u1", authn.ListPage{Limit: 100})
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Equal(t, []string{"sid_a", "sid_b", "sid_c"}, []string{list[0].ID, list[1].ID, list[2].ID})

	require.ErrorIs(t, s.DeleteSession(ctx, "org1", "u2", a.ID), authn.ErrNotFound, "another user's session")
	require.NoError(t, s.DeleteSession(ctx, "org1", "u1", a.ID))
	_, err = s.SessionByTokenHash(ctx, newHash)
	require.ErrorIs(t, err, authn.ErrNotFound, "revoked session")
	require.ErrorIs(t, s.DeleteSession(ctx, "org1", "u1", a.ID), authn.ErrNotFound)

	n, err := s.DeleteUserSessions(ctx, "org1", "u1", c.ID)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = s.DeleteUserSessions(ctx, "org1", "u1", "")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	list, err = s.ListSessions(ctx, "org1", "u1", authn.ListPage{Limit: 100})
	require.NoError(t, err)
	require.Empty(t, list)
	_, err = s.SessionByID(ctx, other.ID)
	require.NoError(t, err, "other users untouched")

	n, err = s.DeleteSessionsBefore(ctx, other.ExpiresAt.Add(time.Second))
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// testSessionTenantIsolation tries to reach another organisation's sessions
// through the store: organisations A and B each have a user "u1" (the same
// ID, as happens with external identity providers or reused numeric IDs).
// Every list and delete scoped to A must neither see nor touch B's rows.
func testSessionTenantIsolation(t *testing.T, s authn.Store) {
	ctx := context.Background()
	inOrg := func(id, org string, created time.Time) authn.SessionRecord {
		r := session(t, id, "u1", created)
		r.Org = org
		return r
	}
	a1 := inOrg("sid_a1", "orgA", base)
	a2 := inOrg("sid_a2", "orgA", base.Add(time.Second))
	b1 := inOrg("sid_b1", "orgB", base)
	b2 := inOrg("sid_b2", "orgB", base.Add(time.Second))
	for _, r := range []authn.SessionRecord{a1, a2, b1, b2} {
		require.NoError(t, s.CreateSession(ctx, r))
	}
	ids := func(org string) []string {
		t.Helper()
		list, err := s.ListSessions(ctx, org, "u1", authn.ListPage{Limit: 100})
		require.NoError(t, err)
		out := []string{}
		for _, r := range list {
			require.Equal(t, org, r.Org, "a listed session belongs to the organisation asked for")
			out = append(out, r.ID)
		}
		return out
	}
	require.Equal(t, []string{"sid_a1", "sid_a2"}, ids("orgA"))
	require.Equal(t, []string{"sid_b1", "sid_b2"}, ids("orgB"))
	require.Empty(t, ids(""), "the empty organisation is an organisation too, not a wildcard")
	require.Empty(t, ids("orgC"))

	// Deleting B's session by ID while scoped to A fails and leaves it.
	require.ErrorIs(t, s.DeleteSession(ctx, "orgA", "u1", b1.ID), authn.ErrNotFound)
	require.ErrorIs(t, s.DeleteSession(ctx, "", "u1", b1.ID), authn.ErrNotFound)
	_, err := s.SessionByTokenHash(ctx, b1.TokenHash)
	require.NoError(t, err, "orgB's session survives a delete scoped to orgA")

	// "Log out everywhere else" and "log out everywhere" in A leave B alone,
	// even when the session kept is B's.
	n, err := s.DeleteUserSessions(ctx, "orgA", "u1", b1.ID)
	require.NoError(t, err)
	require.Equal(t, 2, n, "both of orgA's sessions go; orgB's is not the exception that matters")
	require.Empty(t, ids("orgA"))
	require.Equal(t, []string{"sid_b1", "sid_b2"}, ids("orgB"))
	require.NoError(t, s.CreateSession(ctx, inOrg("sid_a3", "orgA", base.Add(2*time.Second))))
	n, err = s.DeleteUserSessions(ctx, "orgA", "u1", "")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []string{"sid_b1", "sid_b2"}, ids("orgB"))
	for _, r := range []authn.SessionRecord{b1, b2} {
		_, err := s.SessionByTokenHash(ctx, r.TokenHash)
		require.NoError(t, err, "orgB's session %s still authenticates", r.ID)
	}

	// And B's own scoped calls work.
	require.NoError(t, s.DeleteSession(ctx, "orgB", "u1", b1.ID))
	n, err = s.DeleteUserSessions(ctx, "orgB", "u1", "")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Empty(t, ids("orgB"))
}

// testManagerTenantIsolation is the same attack through the managers a host
// calls from its admin handlers: an administrator of orgA handed the user ID
// or key ID of orgB lists nothing and revokes nothing.
func testManagerTenantIsolation(t *testing.T, s authn.Store) {
	ctx := context.Background()
	clock := func() time.Time { return base }

	sessions, err := authn.NewSessions(s, authn.WithClock(clock))
	require.NoError(t, err)
	tokA, sessA, err := sessions.Create(ctx, authn.NewSession{Org: "orgA", UserID: "u1", Method: "password"})
	require.NoError(t, err)
	tokB, sessB, err := sessions.Create(ctx, authn.NewSession{Org: "orgB", UserID: "u1", Method: "password"})
	require.NoError(t, err)
	tokB2, _, err := sessions.Create(ctx, authn.NewSession{Org: "orgB", UserID: "u1", Method: "password"})
	require.NoError(t, err)

	listA, _, err := sessions.List(ctx, "orgA", "u1", "", 0)
	require.NoError(t, err)
	require.Len(t, listA, 1)
	require.Equal(t, sessA.ID, listA[0].ID)
	require.ErrorIs(t, sessions.Revoke(ctx, "orgA", "u1", sessB.ID), authn.ErrNotFound)
	n, err := sessions.RevokeOthers(ctx, "orgA", "u1", sessA.ID)
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = sessions.RevokeAll(ctx, "orgA", "u1")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = sessions.Lookup(ctx, tokA.Reveal())
	require.ErrorIs(t, err, authn.ErrSessionInvalid)
	for _, tok := range []authn.SessionToken{tokB, tokB2} {
		_, err = sessions.Lookup(ctx, tok.Reveal())
		require.NoError(t, err, "orgB's sessions survive every revocation in orgA")
	}
	listB, _, err := sessions.List(ctx, "orgB", "u1", "", 0)
	require.NoError(t, err)
	require.Len(t, listB, 2)

	keys, err := authn.NewAPIKeys(s, "rt_test", pepper{}, authn.WithClock(clock))
	require.NoError(t, err)
	rawB, keyB, err := keys.Create(ctx, authn.NewAPIKey{Org: "orgB", Owner: "u1", Scopes: []string{"x.read"}})
	require.NoError(t, err)
	_, _, err = keys.Create(ctx, authn.NewAPIKey{Org: "orgA", Owner: "u1", Scopes: []string{"x.read"}})
	require.NoError(t, err)
	keysA, _, err := keys.List(ctx, "orgA", "", 0)
	require.NoError(t, err)
	require.Len(t, keysA, 1)
	require.NotEqual(t, keyB.ID, keysA[0].ID, "orgA's listing does not show orgB's key")
	require.ErrorIs(t, keys.Revoke(ctx, "orgA", keyB.ID), authn.ErrNotFound)
	_, err = keys.Verify(ctx, rawB.Reveal())
	require.NoError(t, err, "orgB's key still verifies after orgA tried to revoke it")
}

func testConcurrentRotate(t *testing.T, s authn.Store) {
	ctx := context.Background()
	a := session(t, "sid_rot", "u1", base)
	require.NoError(t, s.CreateSession(ctx, a))
	var wins atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			<-start
			err := s.RotateSessionToken(ctx, a.ID, a.TokenHash, randomBytes(t), base.Add(time.Minute))
			if err == nil {
				wins.Add(1)
			} else if !errors.Is(err, authn.ErrNotFound) {
				t.Errorf("rotate: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	require.Equal(t, int64(1), wins.Load())
}

func testPolicies(t *testing.T, s authn.Store) {
	ctx := context.Background()
	p, err := s.OrgPolicy(ctx, "org1")
	require.NoError(t, err)
	require.Equal(t, authn.OrgPolicy{}, p)
	require.NoError(t, s.SetOrgPolicy(ctx, "org1", authn.OrgPolicy{PasswordLoginDisabled: true}))
	p, err = s.OrgPolicy(ctx, "org1")
	require.NoError(t, err)
	require.True(t, p.PasswordLoginDisabled)
	require.NoError(t, s.SetOrgPolicy(ctx, "org1", authn.OrgPolicy{}))
	p, err = s.OrgPolicy(ctx, "org1")
	require.NoError(t, err)
	require.False(t, p.PasswordLoginDisabled)
}

type pepper struct{}

func (pepper) Sum(v []byte) []byte {
	h := sha256.Sum256(append([]byte("conformance-pepper\x00"), v...))
	return h[:]
}
func (p pepper) Sums(v []byte) [][]byte { return [][]byte{p.Sum(v)} }

// testComponents runs authn's managers over the store: the behaviour a host
// sees must not depend on the adapter.
func testComponents(t *testing.T, s authn.Store) {
	ctx := context.Background()
	now := base
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	keys, err := authn.NewAPIKeys(s, "rt_test", pepper{}, authn.WithClock(clock))
	require.NoError(t, err)
	raw, meta, err := keys.Create(ctx, authn.NewAPIKey{Org: "org1", Owner: "u1", Scopes: []string{"x.read"}, ExpiresAt: base.Add(time.Hour)})
	require.NoError(t, err)
	got, err := keys.Verify(ctx, raw.Reveal())
	require.NoError(t, err)
	require.Equal(t, meta.ID, got.ID)
	require.Equal(t, base, got.LastUsedAt)
	require.NoError(t, keys.Revoke(ctx, "org1", meta.ID))
	_, err = keys.Verify(ctx, raw.Reveal())
	require.ErrorIs(t, err, authn.ErrAPIKeyRevoked)

	links, err := authn.NewMagicLinks(s, authn.WithClock(clock))
	require.NoError(t, err)
	tok, err := links.Issue(ctx, authn.MagicLinkRequest{Org: "org1", Email: "C@example.com", Purpose: "login"})
	require.NoError(t, err)
	ml, err := links.Consume(ctx, tok.Reveal(), "login")
	require.NoError(t, err)
	require.Equal(t, "c@example.com", ml.Email)
	_, err = links.Consume(ctx, tok.Reveal(), "login")
	require.ErrorIs(t, err, authn.ErrMagicLinkUsed)
	expiring, err := links.Issue(ctx, authn.MagicLinkRequest{Email: "c@example.com", Purpose: "login"})
	require.NoError(t, err)
	advance(16 * time.Minute)
	_, err = links.Consume(ctx, expiring.Reveal(), "login")
	require.ErrorIs(t, err, authn.ErrMagicLinkExpired)

	sessions, err := authn.NewSessions(s, authn.WithClock(clock))
	require.NoError(t, err)
	st, sess, err := sessions.Create(ctx, authn.NewSession{Org: "org1", UserID: "u9", Method: "magic_link"})
	require.NoError(t, err)
	at := clock().Add(time.Second)
	require.NoError(t, sessions.MarkMFAVerified(ctx, sess.ID, at))
	looked, err := sessions.Lookup(ctx, st.Reveal())
	require.NoError(t, err)
	require.Equal(t, at, looked.MFAVerifiedAt)
	st2, _, err := sessions.Rotate(ctx, st.Reveal())
	require.NoError(t, err)
	_, err = sessions.Lookup(ctx, st.Reveal())
	require.ErrorIs(t, err, authn.ErrSessionInvalid)
	require.NoError(t, sessions.Revoke(ctx, "org1", "u9", sess.ID))
	_, err = sessions.Lookup(ctx, st2.Reveal())
	require.ErrorIs(t, err, authn.ErrSessionInvalid)

	// A client-chosen User-Agent with invalid UTF-8 and NUL bytes, longer
	// than the stored limit, still lets its user log in.
	st3, _, err := sessions.Create(ctx, authn.NewSession{Org: "org1", UserID: "u9", Method: "password",
		UserAgent: "\xff\x00" + strings.Repeat("é", 300), IP: "203.0.113.9\x00"})
	require.NoError(t, err)
	_, err = sessions.Lookup(ctx, st3.Reveal())
	require.NoError(t, err)
}
