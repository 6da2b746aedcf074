package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type throttleEnv struct {
	store Store
	clock *fakeClock
	login *PasswordLogin
	links *MagicLinks
	hash  string
	rec   *memRecorder
}

func newThrottleEnv(t *testing.T, lim ThrottleLimits) *throttleEnv {
	t.Helper()
	e := &throttleEnv{store: NewMemoryStore(), clock: newFakeClock(), rec: &memRecorder{}}
	pw, err := NewPasswords(WithArgon2id(Argon2Params{MemoryKiB: 7 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
	require.NoError(t, err)
	e.hash, err = pw.Hash(context.Background(), "right")
	require.NoError(t, err)
	clock, limits, rec := WithClock(e.clock.Now), WithThrottleLimits(lim), WithRecorder(e.rec)
	e.login, err = NewPasswordLogin(pw, e.store, clock, limits, rec)
	require.NoError(t, err)
	e.links, err = NewMagicLinks(e.store, clock, limits, rec)
	require.NoError(t, err)
	return e
}

// limits returns DefaultThrottleLimits changed by set: WithThrottleLimits
// takes every field, and refuses a zero one.
func limits(set func(*ThrottleLimits)) ThrottleLimits {
	l := DefaultThrottleLimits()
	if set != nil {
		set(&l)
	}
	return l
}

func (e *throttleEnv) check(c Client, password string) error {
	_, err := e.login.Check(context.Background(), c, Account{Found: true, Org: "acme", PasswordHash: e.hash}, password)
	return err
}

type memRecorder struct {
	mu      sync.Mutex
	entries []string
	payload []map[string]any
}

func (r *memRecorder) Record(_ context.Context, org, actor, action, target string, payload map[string]any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, org+" "+actor+" "+action+" "+target)
	r.payload = append(r.payload, payload)
	return nil
}

// TestThrottleLockoutResistance is the attack the design must survive: an
// attacker who knows the victim's email sprays wrong passwords from many
// addresses until the account bucket is full. The victim still gets in
// from a device the host recognises and by magic link; the attacker's own
// address is stopped first, by the stricter pair bucket; and the account's
// budget is not refilled by the victim's own logins.
func TestThrottleLockoutResistance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newThrottleEnv(t, limits(func(l *ThrottleLimits) { l.Pair, l.Account, l.Address, l.Window = 3, 10, 100, 15*time.Minute }))
	victim := "victim@example.com"

	// One address: stopped by its pair bucket after 3, long before the account's 10.
	for range 3 {
		require.ErrorIs(t, e.check(Client{Login: victim, Addr: "203.0.113.1"}, "guess"), ErrPasswordMismatch)
	}
	require.ErrorIs(t, e.check(Client{Login: victim, Addr: "203.0.113.1"}, "guess"), ErrThrottled)
	require.NoError(t, e.check(Client{Login: victim, Addr: "192.0.2.50"}, "right"), "the pair limit did not touch the victim's own address")

	// Many addresses: the account bucket fills (3 + the victim's 1 + 6).
	for i := range 6 {
		require.ErrorIs(t, e.check(Client{Login: victim, Addr: fmt.Sprintf("198.51.100.%d", i)}, "guess"), ErrPasswordMismatch)
	}
	err := e.check(Client{Login: victim, Addr: "198.51.100.200"}, "guess")
	var te *ThrottledError
	require.ErrorAs(t, err, &te)
	require.Equal(t, 15*time.Minute, te.RetryAfter)
	require.ErrorIs(t, e.check(Client{Login: victim, Addr: "192.0.2.60"}, "right"), ErrThrottled,
		"a new device of the victim waits like everyone else")

	// A known device is not subject to the account bucket...
	require.NoError(t, e.check(Client{Login: victim, Addr: "192.0.2.50", KnownDevice: true}, "right"))
	// ...and that success does not refill the attacker's budget.
	require.ErrorIs(t, e.check(Client{Login: victim, Addr: "198.51.100.201"}, "guess"), ErrThrottled)
	// Sharing the victim's address (a NAT) and filling it does not lock
	// the victim's known device out either.
	for i := range 100 {
		_, _ = e.login.Check(ctx, Client{Login: fmt.Sprintf("spray%d@example.com", i), Addr: "192.0.2.50"},
			Account{}, "guess")
	}
	require.ErrorIs(t, e.check(Client{Login: "new@example.com", Addr: "192.0.2.50"}, "right"), ErrThrottled,
		"the address bucket is full")
	require.NoError(t, e.check(Client{Login: victim, Addr: "192.0.2.50", KnownDevice: true}, "right"))
	// A magic link is another way in, unaffected by password guessing.
	tok, err := e.links.Issue(ctx, MagicLinkRequest{Org: "acme", Email: victim, Purpose: "login", Addr: "192.0.2.60"})
	require.NoError(t, err)
	_, err = e.links.Consume(ctx, tok.Reveal(), "login")
	require.NoError(t, err)

	// The lock is a window, not a ban: it lifts by itself.
	e.clock.Advance(15 * time.Minute)
	require.NoError(t, e.check(Client{Login: victim, Addr: "192.0.2.60"}, "right"))
}

// TestThrottleUnknownAccountsAlike: an unknown login is throttled after the
// same number of attempts and answered the same as a known one.
func TestThrottleUnknownAccountsAlike(t *testing.T) {
	t.Parallel()
	e := newThrottleEnv(t, limits(func(l *ThrottleLimits) { l.Pair, l.Window = 2, time.Minute }))
	for _, acct := range []Account{{Found: true, Org: "acme", PasswordHash: e.hash}, {}} {
		c := Client{Login: fmt.Sprintf("%v@example.com", acct.Found), Addr: "192.0.2.1"}
		var errs []error
		for range 3 {
			_, err := e.login.Check(context.Background(), c, acct, "guess")
			errs = append(errs, err)
		}
		require.ErrorIs(t, errs[0], ErrPasswordMismatch)
		require.ErrorIs(t, errs[1], ErrPasswordMismatch)
		require.ErrorIs(t, errs[2], ErrThrottled)
		require.Equal(t, "authn: too many login attempts, retry after 60s", errs[2].Error())
	}
}

// TestThrottleAudited: the attempt that fills a bucket is audited once, in
// the account's organisation; refused attempts record nothing (an attacker
// cannot flood the log), nor do unknown accounts (no organisation).
func TestThrottleAudited(t *testing.T) {
	t.Parallel()
	e := newThrottleEnv(t, limits(func(l *ThrottleLimits) { l.Pair, l.Window = 2, time.Minute }))
	c := Client{Login: "ann@example.com", Addr: "2001:db8::1"}
	for range 5 {
		_ = e.check(c, "guess")
	}
	require.Len(t, e.rec.entries, 1)
	require.Equal(t, "acme system:authn/throttle "+ActionLoginThrottled+" throttle:password:pair:"+
		ThrottleLoginKey("ann@example.com")+":2001:db8::/64", e.rec.entries[0])
	require.Equal(t, map[string]any{"scope": "pair", "window_seconds": "60", "address": "2001:db8::/64"}, e.rec.payload[0])
	require.NotContains(t, e.rec.entries[0], "ann@example.com", "the login is hashed")
	require.Contains(t, AuditActions(), ActionLoginThrottled)

	for range 3 {
		_, _ = e.login.Check(context.Background(), Client{Login: "nobody@example.com", Addr: "2001:db8::2"}, Account{}, "guess")
	}
	require.Len(t, e.rec.entries, 1, "an unknown account has no organisation to record in")
}

// TestWriteThrottled: the HTTP answer to a throttled login.
func TestWriteThrottled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		wait  time.Duration
		after string
	}{{15 * time.Minute, "900"}, {1500 * time.Millisecond, "2"}, {time.Millisecond, "1"}} {
		w := httptest.NewRecorder()
		err := fmt.Errorf("login: %w", &ThrottledError{RetryAfter: tc.wait})
		require.True(t, WriteThrottled(w, err))
		require.Equal(t, http.StatusTooManyRequests, w.Code)
		require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
		require.Equal(t, tc.after, w.Header().Get("Retry-After"))
		var body map[string]any
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
		require.EqualValues(t, 429, body["status"])
	}
	w := httptest.NewRecorder()
	require.False(t, WriteThrottled(w, ErrPasswordMismatch))
	require.False(t, WriteThrottled(w, nil))
	require.Zero(t, w.Body.Len(), "nothing written for other errors")
}

func TestThrottleAddressKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.7":                  "192.0.2.7/32",
		"192.0.2.7:8443":             "192.0.2.7/32",
		"::ffff:192.0.2.7":           "192.0.2.7/32",
		"2001:db8:1:2:3:4:5:6":       "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"fe80::1%eth0":               "fe80::/64",
	} {
		got, err := throttleAddressKey(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "localhost", "192.0.2.300", "2001:db8::/64", "\xff"} {
		_, err := throttleAddressKey(bad)
		require.ErrorIs(t, err, ErrInvalidArgument, bad)
	}
	e := newThrottleEnv(t, DefaultThrottleLimits())
	require.ErrorIs(t, e.check(Client{Login: "", Addr: "192.0.2.1"}, "pw"), ErrInvalidArgument, "the login is required")
	require.ErrorIs(t, e.check(Client{Login: "a@example.com", Addr: "not an ip"}, "pw"), ErrInvalidArgument)
	require.True(t, errors.Is(&ThrottledError{}, ErrThrottled))
}

type failingRecorder struct{ err error }

func (f failingRecorder) Record(context.Context, string, string, string, string, map[string]any) error {
	return f.err
}

// TestThrottleAuditFailureFailsTheAttempt: a bucket filled while the audit
// log is unreachable fails the attempt with the recorder's error, and
// magic-link buckets are audited under their own scope.
func TestThrottleAuditFailureFailsTheAttempt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newThrottleEnv(t, limits(func(l *ThrottleLimits) { l.Pair, l.MagicLinkAddress, l.Window = 1, 1, time.Minute }))
	_, err := e.links.Issue(ctx, MagicLinkRequest{Org: "acme", Email: "a@example.com", Purpose: "login", Addr: "192.0.2.9"})
	require.NoError(t, err)
	require.Len(t, e.rec.entries, 1)
	require.Equal(t, "magic_link_address", e.rec.payload[0]["scope"])

	down := errors.New("audit log down")
	pw, err := NewPasswords(WithArgon2id(Argon2Params{MemoryKiB: 7 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
	require.NoError(t, err)
	login, err := NewPasswordLogin(pw, e.store, WithThrottleLimits(limits(func(l *ThrottleLimits) { l.Pair = 1 })), WithRecorder(failingRecorder{down}))
	require.NoError(t, err)
	_, err = login.Check(ctx, Client{Login: "b@example.com", Addr: "192.0.2.9"}, Account{Found: true, Org: "acme", PasswordHash: e.hash}, "right")
	require.ErrorIs(t, err, down)
	require.False(t, errors.Is(err, ErrPasswordMismatch))
}

// FuzzThrottleAddressKey: a client address from a request never panics the
// parser, and what it accepts becomes a /32 or /64 prefix.
func FuzzThrottleAddressKey(f *testing.F) {
	for _, s := range []string{"192.0.2.7", "[2001:db8::1]:443", "::ffff:10.0.0.1", "fe80::1%eth0", "", "1.2.3.4:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := throttleAddressKey(s)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidArgument)
			return
		}
		p, err := netip.ParsePrefix(k)
		require.NoError(t, err, k)
		require.True(t, p.Bits() == 32 && p.Addr().Is4() || p.Bits() == 64 && p.Addr().Is6(), k)
		require.Equal(t, p.Masked(), p)
	})
}
