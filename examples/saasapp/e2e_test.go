package main

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/internal/testclock"
	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/privacy"
)

// clock is the test's time: every package reads it, the test advances it.
type clock = testclock.Clock

// newClock starts at the real time: the cookie jar judges cookie expiry by
// the real clock, so the story must not start in the past.
func newClock() *clock { return testclock.New(time.Now().UTC().Truncate(time.Second)) }

// client is one person's browser (a cookie jar) or an API client (a bearer key).
type client struct {
	t      *testing.T
	http   *http.Client
	base   string
	bearer string
	totp   []byte // the authenticator app's secret, once enrolled
	clock  *clock
}

func newClient(t *testing.T, ts *httptest.Server, c *clock) *client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &client{t: t, http: &http.Client{Transport: ts.Client().Transport, Jar: jar}, base: ts.URL, clock: c}
}

func (c *client) do(method, path string, body any) (int, []byte, http.Header) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(c.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	require.NoError(c.t, err)
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	res, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	return res.StatusCode, out, res.Header
}

// call expects status want and decodes a JSON object answer.
func (c *client) call(method, path string, body any, want int) map[string]any {
	c.t.Helper()
	status, out, _ := c.do(method, path, body)
	require.Equal(c.t, want, status, "%s %s: %s", method, path, out)
	var m map[string]any
	if len(out) > 0 && (out[0] == '{') {
		require.NoError(c.t, json.Unmarshal(out, &m))
	}
	return m
}

// code is what the user's authenticator app shows now. Each code is
// accepted once, so callers advance the clock between two codes.
func (c *client) code() string {
	c.t.Helper()
	code, err := mfa.TOTP(c.totp, c.clock.Now(), mfa.SHA1, 6)
	require.NoError(c.t, err)
	return code
}

// enrolMFA runs the enrolment flow over HTTP.
func (c *client) enrolMFA(org string) {
	c.t.Helper()
	setup := c.call("POST", "/orgs/"+org+"/me/mfa/enroll", nil, http.StatusOK)
	require.Contains(c.t, setup["otpauth_uri"], "otpauth://totp/")
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(setup["secret"].(string))
	require.NoError(c.t, err)
	c.totp = secret
	codes := c.call("POST", "/orgs/"+org+"/me/mfa/confirm", map[string]string{"code": c.code()}, http.StatusOK)
	require.Len(c.t, codes["recovery_codes"], mfa.RecoveryCodeCount)
}

func TestEndToEnd(t *testing.T) {
	backends := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"memory", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return pgtest.New(t).URL }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			story(t, b.url(t))
		})
	}
}

func story(t *testing.T, databaseURL string) {
	ctx := context.Background()
	clk := newClock()
	a, err := newApp(ctx, config{DatabaseURL: databaseURL, AppDatabaseURL: appURL(t, databaseURL), Now: clk.Now, Warn: io.Discard, KeysFile: testKeysFile(t, databaseURL),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	ts := httptest.NewTLSServer(a) // TLS: the session cookie is Secure
	t.Cleanup(ts.Close)

	// Sign-up: Ada creates Acme and is its owner. As an owner she must use
	// MFA, so she enrols at once.
	ada := newClient(t, ts, clk)
	signup := ada.call("POST", "/signup", map[string]string{"organisation": "Acme", "name": "Ada Lovelace",
		"email": "ada@example.com", "password": "correct horse battery staple"}, http.StatusOK)
	acme := signup["org"].(string)
	require.Equal(t, true, signup["mfa_required"])
	ada.enrolMFA(acme)

	// Ada invites Bob, a financial admin, who logs in and enrols too.
	ada.call("POST", "/orgs/"+acme+"/members", map[string]string{"name": "Bob", "email": "bob@example.com",
		"role": "financial_admin", "password": "bob's long passphrase"}, http.StatusCreated)
	bob := newClient(t, ts, clk)
	bob.call("POST", "/login", map[string]string{"email": "BOB@example.com", "password": "bob's long passphrase"}, http.StatusOK)
	bob.enrolMFA(acme)

	// A payout needs step-up: Bob requests it, Ada approves it, but her
	// last MFA verification is 20 minutes old.
	po := bob.call("POST", "/orgs/"+acme+"/payouts", map[string]any{"amount_cents": 125000, "currency": "EUR",
		"bank_account": "DE89370400440532013000"}, http.StatusCreated)
	require.Equal(t, "••••3000", po["account"], "the bank account never leaves in full")
	approve := "/orgs/" + acme + "/payouts/" + po["id"].(string) + "/approve"
	bob.call("POST", approve, nil, http.StatusForbidden) // four eyes: not his own
	clk.Advance(20 * time.Minute)
	stale := ada.call("POST", approve, nil, http.StatusUnauthorized)
	require.Equal(t, mfa.ProblemStepUpRequired, stale["type"])
	ada.call("POST", "/orgs/"+acme+"/me/mfa/challenge", map[string]string{"code": ada.code()}, http.StatusNoContent)
	require.Equal(t, "approved", ada.call("POST", approve, nil, http.StatusOK)["status"])

	// Cross-tenant: Eve owns another organisation and tries Acme's data.
	eve := newClient(t, ts, clk)
	evil := eve.call("POST", "/signup", map[string]string{"organisation": "Evil", "name": "Eve",
		"email": "eve@example.com", "password": "eve's long passphrase"}, http.StatusOK)["org"].(string)
	for _, path := range []string{"/orgs/" + acme + "/payouts", "/orgs/" + acme + "/members", "/orgs/" + acme + "/audit"} {
		denied := eve.call("GET", path, nil, http.StatusForbidden)
		require.Equal(t, "urn:rampart:rbac:wrong-organisation", denied["type"])
	}
	eve.call("GET", "/orgs/"+evil+"/payouts", nil, http.StatusOK)

	// An API key with one narrow scope: allowed there, 403 elsewhere, even
	// though its owner (Ada) holds every permission.
	created := ada.call("POST", "/orgs/"+acme+"/api-keys", map[string]any{"name": "dashboard",
		"scopes": []string{"payouts.view"}}, http.StatusCreated)
	robot := newClient(t, ts, clk)
	robot.bearer = created["key"].(string)
	require.Len(t, robot.call("GET", "/orgs/"+acme+"/payouts", nil, http.StatusOK)["payouts"], 1)
	robot.call("POST", "/orgs/"+acme+"/payouts", map[string]any{"amount_cents": 1, "currency": "EUR", "bank_account": "DE00 0000"}, http.StatusForbidden)
	robot.call("GET", "/orgs/"+acme+"/members", nil, http.StatusForbidden)
	robot.call("GET", "/orgs/"+evil+"/payouts", nil, http.StatusForbidden)
	bob.call("POST", "/orgs/"+acme+"/api-keys", map[string]any{"scopes": []string{"payouts.view"}}, http.StatusForbidden) // not an admin

	// The tax export needs tax.view and a fresh step-up, which Ada has.
	ada.call("PUT", "/orgs/"+acme+"/me/tax-id", map[string]string{"tax_id": "123-45-6789"}, http.StatusNoContent)
	status, csv, _ := ada.do("GET", "/orgs/"+acme+"/tax/export", nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(csv), "Ada Lovelace,123-45-6789")

	// The other sealed columns: an OAuth token, a session payload and a
	// lead typed into the public form. None is ever answered in full.
	ada.call("POST", "/orgs/"+acme+"/integrations", map[string]string{"provider": "github", "access_token": "gho_secret_token_1234"}, http.StatusCreated)
	_, ints, _ := ada.do("GET", "/orgs/"+acme+"/integrations", nil)
	require.NotContains(t, string(ints), "gho_secret")
	ada.call("PUT", "/orgs/"+acme+"/me/session-data", map[string]string{"draft": "quarterly note"}, http.StatusNoContent)
	require.Equal(t, "quarterly note", ada.call("GET", "/orgs/"+acme+"/me/session-data", nil, http.StatusOK)["draft"])
	visitor := newClient(t, ts, clk)
	visitor.call("POST", "/orgs/"+acme+"/leads", map[string]string{"email": "lead@example.org", "message": "call me"}, http.StatusAccepted)
	require.Len(t, ada.call("GET", "/orgs/"+acme+"/leads", nil, http.StatusOK)["leads"], 1)

	// Carol, a viewer, keeps an address, consents to analytics, and
	// exports her data.
	carolID := ada.call("POST", "/orgs/"+acme+"/members", map[string]string{"name": "Carol", "email": "carol@example.com",
		"role": "viewer", "password": "carol's long passphrase"}, http.StatusCreated)["id"].(string)
	carol := newClient(t, ts, clk)
	carol.call("POST", "/login", map[string]string{"email": "carol@example.com", "password": "carol's long passphrase"}, http.StatusOK)
	carol.call("PUT", "/orgs/"+acme+"/me", map[string]string{"address": "1 Rue de la Paix, Paris"}, http.StatusNoContent)
	require.Equal(t, false, carol.call("POST", "/orgs/"+acme+"/me/events", map[string]string{"name": "dashboard.opened"}, http.StatusOK)["recorded"])
	carol.call("POST", "/orgs/"+acme+"/me/consent", map[string]any{"purpose": "analytics", "granted": true}, http.StatusOK)
	require.Equal(t, true, carol.call("POST", "/orgs/"+acme+"/me/events", map[string]string{"name": "dashboard.opened"}, http.StatusOK)["recorded"])
	carol.call("DELETE", "/orgs/"+acme+"/me", nil, http.StatusUnauthorized) // deleting oneself needs MFA too
	status, export, _ := carol.do("GET", "/orgs/"+acme+"/me/export", nil)
	require.Equal(t, http.StatusOK, status)
	info, err := privacy.ReadExport(bytes.NewReader(export))
	require.NoError(t, err, "the export's manifest checks out")
	require.Equal(t, carolID, info.SubjectID)
	require.Contains(t, string(export), "1 Rue de la Paix, Paris")
	require.Contains(t, string(export), "dashboard.opened")

	carolRow, err := a.store.User(ctx, acme, carolID)
	require.NoError(t, err)
	addressBackup := carolRow.Address // what a backup taken today holds

	// Ada removes Carol (step-up still fresh), restores her, removes her
	// again; Carol is logged out at once.
	member := "/orgs/" + acme + "/members/" + carolID
	ada.call("DELETE", member, nil, http.StatusAccepted)
	carol.call("GET", "/orgs/"+acme+"/me", nil, http.StatusUnauthorized)
	ada.call("POST", member+"/restore", nil, http.StatusOK)
	ada.call("DELETE", member, nil, http.StatusAccepted)

	// Through the cooldown: nothing is erased after 29 days...
	clk.Advance(29 * 24 * time.Hour)
	require.NoError(t, a.runJobs(ctx))
	sub, err := a.privacy.Status(ctx, privacy.Ref{Org: acme, ID: carolID})
	require.NoError(t, err)
	require.Equal(t, privacy.StateDeletionRequested, sub.State)
	// ...and everything is after 31.
	clk.Advance(2 * 24 * time.Hour)
	require.NoError(t, a.runJobs(ctx))
	sub, err = a.privacy.Status(ctx, privacy.Ref{Org: acme, ID: carolID})
	require.NoError(t, err)
	require.Equal(t, privacy.StateErased, sub.State)

	// Crypto-shredding: the address in the old backup no longer opens.
	_, err = a.keys.subjects.Open(ctx, carolID, addressLabel(carolID), addressBackup)
	require.ErrorIs(t, err, keyring.ErrKeyDestroyed)
	carolRow, err = a.store.User(ctx, acme, carolID)
	require.NoError(t, err)
	require.Nil(t, carolRow.Name)
	require.Nil(t, carolRow.Email)
	events, err := a.store.Events(ctx, acme, privacy.PseudonymOf(a.keys.pseudonym, carolID))
	require.NoError(t, err)
	require.Len(t, events, 1, "the analytics count survives under a pseudonym")

	// A month later every session has expired: Ada logs in with her code.
	ada.call("GET", "/orgs/"+acme+"/me", nil, http.StatusUnauthorized)
	login := map[string]string{"email": "ada@example.com", "password": "correct horse battery staple"}
	ada.call("POST", "/login", login, http.StatusUnauthorized) // code required
	login["code"] = ada.code()
	require.Equal(t, true, ada.call("POST", "/login", login, http.StatusOK)["mfa_verified"])
	ada.call("POST", member+"/restore", nil, http.StatusGone)
	members := ada.call("GET", "/orgs/"+acme+"/members", nil, http.StatusOK)["members"].([]any)
	require.Len(t, members, 3)

	// The audit chain verifies and holds every change, the erasure
	// included; Eve's denials are in her own organisation's chain.
	require.Equal(t, true, ada.call("GET", "/orgs/"+acme+"/audit/verify", nil, http.StatusOK)["ok"])
	actions := auditActions(t, ada, acme)
	for _, want := range []string{actOrgCreated, "mfa.enrolled", actMemberInvited, actPayoutCreated, actMFAStepUp,
		actPayoutApproved, actAPIKeyCreated, actTaxIDUpdated, actTaxExported, actConsentChanged,
		privacy.ActionDeletionRequested, privacy.ActionRestored, privacy.ActionErased, privacy.ActionExported} {
		require.Contains(t, actions, want)
	}
	eve.call("POST", "/login", map[string]string{"email": "eve@example.com", "password": "eve's long passphrase"}, http.StatusOK)
	require.Contains(t, auditActions(t, eve, evil), "rbac.access_denied")
	require.NoError(t, a.verifyAllChains(ctx))

	// Someone who reads the database or the audit log sees no plaintext.
	secrets := []string{"Ada Lovelace", "ada@example.com", "123-45-6789", "DE89370400440532013000",
		"gho_secret_token_1234", "quarterly note", "lead@example.org", "correct horse"}
	var stored bytes.Buffer
	us, err := a.store.Members(ctx, acme, page{limit: maxPageSize})
	require.NoError(t, err)
	for _, u := range us {
		stored.Write(bytes.Join([][]byte{u.Name, u.Email, u.EmailIdx, u.Address, u.TaxID, []byte(u.PasswordHash)}, nil))
	}
	pos, err := a.store.Payouts(ctx, acme, page{limit: maxPageSize})
	require.NoError(t, err)
	for _, p := range pos {
		stored.Write(p.BankAccount)
	}
	chains, err := a.auditStore.Chains(ctx)
	require.NoError(t, err)
	for _, c := range chains {
		require.NoError(t, a.auditStore.Scan(ctx, c, 0, func(e *auditlog.Entry) error {
			stored.Write(e.Payload)
			stored.WriteString(e.Target)
			return nil
		}))
	}
	for _, s := range secrets {
		require.NotContains(t, stored.String(), s)
	}

	// The compliance report is green.
	status, body, _ := ada.do("GET", "/orgs/"+acme+"/compliance/report", nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	rep, err := compliance.ReadReport(bytes.NewReader(body)) // re-derives the verdict from the controls
	require.NoError(t, err)
	require.True(t, rep.Pass)
	require.Empty(t, rep.Failing())
	require.Equal(t, rep.Summary.Controls, rep.Summary.Passed)
}

func auditActions(t *testing.T, c *client, org string) []string {
	t.Helper()
	var out []string
	for _, e := range c.call("GET", "/orgs/"+org+"/audit", nil, http.StatusOK)["entries"].([]any) {
		out = append(out, e.(map[string]any)["action"].(string))
	}
	return out
}

// The report turns red when a control stops working: here an owner who
// never enrolled in MFA.
func TestComplianceReportFailsWithoutStaffMFA(t *testing.T) {
	clk := newClock()
	a, err := newApp(context.Background(), config{Now: clk.Now, Warn: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	ts := httptest.NewTLSServer(a)
	t.Cleanup(ts.Close)
	ada := newClient(t, ts, clk)
	org := ada.call("POST", "/signup", map[string]string{"organisation": "Acme", "name": "Ada",
		"email": "ada@example.com", "password": "correct horse battery staple"}, http.StatusOK)["org"].(string)
	status, body, _ := ada.do("GET", "/orgs/"+org+"/compliance/report", nil)
	require.Equal(t, http.StatusConflict, status)
	require.True(t, strings.Contains(string(body), "privileged members without MFA"), "%s", body)
}
