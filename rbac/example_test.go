package rbac_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/rampart-sdk/rampart/rbac"
)

// Example declares a small policy, registers routes that each name their
// permission, and shows a cross-tenant request refused before its handler.
func Example() {
	reg := rbac.NewRegistry()
	invoicesView := reg.Permission("invoices.view", "See invoices")
	payoutsApprove := reg.Permission("payouts.approve", "Approve a pending payout")
	viewer := reg.Role("viewer", "Read only").Grants(invoicesView)
	finance := reg.Role("financial_admin", "Money movement").Includes(viewer).Grants(payoutsApprove)
	reg.Ladder(viewer, finance)
	policy, err := reg.Build()
	if err != nil {
		panic(err)
	}

	r, err := rbac.NewRouter(policy)
	if err != nil {
		panic(err)
	}
	r.HandleFunc("POST /orgs/{org}/payouts/{id}/approve", payoutsApprove, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "approved")
	})
	r.HandleFunc("GET /healthz", rbac.Public("load balancer health check"), func(http.ResponseWriter, *http.Request) {})

	call := func(path string, p rbac.Principal) {
		req := httptest.NewRequest("POST", path, nil)
		req = req.WithContext(rbac.WithPrincipal(req.Context(), p))
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		fmt.Println(w.Code, path)
	}
	alice := rbac.User("alice", "acme", finance)
	call("/orgs/acme/payouts/p1/approve", alice)
	call("/orgs/globex/payouts/p1/approve", alice)
	call("/orgs/acme/payouts/p1/approve", rbac.User("vic", "acme", viewer))
	// Output:
	// 200 /orgs/acme/payouts/p1/approve
	// 403 /orgs/globex/payouts/p1/approve
	// 403 /orgs/acme/payouts/p1/approve
}

// ExamplePolicy_Decide shows a denial explaining itself, and who could.
func ExamplePolicy_Decide() {
	reg := rbac.NewRegistry()
	view := reg.Permission("invoices.view", "See invoices")
	approve := reg.Permission("payouts.approve", "Approve payouts")
	viewer := reg.Role("viewer", "").Grants(view)
	reg.Role("financial_admin", "").Includes(viewer).Grants(approve)
	policy, _ := reg.Build()

	d := policy.Decide(rbac.User("vic", "acme", viewer), approve, "acme")
	fmt.Println(d.Allowed())
	fmt.Println(d)
	// Output:
	// false
	// rbac: denied: user "vic": role "viewer" lacks "payouts.approve" (lowest role granting it: "financial_admin")
}

// ExampleAPIKey shows a key shrinking the moment its owner is demoted.
func ExampleAPIKey() {
	reg := rbac.NewRegistry()
	approve := reg.Permission("payouts.approve", "Approve payouts")
	viewer := reg.Role("viewer", "")
	admin := reg.Role("admin", "").Grants(approve)
	policy, _ := reg.Build()

	ownerRole := admin // the host's membership table
	lookup := func(org, userID string) (rbac.Role, bool) { return ownerRole, true }
	key := rbac.APIKey("key_7", "acme", "alice", []rbac.Permission{approve}, lookup)

	fmt.Println(policy.Decide(key, approve, "acme").Allowed())
	ownerRole = viewer // alice is demoted; the key is not touched
	fmt.Println(policy.Decide(key, approve, "acme"))
	// Output:
	// true
	// rbac: denied: apikey "key_7": owner's current role "viewer" lacks "payouts.approve" (lowest role granting it: "admin")
}

// ExamplePolicy_WriteMatrix exports the role × permission matrix for review.
func ExamplePolicy_WriteMatrix() {
	reg := rbac.NewRegistry()
	view := reg.Permission("invoices.view", "See invoices")
	approve := reg.Permission("payouts.approve", "Approve payouts")
	viewer := reg.Role("viewer", "").Grants(view)
	reg.Role("admin", "").Includes(viewer).Grants(approve)
	policy, _ := reg.Build()
	_ = policy.WriteMatrix(os.Stdout, rbac.Markdown)
	// Output:
	// | permission | description | viewer | admin |
	// | --- | --- | --- | --- |
	// | invoices.view | See invoices | x | x |
	// | payouts.approve | Approve payouts |  | x |
}

// ExampleGuard_Require wraps a handler for a router other than the Router
// (chi, gorilla/mux, or a plain ServeMux as here): same checks, same 401/403
// problem+json bodies.
func ExampleGuard_Require() {
	reg := rbac.NewRegistry()
	refundsApprove := reg.Permission("refunds.approve", "Approve refunds")
	finance := reg.Role("financial_admin", "").Grants(refundsApprove)
	policy, _ := reg.Build()

	guard, err := rbac.NewGuard(policy)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /orgs/{org}/refunds", guard.Require(refundsApprove)(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "refunded") })))

	for _, p := range []*rbac.Principal{nil, {}, ptrTo(rbac.User("fin", "acme", finance))} {
		req := httptest.NewRequest("POST", "/orgs/acme/refunds", nil)
		if p != nil {
			req = req.WithContext(rbac.WithPrincipal(req.Context(), *p))
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		fmt.Println(w.Code, w.Header().Get("Content-Type"))
	}
	// Output:
	// 401 application/problem+json
	// 401 application/problem+json
	// 200 text/plain; charset=utf-8
}

func ptrTo(p rbac.Principal) *rbac.Principal { return &p }

// ExamplePolicy_PrincipalFor is the identity seam: the plain values an
// authentication layer reports (authn.Identity has these fields) and the
// member's current role, read from the host's membership table, become the
// principal the router and Decide check.
func ExamplePolicy_PrincipalFor() {
	reg := rbac.NewRegistry()
	payoutsView := reg.Permission("payouts.view", "See payouts")
	payoutsApprove := reg.Permission("payouts.approve", "Approve a pending payout")
	reg.Role("financial_admin", "Money movement").Grants(payoutsView, payoutsApprove)
	policy, err := reg.Build()
	if err != nil {
		panic(err)
	}

	session := rbac.Caller{Org: "acme", UserID: "alice"}
	key := rbac.Caller{Org: "acme", UserID: "alice", KeyID: "k_ci", Scopes: []string{"payouts.view"}}
	for _, c := range []rbac.Caller{session, key} {
		p := policy.PrincipalFor(c, "financial_admin") // e.g. member.Role, read per request
		fmt.Println(p.Actor(), policy.Decide(p, payoutsView, "acme").Allowed(), policy.Decide(p, payoutsApprove, "acme").Allowed())
	}
	// Output:
	// user:alice true true
	// apikey:k_ci true false
}
