package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/privacy"
)

// startApp serves a fresh app over TLS and signs Ada up as the owner of Acme.
func startApp(t *testing.T, databaseURL string) (*app, *httptest.Server, *clock, *client, string) {
	t.Helper()
	clk := newClock()
	a, err := newApp(context.Background(), config{DatabaseURL: databaseURL, AppDatabaseURL: appURL(t, databaseURL), Now: clk.Now, Warn: io.Discard, KeysFile: testKeysFile(t, databaseURL),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	ts := httptest.NewTLSServer(a)
	t.Cleanup(ts.Close)
	ada := newClient(t, ts, clk)
	org := ada.call("POST", "/signup", map[string]string{"organisation": "Acme", "name": "Ada Lovelace",
		"email": "ada@example.com", "password": "correct horse battery staple"}, http.StatusOK)["org"].(string)
	return a, ts, clk, ada, org
}

// Demoting a member shrinks their API keys at the next request: a key is
// its scopes intersected with the owner's CURRENT role.
func TestDemotionShrinksAPIKeys(t *testing.T) {
	_, ts, clk, ada, org := startApp(t, "")
	bobID := ada.call("POST", "/orgs/"+org+"/members", map[string]string{"name": "Bob", "email": "bob@example.com",
		"role": "admin", "password": "bob's long passphrase"}, http.StatusCreated)["id"].(string)
	bob := newClient(t, ts, clk)
	bob.call("POST", "/login", map[string]string{"email": "bob@example.com", "password": "bob's long passphrase"}, http.StatusOK)
	robot := newClient(t, ts, clk)
	robot.bearer = bob.call("POST", "/orgs/"+org+"/api-keys", map[string]any{"scopes": []string{"audit.view"}},
		http.StatusCreated)["key"].(string)
	robot.call("GET", "/orgs/"+org+"/audit", nil, http.StatusOK)

	// An admin cannot promote themselves to owner (admins.manage is the owner's).
	bob.call("PUT", "/orgs/"+org+"/members/"+bobID+"/role", map[string]string{"role": "owner"}, http.StatusForbidden)
	ada.call("PUT", "/orgs/"+org+"/members/"+bobID+"/role", map[string]string{"role": "support"}, http.StatusNoContent)
	robot.call("GET", "/orgs/"+org+"/audit", nil, http.StatusForbidden)
	bob.call("GET", "/orgs/"+org+"/audit", nil, http.StatusForbidden)
	bob.call("GET", "/orgs/"+org+"/members", nil, http.StatusOK)
}

// A key cannot answer an MFA challenge, so it never passes step-up, even
// with the permission in its scopes.
func TestStepUpRefusesAPIKeys(t *testing.T) {
	_, ts, clk, ada, org := startApp(t, "")
	key := ada.call("POST", "/orgs/"+org+"/api-keys", map[string]any{"scopes": []string{"payouts.approve", "tax.view"}},
		http.StatusCreated)["key"].(string)
	robot := newClient(t, ts, clk)
	robot.bearer = key
	p := robot.call("GET", "/orgs/"+org+"/tax/export", nil, http.StatusUnauthorized)
	require.Equal(t, "about:blank", p["type"], "no session at all: plain 401")
	robot.call("POST", "/orgs/"+org+"/me/mfa/challenge", map[string]string{"code": "000000"}, http.StatusForbidden)
}

// A TOTP code opens one login; replayed, even within its 30 seconds, it is
// refused.
func TestLoginCodeReplayRefused(t *testing.T) {
	_, ts, clk, ada, org := startApp(t, "")
	ada.enrolMFA(org)
	clk.Advance(time.Minute)
	login := map[string]string{"email": "ada@example.com", "password": "correct horse battery staple", "code": ada.code()}
	ada.call("POST", "/login", login, http.StatusOK)
	thief := newClient(t, ts, clk)
	thief.call("POST", "/login", login, http.StatusUnauthorized)
}

// Someone with SQL access copies a tax ID ciphertext into the name column:
// it does not open there, and the keyring guardrail, reading every stored
// key ID, turns the compliance report red.
func TestGuardrailCatchesMovedCiphertext(t *testing.T) {
	db := pgtest.New(t)
	a, _, _, ada, org := startApp(t, db.URL)
	ada.call("PUT", "/orgs/"+org+"/me/tax-id", map[string]string{"tax_id": "123-45-6789"}, http.StatusNoContent)
	require.NoError(t, a.checkKeyring(context.Background()))

	_, err := db.Pool.Exec(context.Background(), `UPDATE app_users SET name = tax_id`)
	require.NoError(t, err)
	require.Empty(t, ada.call("GET", "/orgs/"+org+"/me", nil, http.StatusOK)["name"], "the moved value does not decrypt")
	require.ErrorContains(t, a.checkKeyring(context.Background()), "findings")
	status, _, _ := ada.do("GET", "/orgs/"+org+"/compliance/report", nil)
	require.Equal(t, http.StatusConflict, status)
}

// A page on another site cannot make a signed-in browser act: cross-origin
// state changes are refused before authentication runs.
func TestCrossSiteRequestRefused(t *testing.T) {
	_, ts, _, ada, org := startApp(t, "")
	req, err := http.NewRequest("POST", ts.URL+"/orgs/"+org+"/api-keys", strings.NewReader(`{"scopes":["payouts.view"]}`))
	require.NoError(t, err)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := ada.http.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
}

// Deleting one's own account is an erasure request: it needs a fresh MFA
// verification, is answered at once (within the legal deadline) and shows in
// the subject's record; the session ends.
func TestSelfServiceDeletionIsAnErasureRequest(t *testing.T) {
	a, ts, clk, ada, org := startApp(t, "")
	dave := newClient(t, ts, clk)
	daveID := ada.call("POST", "/orgs/"+org+"/members", map[string]string{"name": "Dave", "email": "dave@example.com",
		"role": "viewer", "password": "dave's long passphrase"}, http.StatusCreated)["id"].(string)
	dave.call("POST", "/login", map[string]string{"email": "dave@example.com", "password": "dave's long passphrase"}, http.StatusOK)
	clk.Advance(time.Minute)
	dave.call("DELETE", "/orgs/"+org+"/me", nil, http.StatusUnauthorized) // no MFA yet
	dave.enrolMFA(org)
	dave.call("DELETE", "/orgs/"+org+"/me", nil, http.StatusAccepted)
	dave.call("GET", "/orgs/"+org+"/me", nil, http.StatusUnauthorized)

	reqs, err := a.requests.List(context.Background(), privacy.Ref{Org: org, ID: daveID})
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	require.Equal(t, privacy.KindErasure, reqs[0].Kind)
	require.Equal(t, privacy.RequestCompleted, reqs[0].Status)
}
