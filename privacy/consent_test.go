package privacy_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/privacy"
)

// TestConsentWithdrawalStopsGateAtOnce grants, checks, withdraws and checks
// again with no delay, through the API and through the HTTP gate.
func TestConsentWithdrawalStopsGateAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now))
	require.NoError(t, m.Consent.RegisterPurpose(privacy.Purpose{Name: "analytics", Version: 1}))

	who := func(r *http.Request) (string, string, bool) {
		v := r.Header.Get("X-Visitor")
		return "org1", "visitor:" + v, v != ""
	}
	gate := privacy.NewConsentGate(m.Consent, who)
	h := gate.Handler()
	choose := func(visitor, choice string, hdr map[string]string) *httptest.ResponseRecorder {
		form := url.Values{"purpose": {"analytics"}, "choice": {choice}}
		r := httptest.NewRequest(http.MethodPost, "/consent", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if visitor != "" {
			r.Header.Set("X-Visitor", visitor)
		}
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	page := func(visitor string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if visitor != "" {
			r.Header.Set("X-Visitor", visitor)
		}
		return r
	}

	require.False(t, gate.Allowed(page("v1"), "analytics"), "no tracking before opt-in")
	require.False(t, gate.Allowed(page(""), "analytics"), "unknown visitor")
	require.Equal(t, http.StatusNoContent, choose("v1", "grant", nil).Code)
	require.True(t, gate.Allowed(page("v1"), "analytics"))
	require.False(t, gate.Allowed(page("v2"), "analytics"), "consent is per visitor")
	require.False(t, gate.Allowed(page("v1"), "marketing"), "unregistered purpose")

	require.Equal(t, http.StatusNoContent, choose("v1", "withdraw", nil).Code)
	require.False(t, gate.Allowed(page("v1"), "analytics"), "withdrawal takes effect at once")

	// Failure modes of the endpoint.
	require.Equal(t, http.StatusUnauthorized, choose("", "grant", nil).Code)
	require.Equal(t, http.StatusBadRequest, choose("v1", "maybe", nil).Code)
	w := choose("v1", "grant", map[string]string{"Sec-Fetch-Site": "cross-site"})
	require.Equal(t, http.StatusForbidden, w.Code)
	require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	require.False(t, gate.Allowed(page("v1"), "analytics"), "a cross-site grant is not recorded")
	// An older browser sends no Sec-Fetch-Site, but its Origin gives the
	// forged post away.
	w = choose("v1", "grant", map[string]string{"Origin": "https://evil.example"})
	require.Equal(t, http.StatusForbidden, w.Code)
	require.False(t, gate.Allowed(page("v1"), "analytics"), "a cross-origin grant is not recorded")
	r := httptest.NewRequest(http.MethodGet, "/consent", nil)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)

	hist, err := m.Consent.History(ctx, "org1", "visitor:v1")
	require.NoError(t, err)
	require.Len(t, hist, 2)
	require.True(t, hist[0].Granted)
	require.False(t, hist[1].Granted)
	require.Equal(t, "web", hist[1].Source)
}

// TestNewPolicyVersionRequiresFreshConsent raises the minimum version: earlier
// grants stop counting until the person consents again.
func TestNewPolicyVersionRequiresFreshConsent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newServices(t, privacy.NewMemoryStore())
	require.NoError(t, m.Consent.RegisterPurpose(privacy.Purpose{Name: "marketing", Version: 1}))
	c, err := m.Consent.Grant(ctx, "org1", "subject:u1", "marketing", "settings")
	require.NoError(t, err)
	require.Equal(t, 1, c.Version)
	ok, err := m.Consent.Allowed(ctx, "org1", "subject:u1", "marketing")
	require.NoError(t, err)
	require.True(t, ok)

	// A clarified text: version 2, old consent still valid.
	require.NoError(t, m.Consent.RegisterPurpose(privacy.Purpose{Name: "marketing", Version: 2, MinVersion: 1}))
	ok, _ = m.Consent.Allowed(ctx, "org1", "subject:u1", "marketing")
	require.True(t, ok)
	// A text that changes what people agree to: fresh consent required.
	require.NoError(t, m.Consent.RegisterPurpose(privacy.Purpose{Name: "marketing", Version: 3, MinVersion: 3}))
	ok, _ = m.Consent.Allowed(ctx, "org1", "subject:u1", "marketing")
	require.False(t, ok)
	c, err = m.Consent.Grant(ctx, "org1", "subject:u1", "marketing", "banner")
	require.NoError(t, err)
	require.Equal(t, 3, c.Version)
	ok, _ = m.Consent.Allowed(ctx, "org1", "subject:u1", "marketing")
	require.True(t, ok)

	require.ErrorIs(t, m.Consent.RegisterPurpose(privacy.Purpose{Name: "x", Version: 1, MinVersion: 2}), privacy.ErrInvalid)
	require.ErrorIs(t, m.Consent.RegisterPurpose(privacy.Purpose{Name: "", Version: 1}), privacy.ErrInvalid)
	_, err = m.Consent.Grant(ctx, "org1", "subject:u1", "unknown", "banner")
	require.ErrorIs(t, err, privacy.ErrInvalid)
	_, err = m.Consent.Withdraw(ctx, "org1", "", "marketing", "banner")
	require.ErrorIs(t, err, privacy.ErrInvalid)
	require.Len(t, m.Consent.Purposes(), 1)
}
