package authntest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/authn"
)

// testSessionOrgRequiresSSO: SessionByTokenHash reports the session's
// organisation's SSO requirement as it is at the time of the read.
// With orgRequired the store must refuse the empty organisation's session
// and policy instead.
func testSessionOrgRequiresSSO(t *testing.T, s authn.Store, orgRequired bool) {
	ctx := context.Background()
	a := session(t, "sid_sso_a", "u1", base)
	other := session(t, "sid_sso_o", "u1", base)
	other.Org = "org2"
	none := session(t, "sid_sso_n", "u1", base)
	none.Org = ""
	for _, r := range []authn.SessionRecord{a, other} {
		require.NoError(t, s.CreateSession(ctx, r))
	}
	if orgRequired {
		require.ErrorIs(t, s.CreateSession(ctx, none), authn.ErrInvalidArgument)
		require.ErrorIs(t, s.SetOrgPolicy(ctx, "", authn.OrgPolicy{PasswordLoginDisabled: true}), authn.ErrInvalidArgument)
	} else {
		require.NoError(t, s.CreateSession(ctx, none))
	}
	read := func(r authn.SessionRecord) bool {
		t.Helper()
		got, err := s.SessionByTokenHash(ctx, r.TokenHash)
		require.NoError(t, err)
		return got.OrgRequiresSSO
	}
	require.False(t, read(a))
	require.NoError(t, s.SetOrgPolicy(ctx, "org1", authn.OrgPolicy{PasswordLoginDisabled: true}))
	if !orgRequired {
		require.NoError(t, s.SetOrgPolicy(ctx, "", authn.OrgPolicy{PasswordLoginDisabled: true}))
	}
	require.True(t, read(a), "the policy change is seen at the next read")
	require.False(t, read(other), "another organisation")
	if !orgRequired {
		require.False(t, read(none), "the empty organisation is never enforced")
	}
	require.NoError(t, s.SetOrgPolicy(ctx, "org1", authn.OrgPolicy{}))
	require.False(t, read(a))
}

// testSSOEveryLoginPath runs each login path of authn's managers over the
// store against an organisation that requires SSO: every one is refused
// with ErrSSORequired, while SSO sessions and API keys keep working. The
// authn package's own test enumerates the paths (TestSSOSeamsEnumerated);
// this checks that the store carries the policy to each of them.
func testSSOEveryLoginPath(t *testing.T, s authn.Store) {
	ctx := context.Background()
	clock := func() time.Time { return base }
	links, err := authn.NewMagicLinks(s, authn.WithClock(clock))
	require.NoError(t, err)
	sessions, err := authn.NewSessions(s, authn.WithClock(clock))
	require.NoError(t, err)
	pw, err := authn.NewPasswords(authn.WithArgon2id(authn.Argon2Params{MemoryKiB: 7 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
	require.NoError(t, err)
	login, err := authn.NewPasswordLogin(pw, s, authn.WithClock(clock))
	require.NoError(t, err)
	keys, err := authn.NewAPIKeys(s, "rt_test", pepper{}, authn.WithClock(clock))
	require.NoError(t, err)
	hash, err := pw.Hash(ctx, "pw")
	require.NoError(t, err)

	// Before: a link issued for the organisation, sessions of each method, a key.
	pending, err := links.Issue(ctx, authn.MagicLinkRequest{Org: "sso_org", Email: "ann@example.com", Purpose: "login"})
	require.NoError(t, err)
	byMethod := map[string]authn.SessionToken{}
	for _, m := range []string{authn.AuthPassword, authn.AuthMagicLink, authn.AuthSSO, "webauthn"} {
		tok, _, err := sessions.Create(ctx, authn.NewSession{Org: "sso_org", UserID: "ann", Method: m})
		require.NoError(t, err)
		byMethod[m] = tok
	}
	raw, _, err := keys.Create(ctx, authn.NewAPIKey{Org: "sso_org", Owner: "ann"})
	require.NoError(t, err)

	require.NoError(t, authn.RequireSSO(ctx, s, "sso_org", true))

	_, err = login.Check(ctx, authn.Client{Login: "ann@example.com"}, authn.Account{Found: true, Org: "sso_org", PasswordHash: hash}, "pw")
	require.ErrorIs(t, err, authn.ErrSSORequired, "password")
	_, err = links.Issue(ctx, authn.MagicLinkRequest{Org: "sso_org", Email: "ann@example.com", Purpose: "login"})
	require.ErrorIs(t, err, authn.ErrSSORequired, "magic link issue")
	err = links.Send(ctx, authn.MagicLinkRequest{Org: "sso_org", Email: "ann@example.com", Purpose: "login"},
		func(context.Context, string) (bool, error) { return true, nil },
		func(context.Context, string, authn.MagicToken) error { t.Error("delivered"); return nil })
	require.ErrorIs(t, err, authn.ErrSSORequired, "magic link send")
	_, err = links.Consume(ctx, pending.Reveal(), "login")
	require.ErrorIs(t, err, authn.ErrSSORequired, "a link issued before the change")
	for m, tok := range byMethod {
		_, err := sessions.Lookup(ctx, tok.Reveal())
		if m == authn.AuthSSO {
			require.NoError(t, err, "an SSO session survives")
			continue
		}
		require.ErrorIs(t, err, authn.ErrSSORequired, "a %s session ends", m)
		_, err = sessions.Lookup(ctx, tok.Reveal())
		require.ErrorIs(t, err, authn.ErrSessionInvalid, "and is deleted")
	}
	_, err = keys.Verify(ctx, raw.Reveal())
	require.NoError(t, err, "API keys are machine credentials: they keep working")

	// Other organisations, and the organisation once SSO is lifted, log in.
	_, err = links.Issue(ctx, authn.MagicLinkRequest{Org: "other_org", Email: "bob@example.com", Purpose: "login"})
	require.NoError(t, err)
	require.NoError(t, authn.RequireSSO(ctx, s, "sso_org", false))
	_, err = links.Issue(ctx, authn.MagicLinkRequest{Org: "sso_org", Email: "ann@example.com", Purpose: "login"})
	require.NoError(t, err)
}

// testThrottle checks the ThrottleStore contract.
func testThrottle(t *testing.T, s authn.Store) {
	ctx := context.Background()
	const w = 15 * time.Minute
	pair := authn.ThrottleRule{Key: "password:pair:x:192.0.2.1/32", Limit: 2, Window: w}
	acct := authn.ThrottleRule{Key: "password:account:x", Limit: 3, Window: w}
	rules := []authn.ThrottleRule{pair, acct}

	res, err := s.TakeThrottle(ctx, rules, base)
	require.NoError(t, err)
	require.Zero(t, res.RetryAfter)
	require.Empty(t, res.Filled)
	res, err = s.TakeThrottle(ctx, rules, base.Add(time.Minute))
	require.NoError(t, err)
	require.Zero(t, res.RetryAfter)
	require.Equal(t, []string{pair.Key}, res.Filled, "the attempt that reaches the limit fills the bucket")

	// Full pair: refused with the wait until its window ends, and the
	// account bucket is not counted.
	res, err = s.TakeThrottle(ctx, rules, base.Add(5*time.Minute))
	require.NoError(t, err)
	require.Equal(t, 10*time.Minute, res.RetryAfter)
	require.Empty(t, res.Filled)
	b, err := s.ThrottleBuckets(ctx, []string{acct.Key, pair.Key, "password:account:none"}, base.Add(5*time.Minute))
	require.NoError(t, err)
	require.Equal(t, []authn.ThrottleBucket{
		{Key: acct.Key, Count: 2, WindowEnd: base.Add(w)},
		{Key: pair.Key, Count: 2, WindowEnd: base.Add(w)},
	}, b, "a refused attempt counts nowhere")

	// Another pair still reaches the account bucket, which fills.
	pair2 := authn.ThrottleRule{Key: "password:pair:x:192.0.2.2/32", Limit: 2, Window: w}
	res, err = s.TakeThrottle(ctx, []authn.ThrottleRule{pair2, acct}, base.Add(6*time.Minute))
	require.NoError(t, err)
	require.Zero(t, res.RetryAfter)
	require.Equal(t, []string{acct.Key}, res.Filled)
	res, err = s.TakeThrottle(ctx, []authn.ThrottleRule{pair2, acct}, base.Add(7*time.Minute))
	require.NoError(t, err)
	require.Equal(t, 8*time.Minute, res.RetryAfter)

	// At the end of the window the buckets start again.
	res, err = s.TakeThrottle(ctx, rules, base.Add(w))
	require.NoError(t, err)
	require.Zero(t, res.RetryAfter)
	b, err = s.ThrottleBuckets(ctx, []string{pair.Key, acct.Key}, base.Add(w))
	require.NoError(t, err)
	require.Equal(t, []authn.ThrottleBucket{
		{Key: acct.Key, Count: 1, WindowEnd: base.Add(2 * w)},
		{Key: pair.Key, Count: 1, WindowEnd: base.Add(2 * w)},
	}, b)
	b, err = s.ThrottleBuckets(ctx, []string{pair2.Key}, base.Add(w+6*time.Minute))
	require.NoError(t, err)
	require.Empty(t, b, "an ended window is not live")

	// Prefix deletion: exactly the keys under the prefix, never a pattern.
	res, err = s.TakeThrottle(ctx, []authn.ThrottleRule{{Key: "password:pair:x_%:a", Limit: 9, Window: w}}, base.Add(w))
	require.NoError(t, err)
	require.Zero(t, res.RetryAfter)
	n, err := s.DeleteThrottle(ctx, "password:pair:x_%")
	require.NoError(t, err)
	require.Equal(t, 1, n, "_ and %% are literal")
	n, err = s.DeleteThrottle(ctx, "password:pair:x:")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	_, err = s.DeleteThrottle(ctx, "")
	require.Error(t, err, "an empty prefix would delete everything")

	n, err = s.DeleteThrottleBefore(ctx, base.Add(2*w+time.Second))
	require.NoError(t, err)
	require.Equal(t, 1, n, "the account bucket, whose window ended")
	b, err = s.ThrottleBuckets(ctx, []string{acct.Key}, base)
	require.NoError(t, err)
	require.Empty(t, b)
}

// TestThrottleConcurrent fires 40 attempts at once at one bucket, half
// through each of two stores on the same data (two application instances,
// each with its own connections; pass the same store twice for an
// in-process store): together they never count more than the limit.
// Each attempt also names a bucket of its own, so the buckets are locked
// in an order that differs from call to call.
func TestThrottleConcurrent(t *testing.T, a, b authn.ThrottleStore) {
	ctx := context.Background()
	const limit = 7
	for round := range 3 {
		key := fmt.Sprintf("password:account:race%d", round)
		var allowed, refused atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 40 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				<-start
				rules := []authn.ThrottleRule{
					{Key: fmt.Sprintf("password:pair:race%d:%02d", round, i), Limit: 100, Window: time.Hour},
					{Key: key, Limit: limit, Window: time.Hour},
				}
				if i%3 == 0 {
					rules[0], rules[1] = rules[1], rules[0]
				}
				res, err := s.TakeThrottle(ctx, rules, base)
				switch {
				case err != nil:
					t.Errorf("take: %v", err)
				case res.RetryAfter == 0:
					allowed.Add(1)
				default:
					refused.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, int64(limit), allowed.Load(), "exactly the limit is admitted")
		require.Equal(t, int64(40-limit), refused.Load())
	}
}

// testThrottleComponents drives the throttle through PasswordLogin and
// MagicLinks.
func testThrottleComponents(t *testing.T, s authn.Store) {
	ctx := context.Background()
	now := base
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	pw, err := authn.NewPasswords(authn.WithArgon2id(authn.Argon2Params{MemoryKiB: 7 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
	require.NoError(t, err)
	lim := authn.ThrottleLimits{Pair: 2, Account: 3, Address: 50, MagicLinkAddress: 2, Window: time.Hour}
	login, err := authn.NewPasswordLogin(pw, s, authn.WithClock(clock), authn.WithThrottleLimits(lim))
	require.NoError(t, err)
	hash, err := pw.Hash(ctx, "right")
	require.NoError(t, err)
	acct := authn.Account{Found: true, Org: "org1", PasswordHash: hash}
	c := authn.Client{Login: "Ann@Example.com", Addr: "2001:db8:1:2::7"}

	_, err = login.Check(ctx, c, acct, "wrong")
	require.ErrorIs(t, err, authn.ErrPasswordMismatch)
	_, err = login.Check(ctx, authn.Client{Login: "ann@example.com", Addr: "[2001:db8:1:2:ffff::1]:443"}, acct, "wrong")
	require.ErrorIs(t, err, authn.ErrPasswordMismatch, "same /64, same (case-folded) login")
	_, err = login.Check(ctx, c, acct, "right")
	var te *authn.ThrottledError
	require.ErrorAs(t, err, &te, "the pair is full: even the right password is not checked")
	require.Equal(t, time.Hour, te.RetryAfter)

	// Another /64 still gets in (and its pair bucket resets on success).
	other := authn.Client{Login: "ann@example.com", Addr: "2001:db8:1:3::7"}
	_, err = login.Check(ctx, other, acct, "right")
	require.NoError(t, err)
	// The account bucket (3) is now full for unknown devices...
	_, err = login.Check(ctx, authn.Client{Login: "ann@example.com", Addr: "198.51.100.9"}, acct, "right")
	require.ErrorIs(t, err, authn.ErrThrottled)
	// ...but not for a device the host recognises.
	_, err = login.Check(ctx, authn.Client{Login: "ann@example.com", Addr: "198.51.100.9", KnownDevice: true}, acct, "right")
	require.NoError(t, err)

	// Operations: read the buckets, unlock the login.
	th, err := authn.NewThrottle(s, authn.WithClock(clock))
	require.NoError(t, err)
	bs, err := th.Buckets(ctx, c)
	require.NoError(t, err)
	require.Len(t, bs, 3, "pair, account and address buckets: %v", bs)
	require.Equal(t, "password:address:2001:db8:1:2::/64", bs[1].Key, "sorted by key; the address is kept as its /64")
	require.Equal(t, 2, bs[1].Count)
	n, err := th.Unlock(ctx, "ANN@example.com")
	require.NoError(t, err)
	require.Equal(t, 2, n, "the account bucket and the full pair (the pair of the other /64 was emptied by its success)")
	_, err = login.Check(ctx, c, acct, "right")
	require.NoError(t, err)

	// Magic links: per-address limit on requests.
	links, err := authn.NewMagicLinks(s, authn.WithClock(clock), authn.WithThrottleLimits(lim))
	require.NoError(t, err)
	for i := range 2 {
		_, err := links.Issue(ctx, authn.MagicLinkRequest{Email: fmt.Sprintf("u%d@example.com", i), Purpose: "login", Addr: "203.0.113.5"})
		require.NoError(t, err)
	}
	_, err = links.Issue(ctx, authn.MagicLinkRequest{Email: "u9@example.com", Purpose: "login", Addr: "203.0.113.5:1234"})
	require.ErrorAs(t, err, &te)
	require.False(t, errors.Is(err, authn.ErrRateLimited), "the address limit, not the email's")
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	_, err = links.Issue(ctx, authn.MagicLinkRequest{Email: "u9@example.com", Purpose: "login", Addr: "203.0.113.5"})
	require.NoError(t, err, "the window ended")
}
