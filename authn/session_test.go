package authn

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func newTestSessions(t *testing.T, opts ...SessionsOption) (*Sessions, Store) {
	t.Helper()
	store := NewMemoryStore()
	s, err := NewSessions(store, opts...)
	require.NoError(t, err)
	return s, store
}

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	s, store := newTestSessions(t, WithClock(clock.Now))
	tok, sess, err := s.Create(ctx, NewSession{Org: "o", UserID: "u1", Method: "password", IP: "192.0.2.1", UserAgent: "curl/8"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(tok.Reveal(), "ses_"))
	require.True(t, strings.HasPrefix(sess.ID, "sid_"))
	require.NotContains(t, sess.ID, tok.Reveal()[4:])

	got, err := s.Lookup(ctx, tok.Reveal())
	require.NoError(t, err)
	require.Equal(t, sess, got)

	// Stored hashed.
	rec, err := store.SessionByID(ctx, sess.ID)
	require.NoError(t, err)
	require.Len(t, rec.TokenHash, 32)
	require.NotContains(t, string(rec.TokenHash), tok.Reveal()[4:])

	require.NoError(t, s.MarkMFAVerified(ctx, sess.ID, clock.Now()))
	got, err = s.Lookup(ctx, tok.Reveal())
	require.NoError(t, err)
	require.Equal(t, clock.Now(), got.MFAVerifiedAt)
	require.ErrorIs(t, s.MarkMFAVerified(ctx, "sid_nope", clock.Now()), ErrSessionInvalid)
}

func TestSessionTimeouts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	s, _ := newTestSessions(t, WithClock(clock.Now), WithSessionTimeouts(30*time.Minute, 2*time.Hour))

	// Idle timeout.
	tok, _, err := s.Create(ctx, NewSession{UserID: "u"})
	require.NoError(t, err)
	clock.Advance(29 * time.Minute)
	_, err = s.Lookup(ctx, tok.Reveal())
	require.NoError(t, err)
	clock.Advance(29 * time.Minute)
	_, err = s.Lookup(ctx, tok.Reveal())
	require.NoError(t, err, "activity extends the idle window")
	clock.Advance(30 * time.Minute)
	_, err = s.Lookup(ctx, tok.Reveal())
	require.ErrorIs(t, err, ErrSessionExpired)
	_, err = s.Lookup(ctx, tok.Reveal())
	require.ErrorIs(t, err, ErrSessionInvalid, "deleted on expiry")

	// Absolute timeout despite activity.
	tok, _, err = s.Create(ctx, NewSession{UserID: "u"})
	require.NoError(t, err)
	for range 7 {
		clock.Advance(17 * time.Minute)
		_, err = s.Lookup(ctx, tok.Reveal())
		require.NoError(t, err)
	}
	clock.Advance(17 * time.Minute) // 2h01m after creation
	_, err = s.Lookup(ctx, tok.Reveal())
	require.ErrorIs(t, err, ErrSessionExpired)
}

func TestSessionRotateAndLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestSessions(t)
	tok, sess, err := s.Create(ctx, NewSession{UserID: "u", Org: "o"})
	require.NoError(t, err)
	tok2, sess2, err := s.Rotate(ctx, tok.Reveal())
	require.NoError(t, err)
	require.Equal(t, sess.ID, sess2.ID)
	require.NotEqual(t, tok.Reveal(), tok2.Reveal())
	_, err = s.Lookup(ctx, tok.Reveal())
	require.ErrorIs(t, err, ErrSessionInvalid, "old token dead after privilege change")
	_, err = s.Lookup(ctx, tok2.Reveal())
	require.NoError(t, err)

	// Two concurrent rotations of one token: exactly one wins.
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, _, err := s.Rotate(ctx, tok2.Reveal()); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, ErrSessionInvalid) {
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(1), wins.Load())

	// Login replaces a pre-authentication session (no fixation).
	anon, _, err := s.Create(ctx, NewSession{UserID: "anonymous"})
	require.NoError(t, err)
	fresh, _, err := s.Login(ctx, anon.Reveal(), NewSession{UserID: "u", Method: "password"})
	require.NoError(t, err)
	require.NotEqual(t, anon.Reveal(), fresh.Reveal())
	_, err = s.Lookup(ctx, anon.Reveal())
	require.ErrorIs(t, err, ErrSessionInvalid)
	_, _, err = s.Login(ctx, "garbage", NewSession{UserID: "u"})
	require.NoError(t, err)
}

func TestSessionListAndRevoke(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	s, _ := newTestSessions(t, WithClock(clock.Now))
	var toks []SessionToken
	var ids []string
	for i := range 3 {
		tok, sess, err := s.Create(ctx, NewSession{Org: "o", UserID: "u", IP: "192.0.2." + string(rune('1'+i))})
		require.NoError(t, err)
		toks, ids = append(toks, tok), append(ids, sess.ID)
		clock.Advance(time.Second)
	}
	other, otherSess, err := s.Create(ctx, NewSession{Org: "o", UserID: "v"})
	require.NoError(t, err)

	list, next, err := s.List(ctx, "o", "u", "", 0)
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Equal(t, ids[0], list[0].ID)
	require.Empty(t, next)
	// A page at a time: two, then the third after the cursor.
	page, next, err := s.List(ctx, "o", "u", "", 2)
	require.NoError(t, err)
	require.Equal(t, []string{ids[0], ids[1]}, []string{page[0].ID, page[1].ID})
	require.NotEmpty(t, next)
	page, next, err = s.List(ctx, "o", "u", next, 2)
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, ids[2], page[0].ID)
	require.Empty(t, next)
	_, _, err = s.List(ctx, "o", "u", "", MaxListLimit+1)
	require.ErrorIs(t, err, ErrInvalidArgument)

	// A user cannot revoke another user's session.
	require.ErrorIs(t, s.Revoke(ctx, "o", "u", otherSess.ID), ErrNotFound)
	// Nor can another organisation revoke or list it, knowing the user ID.
	require.ErrorIs(t, s.Revoke(ctx, "p", "u", ids[0]), ErrNotFound)
	foreign, _, err := s.List(ctx, "p", "u", "", 0)
	require.NoError(t, err)
	require.Empty(t, foreign)
	require.NoError(t, s.Revoke(ctx, "o", "u", ids[0]))
	_, err = s.Lookup(ctx, toks[0].Reveal())
	require.ErrorIs(t, err, ErrSessionInvalid, "revoked session")

	n, err := s.RevokeOthers(ctx, "o", "u", ids[2])
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = s.Lookup(ctx, toks[1].Reveal())
	require.ErrorIs(t, err, ErrSessionInvalid)
	_, err = s.Lookup(ctx, toks[2].Reveal())
	require.NoError(t, err)

	n, err = s.RevokeAll(ctx, "o", "u")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = s.Lookup(ctx, toks[2].Reveal())
	require.ErrorIs(t, err, ErrSessionInvalid)
	_, err = s.Lookup(ctx, other.Reveal())
	require.NoError(t, err, "other users untouched")
}

func TestSessionMalformedNeverReachesStore(t *testing.T) {
	t.Parallel()
	s, err := NewSessions(failingStore{t: t})
	require.NoError(t, err)
	for _, tok := range []string{"", "ses_", "ml_" + strings.Repeat("A", 43), "ses_" + strings.Repeat("A", 42) + "!"} {
		_, err := s.Lookup(context.Background(), tok)
		require.ErrorIs(t, err, ErrMalformedToken)
	}
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	s, _ := newTestSessions(t)
	tok, sess, err := s.Create(context.Background(), NewSession{UserID: "u"})
	require.NoError(t, err)
	c := s.Cookie(tok, sess)
	require.Equal(t, "__Host-session", c.Name)
	require.True(t, c.Secure)
	require.True(t, c.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, c.SameSite)
	require.Equal(t, "/", c.Path)
	require.Empty(t, c.Domain)
	require.NoError(t, c.Valid())
	line := c.String()
	for _, want := range []string{"__Host-session=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		require.Contains(t, line, want)
	}
	require.Equal(t, -1, ClearCookie().MaxAge)
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := NewMemoryStore()
	sessions, err := NewSessions(store)
	require.NoError(t, err)
	keys := newTestKeys(t, store)
	stok, sess, err := sessions.Create(ctx, NewSession{Org: "o", UserID: "u1", Method: "password"})
	require.NoError(t, err)
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	require.NoError(t, sessions.MarkMFAVerified(ctx, sess.ID, at))
	raw, key, err := keys.Create(ctx, NewAPIKey{Org: "o", Owner: "u2", Scopes: []string{"reports.read"}})
	require.NoError(t, err)
	revoked, revokedKey, err := keys.Create(ctx, NewAPIKey{Org: "o", Owner: "u2"})
	require.NoError(t, err)
	require.NoError(t, keys.Revoke(ctx, "o", revokedKey.ID))

	h := Middleware(sessions, keys)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := IdentityFrom(r.Context())
		if !ok {
			_, _ = w.Write([]byte("anonymous"))
			return
		}
		sid, mfaAt, sok := SessionMFA(r)
		_, _ = w.Write([]byte(id.Method + "|" + id.UserID + "|" + id.KeyID + "|" + id.Org + "|" + strings.Join(id.Scopes, ",") +
			"|" + id.SessionID + "|" + id.MFAVerifiedAt.Format(time.RFC3339) + "|" + sid + "|" + mfaAt.Format(time.RFC3339) + "|" + map[bool]string{true: "y", false: "n"}[sok]))
	}))
	do := func(mut func(*http.Request)) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/", nil)
		mut(r)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	w := do(func(r *http.Request) { r.AddCookie(sessions.Cookie(stok, sess)) })
	require.Equal(t, 200, w.Code)
	require.Equal(t, "session|u1||o||"+sess.ID+"|2026-01-05T09:00:00Z|"+sess.ID+"|2026-01-05T09:00:00Z|y", w.Body.String())

	w = do(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+raw.Reveal()) })
	require.Equal(t, 200, w.Code)
	require.Equal(t, "api_key|u2|"+key.ID+"|o|reports.read||0001-01-01T00:00:00Z||0001-01-01T00:00:00Z|n", w.Body.String())

	for name, mut := range map[string]func(*http.Request){
		"revoked key":   func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+revoked.Reveal()) },
		"malformed key": func(r *http.Request) { r.Header.Set("Authorization", "Bearer atl_live_nope") },
		"basic auth":    func(r *http.Request) { r.SetBasicAuth("a", "b") },
	} {
		w := do(mut)
		require.Equal(t, 401, w.Code, name)
		require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
		require.NotContains(t, w.Body.String(), revoked.Reveal())
		require.NotContains(t, w.Body.String(), "authn:", "no internals in the body")
	}

	w = do(func(r *http.Request) { r.AddCookie(&http.Cookie{Name: CookieName, Value: "ses_bogus"}) })
	require.Equal(t, 200, w.Code)
	require.Equal(t, "anonymous", w.Body.String())
	require.Contains(t, w.Header().Get("Set-Cookie"), "Max-Age=0")

	// A revoked session is anonymous.
	require.NoError(t, sessions.Revoke(ctx, "o", "u1", sess.ID))
	w = do(func(r *http.Request) { r.AddCookie(sessions.Cookie(stok, sess)) })
	require.Equal(t, "anonymous", w.Body.String())

	w = do(func(*http.Request) {})
	require.Equal(t, "anonymous", w.Body.String())
}

func TestPasswordLoginSSOPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := Client{Login: "ann@example.com", Addr: "192.0.2.1"}
	var obs counter
	pw, err := NewPasswords(withHashObserver(obs.observe))
	require.NoError(t, err)
	store := NewMemoryStore()
	login, err := NewPasswordLogin(pw, store)
	require.NoError(t, err)
	hash, err := pw.Hash(ctx, "pw")
	require.NoError(t, err)

	_, err = login.Check(ctx, cli, Account{Found: true, Org: "acme", PasswordHash: hash}, "pw")
	require.NoError(t, err)
	require.NoError(t, RequireSSO(ctx, store, "acme", true))
	_, err = login.Check(ctx, cli, Account{Found: true, Org: "acme", PasswordHash: hash}, "pw")
	require.ErrorIs(t, err, ErrPasswordLoginDisabled, "right password, SSO required")
	_, err = login.Check(ctx, cli, Account{Found: true, Org: "other", PasswordHash: hash}, "pw")
	require.NoError(t, err, "other organisations unaffected")
	require.NoError(t, RequireSSO(ctx, store, "acme", false))
	_, err = login.Check(ctx, cli, Account{Found: true, Org: "acme", PasswordHash: hash}, "pw")
	require.NoError(t, err)

	before := obs.argon.Load()
	_, err = login.Check(ctx, cli, Account{}, "pw")
	require.ErrorIs(t, err, ErrPasswordMismatch)
	_, err = login.Check(ctx, cli, Account{Found: true, Org: "acme", PasswordHash: hash}, "wrong")
	require.ErrorIs(t, err, ErrPasswordMismatch)
	require.Equal(t, before+2, obs.argon.Load(), "unknown user and wrong password both hash once")

	// Unknown and known users cost the same store round trips too.
	policies := &countingPolicies{Store: store}
	login, err = NewPasswordLogin(pw, policies)
	require.NoError(t, err)
	for _, acct := range []Account{{}, {Found: true, Org: "acme", PasswordHash: hash}, {Found: true, PasswordHash: hash}} {
		before := policies.reads.Load()
		_, _ = login.Check(ctx, cli, acct, "wrong")
		require.Equal(t, before+1, policies.reads.Load(), "%+v", acct)
	}
}

type countingPolicies struct {
	Store
	reads atomic.Int64
}

func (c *countingPolicies) OrgPolicy(ctx context.Context, org string) (OrgPolicy, error) {
	c.reads.Add(1)
	return c.Store.OrgPolicy(ctx, org)
}

func TestSessionShortIdleStillTouched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	s, _ := newTestSessions(t, WithClock(clock.Now), WithSessionTimeouts(time.Minute, time.Hour), WithLastUsedInterval(10*time.Minute))
	tok, _, err := s.Create(ctx, NewSession{UserID: "u"})
	require.NoError(t, err)
	for range 10 {
		clock.Advance(40 * time.Second)
		_, err := s.Lookup(ctx, tok.Reveal())
		require.NoError(t, err, "an active session never idles out, whatever the write interval")
	}
	_, err = NewSessions(NewMemoryStore(), WithSessionTimeouts(time.Hour, time.Minute))
	require.Error(t, err)
}
