package mfa_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/mfa"
)

// sessions plays authn's session manager.
type sessions struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (s *sessions) MarkMFAVerified(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at[id] = at
	return nil
}

func (s *sessions) fresh(r *http.Request) (string, time.Time, bool) {
	id := r.Header.Get("X-Session")
	if id == "" {
		return "", time.Time{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return id, s.at[id], true
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("payout sent")) })

func call(h http.Handler, session string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/payouts", nil)
	if session != "" {
		req.Header.Set("X-Session", session)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	MaxAge int64  `json:"max_age_seconds"`
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) problemBody {
	t.Helper()
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	var p problemBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	require.Equal(t, http.StatusUnauthorized, p.Status)
	require.NotEmpty(t, p.Title)
	return p
}

func TestStaleSessionOnSensitiveRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.enrol(t)
	s := &sessions{at: map[string]time.Time{"s1": h.clock.Now().Add(-16 * time.Minute), "s2": h.clock.Now().Add(time.Hour)}}
	stepUp, err := mfa.RequireRecent(15*time.Minute, s.fresh, mfa.WithClock(h.clock.Now))
	require.NoError(t, err)
	guarded := stepUp(okHandler)

	for _, session := range []string{"s1", "s2", "never-verified"} {
		p := decodeProblem(t, call(guarded, session))
		require.Equal(t, mfa.ProblemStepUpRequired, p.Type, session)
		require.Equal(t, int64(900), p.MaxAge)
	}
	p := decodeProblem(t, call(guarded, ""))
	require.Equal(t, "about:blank", p.Type, "no session is not a step-up")

	// A wrong code does not refresh the session.
	h.clock.Advance(time.Minute)
	require.ErrorIs(t, h.m.Challenge(ctx, h.acct, "12345x", s, "s1"), mfa.ErrInvalidCode)
	require.Equal(t, mfa.ProblemStepUpRequired, decodeProblem(t, call(guarded, "s1")).Type)

	require.NoError(t, h.m.Challenge(ctx, h.acct, h.code(t, 0), s, "s1"))
	rec := call(guarded, "s1")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "payout sent", rec.Body.String())

	h.clock.Advance(15*time.Minute + time.Second)
	require.Equal(t, mfa.ProblemStepUpRequired, decodeProblem(t, call(guarded, "s1")).Type, "freshness expires")
	require.ErrorIs(t, h.m.Challenge(ctx, h.acct, h.code(t, 0), nil, "s1"), mfa.ErrInvalidConfig)
}

// TestRequireRecentSynctest runs the middleware on its default clock inside
// a synctest bubble, where time.Now is fake and sleeping is instant.
func TestRequireRecentSynctest(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := &sessions{at: map[string]time.Time{}}
		stepUp, err := mfa.RequireRecent(15*time.Minute, s.fresh)
		require.NoError(t, err)
		guarded := stepUp(okHandler)
		require.NoError(t, s.MarkMFAVerified(context.Background(), "s1", time.Now()))
		require.Equal(t, http.StatusOK, call(guarded, "s1").Code)
		time.Sleep(15 * time.Minute)
		require.Equal(t, http.StatusOK, call(guarded, "s1").Code, "exactly maxAge is still fresh")
		time.Sleep(time.Second)
		require.Equal(t, mfa.ProblemStepUpRequired, decodeProblem(t, call(guarded, "s1")).Type)
	})
}

func TestRequireRecentRefusesMisuse(t *testing.T) {
	t.Parallel()
	none := func(*http.Request) (string, time.Time, bool) { return "", time.Time{}, false }
	for name, tc := range map[string]struct {
		maxAge time.Duration
		fresh  func(*http.Request) (string, time.Time, bool)
		opts   []mfa.RequireRecentOption
	}{
		"zero maxAge":     {0, none, nil},
		"negative maxAge": {-time.Minute, none, nil},
		"maxAge two days": {48 * time.Hour, none, nil},
		"nil fresh":       {time.Minute, nil, nil},
		"nil clock":       {time.Minute, none, []mfa.RequireRecentOption{mfa.WithClock(nil)}},
		"nil option":      {time.Minute, none, []mfa.RequireRecentOption{nil}},
	} {
		mw, err := mfa.RequireRecent(tc.maxAge, tc.fresh, tc.opts...)
		require.ErrorIs(t, err, mfa.ErrInvalidConfig, name)
		require.Nil(t, mw, name)
	}
	_, err := mfa.RequireRecent(24*time.Hour, none)
	require.NoError(t, err, "the bound itself is accepted")
}
