package main

import (
	"net/http"

	auditpg "github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/rbac"
	"github.com/rampart-sdk/rampart/rbac/examplepolicy"
	"github.com/rampart-sdk/rampart/tenant"
)

// reviewedPublic lists the routes that are public on purpose. The
// compliance report fails if another public route appears.
var reviewedPublic = map[string]bool{
	"GET /healthz":           true,
	"GET /readyz":            true,
	"POST /signup":           true,
	"POST /login":            true,
	"POST /logout":           true,
	"POST /orgs/{org}/leads": true,
}

// routes registers every route with the permission it requires. The router
// refuses (panics at startup) a route registered without one, and before
// any handler runs it checks the principal's permission IN the
// organisation named by {org}: a member of another organisation gets 403.
func (a *app) routes() (http.Handler, error) {
	ex, err := examplepolicy.New()
	if err != nil {
		return nil, err
	}
	a.ex = ex
	p := ex.Perm
	// Denials (403) go to the audit log, in the chain of the one who was
	// denied. On PostgreSQL each is one INSERT into the audit outbox (no
	// chain lock), retried when it provably never reached the server; a
	// denial that still cannot be recorded is answered 503, not 403.
	if a.denials == nil {
		a.denials = a.audit
		if a.pool != nil {
			a.denials = auditpg.NewOutboxRecorder(a.pool, a.audit)
		}
	}
	if a.guard, err = rbac.NewGuard(ex.Policy, rbac.WithRecorder(a.denials), rbac.WithLogger(a.log)); err != nil {
		return nil, err
	}
	// The organisation the router authorised travels in the context: the
	// store's transactions are bound to it (tenant/pgstore), and a store
	// call naming another organisation is refused.
	rt, err := rbac.NewRouter(ex.Policy, rbac.WithRecorder(a.denials), rbac.WithLogger(a.log),
		rbac.WithAuthorizedOrg(tenant.With))
	if err != nil {
		return nil, err
	}
	a.router = rt

	// Liveness: the process serves. It never touches the database, so an
	// orchestrator does not restart every instance during a database outage.
	rt.HandleFunc("GET /healthz", rbac.Public("liveness checks"), func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	// Readiness: the database answers. A load balancer stops sending traffic
	// to an instance that cannot reach it, and resumes when it can.
	rt.HandleFunc("GET /readyz", rbac.Public("readiness checks of the load balancer"), a.handleReady)
	rt.HandleFunc("POST /signup", rbac.Public("creating an organisation is how a customer starts"), a.handleSignup)
	rt.HandleFunc("POST /login", rbac.Public("signing in needs no prior identity"), a.handleLogin)
	rt.HandleFunc("POST /logout", rbac.Public("ends the caller's own session, if any"), a.handleLogout)
	rt.HandleFunc("POST /orgs/{org}/leads", rbac.Public("the marketing site's lead-capture form"), a.handleCaptureLead)

	rt.HandleFunc("GET /orgs/{org}", p.OrgView, a.handleOrg)

	// Self-service: every member holds org.view, and these act on the
	// caller only (the user comes from the session, never from the path).
	rt.HandleFunc("GET /orgs/{org}/me", p.OrgView, a.handleMe)
	rt.HandleFunc("PUT /orgs/{org}/me", p.OrgView, a.handleUpdateMe)
	rt.Handle("DELETE /orgs/{org}/me", p.OrgView, a.stepUp(a.handleDeleteMe))
	rt.Handle("GET /orgs/{org}/me/export", p.OrgView, a.exportHandler())
	rt.HandleFunc("POST /orgs/{org}/me/consent", p.OrgView, a.handleConsent)
	rt.HandleFunc("POST /orgs/{org}/me/events", p.OrgView, a.handleEvent)
	rt.HandleFunc("GET /orgs/{org}/me/session-data", p.OrgView, a.handleGetSessionData)
	rt.HandleFunc("PUT /orgs/{org}/me/session-data", p.OrgView, a.handlePutSessionData)
	rt.HandleFunc("POST /orgs/{org}/me/mfa/enroll", p.OrgView, a.handleMFAEnroll)
	rt.HandleFunc("POST /orgs/{org}/me/mfa/confirm", p.OrgView, a.handleMFAConfirm)
	rt.HandleFunc("POST /orgs/{org}/me/mfa/challenge", p.OrgView, a.handleMFAChallenge)
	rt.HandleFunc("PUT /orgs/{org}/me/tax-id", p.TaxUpdate, a.handleSetTaxID)
	rt.HandleFunc("GET /orgs/{org}/me/sessions", p.OrgView, a.handleMySessions)
	rt.HandleFunc("DELETE /orgs/{org}/me/sessions/{id}", p.OrgView, a.handleRevokeMySession)
	rt.HandleFunc("POST /orgs/{org}/me/sessions/revoke-others", p.OrgView, a.handleRevokeMyOtherSessions)

	rt.HandleFunc("GET /orgs/{org}/members", p.MembersView, a.handleMembers)
	rt.HandleFunc("POST /orgs/{org}/members", p.MembersInvite, a.handleInvite)
	rt.HandleFunc("PUT /orgs/{org}/members/{user}/role", p.MembersUpdateRole, a.handleSetRole)
	rt.Handle("DELETE /orgs/{org}/members/{user}", p.MembersRemove, a.stepUp(a.handleDeleteMember))
	rt.HandleFunc("POST /orgs/{org}/members/{user}/restore", p.MembersRemove, a.handleRestoreMember)
	rt.HandleFunc("GET /orgs/{org}/members/{user}/privacy", p.MembersView, a.handlePrivacyStatus)
	rt.HandleFunc("GET /orgs/{org}/members/{user}/sessions", p.MembersView, a.handleMemberSessions)
	rt.HandleFunc("DELETE /orgs/{org}/members/{user}/sessions", p.MembersRemove, a.handleRevokeMemberSessions)

	rt.HandleFunc("GET /orgs/{org}/payouts", p.PayoutsView, a.handlePayouts)
	rt.HandleFunc("POST /orgs/{org}/payouts", p.PayoutsSchedule, a.handleCreatePayout)
	rt.Handle("POST /orgs/{org}/payouts/{id}/approve", p.PayoutsApprove, a.stepUp(a.handleApprovePayout))
	rt.Handle("GET /orgs/{org}/tax/export", p.TaxView, a.stepUp(a.handleTaxExport))

	rt.HandleFunc("GET /orgs/{org}/integrations", p.IntegrationsManage, a.handleIntegrations)
	rt.HandleFunc("POST /orgs/{org}/integrations", p.IntegrationsManage, a.handleConnectIntegration)
	rt.HandleFunc("GET /orgs/{org}/leads", p.CustomersView, a.handleLeads)

	rt.HandleFunc("GET /orgs/{org}/api-keys", p.APIKeysCreate, a.handleAPIKeys)
	rt.HandleFunc("POST /orgs/{org}/api-keys", p.APIKeysCreate, a.handleCreateAPIKey)
	rt.HandleFunc("DELETE /orgs/{org}/api-keys/{id}", p.APIKeysRevoke, a.handleRevokeAPIKey)

	rt.HandleFunc("GET /orgs/{org}/audit", p.AuditView, a.handleAuditList)
	rt.HandleFunc("GET /orgs/{org}/audit/verify", p.AuditExport, a.handleAuditVerify)
	rt.HandleFunc("GET /orgs/{org}/compliance/report", p.AuditExport, a.handleComplianceReport)
	rt.HandleFunc("GET /orgs/{org}/routes", p.AuditView, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		_ = rt.WriteRoutes(w, rbac.Markdown)
	})
	// The jobs are the platform's, not a tenant's: only the engineer role
	// (the vendor's own staff, in this policy) may see their heartbeats.
	rt.Handle("GET /orgs/{org}/jobs", p.JobsView, a.monitor.Handler())

	// Browsers label cross-site requests (Sec-Fetch-Site, Origin): refusing
	// them on state-changing methods stops CSRF on top of SameSite cookies.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, http.StatusForbidden, "Forbidden", "cross-origin requests are refused")
	}))
	return csrf.Handler(a.authenticate(rt)), nil
}
