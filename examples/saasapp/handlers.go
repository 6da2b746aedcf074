package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/rbac"
)

// The handlers. By the time one runs, the router has checked the permission
// and that the organisation in the path is the principal's; handlers only
// read {org} from the path to scope their queries.

// GET /orgs/{org}
func (a *app) handleOrg(w http.ResponseWriter, r *http.Request) {
	o, err := a.store.Org(r.Context(), r.PathValue("org"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": o.ID, "name": o.Name, "created_at": o.CreatedAt})
}

// member is how the members list shows a user: decrypted name and email.
type member struct {
	ID    string `json:"id"`
	Role  string `json:"role"`
	State string `json:"state"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

func (a *app) member(u user) member {
	m := member{ID: u.ID, Role: u.Role, State: u.State}
	if name, err := a.keys.name.Open(u.ID, u.Name); err == nil {
		m.Name = string(name)
	}
	if email, err := a.keys.email.Open(u.ID, u.Email); err == nil {
		m.Email = string(email)
	}
	return m
}

// GET /orgs/{org}/members
func (a *app) handleMembers(w http.ResponseWriter, r *http.Request) {
	p, err := pageFrom(r)
	if err != nil {
		badPage(w)
		return
	}
	us, err := a.store.Members(r.Context(), r.PathValue("org"), p.plusOne())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	listed(w, r, "members", p, us, userPos, func(u user) any { return a.member(u) })
}

type inviteRequest struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Role     string `json:"role"`
	Password string `json:"password"` // a real app would email an invitation link instead
}

// canGrant reports whether the request's principal may give role: roles up
// to financial_admin need members.update_role (which the route checked);
// admin, owner and engineer need admins.manage.
func (a *app) canGrant(r *http.Request, role string) bool {
	switch role {
	case "viewer", "support", "financial_admin":
		return true
	case "admin", "owner", "engineer":
		return a.guard.Check(r, a.ex.Perm.AdminsManage).Allowed()
	}
	return false
}

// POST /orgs/{org}/members
func (a *app) handleInvite(w http.ResponseWriter, r *http.Request) {
	var req inviteRequest
	if !decode(w, r, &req) {
		return
	}
	if !a.canGrant(r, req.Role) {
		writeProblem(w, http.StatusForbidden, "Forbidden", "you cannot grant this role")
		return
	}
	u, err := a.newUser(r.Context(), r.PathValue("org"), req.Role, req.Name, req.Email, req.Password)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "Bad request", "the password is not acceptable")
		return
	}
	if err := a.store.AddUser(r.Context(), u); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.record(r, actMemberInvited, "user:"+u.ID, map[string]any{"role": u.Role}); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, a.member(u))
}

// PUT /orgs/{org}/members/{user}/role changes a member's role and records
// it in one unit of work (txn.go): on PostgreSQL the new role and its audit
// entry commit together or not at all. Nothing else rampart keeps about the
// member changes with the role: principals are built from the membership
// table at each request (API keys of the member included), so sessions
// stay valid and carry the new role from the next request on.
func (a *app) handleSetRole(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Role string `json:"role"`
	}
	if !decode(w, r, &req) {
		return
	}
	org, id := r.PathValue("org"), r.PathValue("user")
	err := a.inUnit(r, org, func(ctx context.Context, u unit) error {
		cur, err := u.store.User(ctx, org, id)
		if err != nil {
			return err
		}
		// Demoting an admin is as sensitive as promoting one.
		if !a.canGrant(r, req.Role) || !a.canGrant(r, cur.Role) {
			return &httpRefusal{http.StatusForbidden, "Forbidden", "you cannot change this member to or from this role"}
		}
		if err := u.store.SetRole(ctx, org, id, req.Role); err != nil {
			return err
		}
		return u.record(actMemberRoleChanged, "user:"+id, map[string]any{"from": cur.Role, "to": req.Role})
	})
	if err != nil {
		a.failUnit(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// profile is what a user sees of themselves, decrypted.
type profile struct {
	member
	Address string `json:"address,omitempty"`
	TaxID   string `json:"tax_id,omitempty"`
}

func (a *app) profile(ctx context.Context, u user) profile {
	p := profile{member: a.member(u)}
	if len(u.Address) > 0 {
		if addr, err := a.keys.subjects.Open(ctx, u.ID, addressLabel(u.ID), u.Address); err == nil {
			p.Address = string(addr)
		}
	}
	if tin, err := a.keys.taxID.Open(u.ID, u.TaxID); err == nil && len(u.TaxID) > 0 {
		p.TaxID = string(tin)
	}
	return p
}

// addressLabel binds a sealed address to its row, as keyring fields bind
// theirs to table, column and row.
func addressLabel(userID string) string { return "app_users.address:" + userID }

// GET /orgs/{org}/me
func (a *app) handleMe(w http.ResponseWriter, r *http.Request) {
	u, err := a.currentUser(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.profile(r.Context(), u))
}

// PUT /orgs/{org}/me changes the name and the postal address. The address
// is sealed under the user's own data key, so erasing the user destroys
// that key and every copy of the address, backups included.
func (a *app) handleUpdateMe(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name    *string `json:"name"`
		Address *string `json:"address"`
	}
	if !decode(w, r, &req) {
		return
	}
	u, err := a.currentUser(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var name, addr []byte
	changed := []string{}
	if req.Name != nil {
		if name, err = a.keys.name.Seal(u.ID, []byte(*req.Name)); err != nil {
			a.fail(w, r, err)
			return
		}
		changed = append(changed, "name")
	}
	if req.Address != nil {
		if addr, err = a.keys.subjects.Seal(r.Context(), u.ID, addressLabel(u.ID), []byte(*req.Address)); err != nil {
			a.fail(w, r, err)
			return
		}
		changed = append(changed, "address")
	}
	if err := a.store.UpdateProfile(r.Context(), u.Org, u.ID, name, addr, nil); err != nil {
		a.fail(w, r, err)
		return
	}
	// The audit entry names the fields, never their values.
	if err := a.record(r, actProfileUpdated, "user:"+u.ID, map[string]any{"fields": changed}); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// PUT /orgs/{org}/me/tax-id sets the signed-in payee's tax ID.
func (a *app) handleSetTaxID(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TaxID string `json:"tax_id"`
	}
	if !decode(w, r, &req) {
		return
	}
	u, err := a.currentUser(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ct, err := a.keys.taxID.Seal(u.ID, []byte(req.TaxID))
	if err == nil {
		err = a.store.UpdateProfile(r.Context(), u.Org, u.ID, nil, nil, ct)
	}
	if err == nil {
		err = a.record(r, actTaxIDUpdated, "user:"+u.ID, nil)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// GET /orgs/{org}/tax/export is the CSV of payees and tax IDs an accountant
// needs for information returns: it needs tax.view AND a fresh MFA step-up.
func (a *app) handleTaxExport(w http.ResponseWriter, r *http.Request) {
	var rows [][]string
	err := allPages(func(p page) ([]user, error) { return a.store.Members(r.Context(), r.PathValue("org"), p) }, userPos, func(u user) error {
		if len(u.TaxID) == 0 {
			return nil
		}
		p := a.profile(r.Context(), u)
		rows = append(rows, []string{csvText(u.ID), csvText(p.Name), csvText(p.TaxID)})
		return nil
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.record(r, actTaxExported, "org:"+r.PathValue("org"), map[string]any{"payees": len(rows)}); err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv")
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"user_id", "name", "tax_id"})
	_ = cw.WriteAll(rows)
}

// csvText keeps a spreadsheet from running a cell as a formula (OWASP "CSV
// Injection"): a cell starting with =, +, -, @, tab, CR, LF or NUL gets a
// leading single quote, which spreadsheets take as "this is text".
func csvText(s string) string {
	if s != "" {
		switch s[0] {
		case '=', '+', '-', '@', '\t', '\r', '\n', 0:
			return "'" + s
		}
	}
	return s
}

// payoutView never shows the full bank account: only its last four.
type payoutView struct {
	ID          string    `json:"id"`
	AmountCents int64     `json:"amount_cents"`
	Currency    string    `json:"currency"`
	Account     string    `json:"account"`
	Status      string    `json:"status"`
	CreatedBy   string    `json:"created_by"`
	ApprovedBy  string    `json:"approved_by,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

func (a *app) payoutView(p payout) payoutView {
	v := payoutView{ID: p.ID, AmountCents: p.AmountCents, Currency: p.Currency, Status: p.Status,
		CreatedBy: p.CreatedBy, ApprovedBy: p.ApprovedBy, CreatedAt: p.CreatedAt, Account: "unreadable"}
	if acct, err := a.keys.bank.Open(p.ID, p.BankAccount); err == nil {
		v.Account = "••••" + string(acct[max(0, len(acct)-4):])
	}
	return v
}

// GET /orgs/{org}/payouts
func (a *app) handlePayouts(w http.ResponseWriter, r *http.Request) {
	p, err := pageFrom(r)
	if err != nil {
		badPage(w)
		return
	}
	ps, err := a.store.Payouts(r.Context(), r.PathValue("org"), p.plusOne())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	listed(w, r, "payouts", p, ps, payoutPos, func(po payout) any { return a.payoutView(po) })
}

// payoutRequest is the body of POST /orgs/{org}/payouts.
type payoutRequest struct {
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	BankAccount string `json:"bank_account"`
}

// POST /orgs/{org}/payouts requests a payout to a bank account. The payout
// and its audit entry are one unit of work; with an Idempotency-Key header
// a retry returns the first answer and creates nothing (oncePerKey).
func (a *app) handleCreatePayout(w http.ResponseWriter, r *http.Request) {
	var req payoutRequest
	if !decode(w, r, &req) {
		return
	}
	if req.AmountCents <= 0 || len(req.Currency) != 3 || len(req.BankAccount) < 4 {
		writeProblem(w, http.StatusBadRequest, "Bad request", "amount_cents > 0, a 3-letter currency and a bank account are required")
		return
	}
	p, _ := rbac.PrincipalFrom(r.Context())
	org := r.PathValue("org")
	a.oncePerKey(w, r, org, req, func(ctx context.Context, u unit) (int, any, error) {
		po := payout{ID: newID("po"), Org: org, AmountCents: req.AmountCents, Currency: req.Currency,
			Status: "pending", CreatedBy: p.Actor(), CreatedAt: a.now().UTC()}
		var err error
		if po.BankAccount, err = a.keys.bank.Seal(po.ID, []byte(req.BankAccount)); err == nil {
			err = u.store.AddPayout(ctx, po)
		}
		if err == nil {
			err = u.record(actPayoutCreated, "payout:"+po.ID, map[string]any{"amount_cents": po.AmountCents, "currency": po.Currency})
		}
		return http.StatusCreated, a.payoutView(po), err
	})
}

// POST /orgs/{org}/payouts/{id}/approve moves money: payouts.approve and a
// fresh MFA step-up. Nobody approves their own request (four eyes). The
// approval and its audit entry are one unit of work, and an
// Idempotency-Key makes a retry return the first answer (without one, a
// second approval is 409).
func (a *app) handleApprovePayout(w http.ResponseWriter, r *http.Request) {
	p, _ := rbac.PrincipalFrom(r.Context())
	org, id := r.PathValue("org"), r.PathValue("id")
	a.oncePerKey(w, r, org, nil, func(ctx context.Context, u unit) (int, any, error) {
		req, err := u.store.Payout(ctx, org, id)
		if err != nil {
			return 0, nil, err
		}
		if req.CreatedBy == p.Actor() {
			return 0, nil, &httpRefusal{http.StatusForbidden, "Forbidden", "a payout must be approved by someone other than its requester"}
		}
		po, err := u.store.ApprovePayout(ctx, org, id, p.Actor())
		if err == nil {
			err = u.record(actPayoutApproved, "payout:"+po.ID, map[string]any{"amount_cents": po.AmountCents, "currency": po.Currency})
		}
		return http.StatusOK, a.payoutView(po), err
	})
}

// GET /orgs/{org}/integrations lists connections, never their tokens.
func (a *app) handleIntegrations(w http.ResponseWriter, r *http.Request) {
	p, err := pageFrom(r)
	if err != nil {
		badPage(w)
		return
	}
	is, err := a.store.Integrations(r.Context(), r.PathValue("org"), p.plusOne())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	listed(w, r, "integrations", p, is, integrationPos, func(i integration) any {
		return map[string]any{"id": i.ID, "provider": i.Provider, "created_at": i.CreatedAt}
	})
}

// POST /orgs/{org}/integrations stores an OAuth access token, sealed. (A
// real app receives it from the provider's OAuth callback.)
func (a *app) handleConnectIntegration(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Provider    string `json:"provider"`
		AccessToken string `json:"access_token"`
	}
	if !decode(w, r, &req) {
		return
	}
	i := integration{ID: newID("int"), Org: r.PathValue("org"), Provider: req.Provider, CreatedAt: a.now().UTC()}
	var err error
	if i.Token, err = a.keys.oauth.Seal(i.ID, []byte(req.AccessToken)); err == nil {
		err = a.store.AddIntegration(r.Context(), i)
	}
	if err == nil {
		err = a.record(r, actIntegrationConnected, "integration:"+i.ID, map[string]any{"provider": i.Provider})
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": i.ID, "provider": i.Provider})
}

// POST /orgs/{org}/leads is the public lead-capture form of the marketing
// site: anyone may post, what they type is sealed at once.
func (a *app) handleCaptureLead(w http.ResponseWriter, r *http.Request) {
	var req map[string]string
	if !decode(w, r, &req) {
		return
	}
	orgID := r.PathValue("org")
	if _, err := a.store.Org(r.Context(), orgID); err != nil {
		a.fail(w, r, err)
		return
	}
	raw, _ := json.Marshal(req)
	l := lead{ID: newID("lead"), Org: orgID, CreatedAt: a.now().UTC()}
	var err error
	if l.Payload, err = a.keys.lead.Seal(l.ID, raw); err == nil {
		err = a.store.AddLead(r.Context(), l)
	}
	if err == nil {
		err = a.audit.Record(r.Context(), orgID, "system:web/lead-form", actLeadCaptured, "lead:"+l.ID, nil)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": l.ID})
}

// GET /orgs/{org}/leads
func (a *app) handleLeads(w http.ResponseWriter, r *http.Request) {
	p, err := pageFrom(r)
	if err != nil {
		badPage(w)
		return
	}
	ls, err := a.store.Leads(r.Context(), r.PathValue("org"), p.plusOne())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	listed(w, r, "leads", p, ls, leadPos, func(l lead) any {
		var fields map[string]string
		if pt, err := a.keys.lead.Open(l.ID, l.Payload); err == nil {
			_ = json.Unmarshal(pt, &fields)
		}
		return map[string]any{"id": l.ID, "fields": fields, "created_at": l.CreatedAt}
	})
}

// PUT /orgs/{org}/me/session-data keeps a small JSON document with the
// session (say, a half-filled form), sealed under the session-payload scope.
// GET returns it.
func (a *app) handlePutSessionData(w http.ResponseWriter, r *http.Request) {
	_, id, ok := a.sessionUser(w, r)
	var doc json.RawMessage
	if !ok || !decode(w, r, &doc) {
		return
	}
	ct, err := a.keys.session.Seal(id.SessionID, doc)
	if err == nil {
		err = a.store.PutSessionData(r.Context(), id.SessionID, id.Org, id.UserID, ct)
	}
	if err == nil {
		err = a.record(r, actSessionDataUpdated, "session:"+id.SessionID, map[string]any{"bytes": len(doc)})
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *app) handleGetSessionData(w http.ResponseWriter, r *http.Request) {
	_, id, ok := a.sessionUser(w, r)
	if !ok {
		return
	}
	ct, err := a.store.SessionData(r.Context(), id.SessionID)
	if errors.Is(err, errNotFound) {
		writeJSON(w, http.StatusOK, json.RawMessage("{}"))
		return
	}
	var pt []byte
	if err == nil {
		pt, err = a.keys.session.Open(id.SessionID, ct)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, json.RawMessage(pt))
}

// POST /orgs/{org}/api-keys creates a key limited to the scopes asked for,
// each of which the creator must hold. The key is shown this once.
func (a *app) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if !decode(w, r, &req) {
		return
	}
	for _, s := range req.Scopes {
		perm, ok := a.ex.Policy.Permission(s)
		if !ok || !a.guard.Check(r, perm).Allowed() {
			writeProblem(w, http.StatusForbidden, "Forbidden", "a key cannot have a scope its creator lacks: "+s)
			return
		}
	}
	id, _ := authn.IdentityFrom(r.Context())
	raw, key, err := a.apiKeys.Create(r.Context(), authn.NewAPIKey{Org: id.Org, Owner: id.UserID, Name: req.Name, Scopes: req.Scopes})
	if err == nil {
		err = a.record(r, actAPIKeyCreated, "apikey:"+key.ID, map[string]any{"scopes": req.Scopes})
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": key.ID, "key": raw.Reveal(), "scopes": key.Scopes})
}

// GET /orgs/{org}/api-keys lists keys without secrets, a page at a time
// (?limit= and ?cursor=, as every list route).
func (a *app) handleAPIKeys(w http.ResponseWriter, r *http.Request) {
	cursor, limit, ok := authnPage(w, r)
	if !ok {
		return
	}
	ks, next, err := a.apiKeys.List(r.Context(), r.PathValue("org"), cursor, limit)
	a.authnListed(w, r, "api_keys", ks, next, limit, err)
}

// DELETE /orgs/{org}/api-keys/{id}
func (a *app) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := a.apiKeys.Revoke(r.Context(), r.PathValue("org"), id)
	if errors.Is(err, authn.ErrNotFound) {
		err = errNotFound
	}
	if err == nil {
		err = a.record(r, actAPIKeyRevoked, "apikey:"+id, nil)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
