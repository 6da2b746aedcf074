package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/rbac"
	"github.com/rampart-sdk/rampart/rbac/examplepolicy"
)

// rbacChapter builds the example app's policy, registers two routes that
// each name their permission, and shows a cross-tenant request refused
// before its handler runs while the tenant's own request succeeds.
func rbacChapter() chapter {
	return chapter{
		title: "rbac: every route declares its permission; tenants cannot cross",
		run: func(ctx context.Context, s *story) error {
			ex, err := examplepolicy.New()
			if err != nil {
				return err
			}
			pol, perm, role := ex.Policy, ex.Perm, ex.Role
			s.say("policy: %d roles x %d permissions = %d cells in the role matrix",
				len(pol.Roles()), len(pol.Permissions()), len(pol.Roles())*len(pol.Permissions()))

			r, err := rbac.NewRouter(pol, rbac.WithRecorder(s.audit)) // denials become audit entries
			if err != nil {
				return err
			}
			r.HandleFunc("POST /orgs/{org}/payouts/{id}/approve", perm.PayoutsApprove, func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "payout %s approved", r.PathValue("id"))
			})
			r.HandleFunc("GET /healthz", rbac.Public("load balancer health check"), func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprint(w, "ok")
			})
			for _, rt := range r.Routes() {
				if rt.Public() {
					s.say("route %-40s is public: %s", rt.Pattern, rt.PublicReason)
				} else {
					s.say("route %-40s requires %s", rt.Pattern, rt.Permission)
				}
			}

			call := func(path string, p rbac.Principal) *httptest.ResponseRecorder {
				req := httptest.NewRequestWithContext(rbac.WithPrincipal(ctx, p), "POST", path, nil)
				req.Header.Set("X-Org-ID", "acme") // a forged header: rbac never reads it
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
				return w
			}
			// The identity seam: what authn.Middleware put in the context, plus
			// the member's CURRENT role from the host's membership table,
			// becomes the principal the router checks.
			id := authn.Identity{Method: authn.MethodSession, Org: "acme", UserID: "alice"}
			c := rbac.Caller{Org: id.Org, UserID: id.UserID, KeyID: id.KeyID, Scopes: id.Scopes}
			alice := pol.PrincipalFor(c, role.FinancialAdmin.Name())
			w := call("/orgs/acme/payouts/po_1/approve", alice)
			s.say("alice (financial_admin, acme) approves an acme payout:   %d %s", w.Code, w.Body.String())
			if w.Code != http.StatusOK {
				return fmt.Errorf("own-tenant request: status %d", w.Code)
			}
			w = call("/orgs/globex/payouts/po_9/approve", alice)
			s.say("alice (financial_admin, acme) approves a globex payout: %d %s", w.Code, w.Header().Get("Content-Type"))
			if w.Code != http.StatusForbidden {
				return fmt.Errorf("cross-tenant request: status %d", w.Code)
			}
			d := pol.Decide(rbac.User("sam", "acme", role.Support), perm.PayoutsApprove, "acme")
			s.say("and a support agent: %s", d)
			// An API key of alice's, scoped to reading payouts: the same seam,
			// and the key gets its scopes AND alice's current role, no more.
			key := pol.PrincipalFor(rbac.Caller{Org: "acme", UserID: "alice", KeyID: "k_ci", Scopes: []string{"payouts.view"}}, role.FinancialAdmin.Name())
			if !pol.Decide(key, perm.PayoutsView, "acme").Allowed() {
				return fmt.Errorf("scoped key: payouts.view refused")
			}
			d = pol.Decide(key, perm.PayoutsApprove, "acme")
			s.say("alice's read-only key: %s", d)
			if d.Allowed() {
				return fmt.Errorf("scoped key: payouts.approve allowed beyond its scopes")
			}
			return nil
		},
	}
}
