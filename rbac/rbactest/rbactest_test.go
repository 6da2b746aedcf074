package rbactest_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-sdk/rampart/rbac"
	"github.com/rampart-sdk/rampart/rbac/rbactest"
	"github.com/stretchr/testify/require"
)

// fakeTB captures failures instead of failing the real test, so the checker
// itself can be tested.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Logf(string, ...any) {}

func (f *fakeTB) has(t *testing.T, substrings ...string) {
	t.Helper()
	for _, e := range f.errors {
		ok := true
		for _, s := range substrings {
			ok = ok && strings.Contains(e, s)
		}
		if ok {
			return
		}
	}
	t.Errorf("no failure contains %q; failures:\n%s", substrings, strings.Join(f.errors, "\n"))
}

type policy struct {
	pol                  *rbac.Policy
	view, approve, spare rbac.Permission
	viewer, admin        rbac.Role
}

func newPolicy(t *testing.T) policy {
	reg := rbac.NewRegistry()
	var p policy
	p.view = reg.Permission("invoices.view", "")
	p.approve = reg.Permission("payouts.approve", "")
	p.spare = reg.Permission("reports.spare", "checked in code, not by a route")
	p.viewer = reg.Role("viewer", "").Grants(p.view)
	p.admin = reg.Role("admin", "").Includes(p.viewer).Grants(p.approve, p.spare)
	reg.Ladder(p.viewer, p.admin)
	pol, err := reg.Build()
	require.NoError(t, err)
	p.pol = pol
	return p
}

func realHandler(http.ResponseWriter, *http.Request) { panic("rbactest must never run a real handler") }

func TestCheckRouterPassesAGoodRouter(t *testing.T) {
	p := newPolicy(t)
	r, err := rbac.NewRouter(p.pol)
	require.NoError(t, err)
	r.HandleFunc("GET /orgs/{org}/invoices/{id}", p.view, realHandler)
	r.HandleFunc("POST /orgs/{org}/payouts/{id}/approve", p.approve, realHandler)
	r.HandleFunc("GET /files/{org}/{path...}", p.view, realHandler)
	r.HandleFunc("GET /healthz", rbac.Public("load balancer probe"), realHandler)
	r.HandleFunc("GET /orgs/{org}/{$}", p.view, realHandler)
	ft := &fakeTB{TB: t}
	rbactest.CheckRouter(ft, r, p.pol, rbactest.Options{Unused: []rbac.Permission{p.spare}})
	require.Empty(t, ft.errors)
	// And for real.
	rbactest.CheckRouter(t, r, p.pol, rbactest.Options{Unused: []rbac.Permission{p.spare}})
}

func TestCheckRouterWithExtractorAndRequestHook(t *testing.T) {
	p := newPolicy(t)
	r, err := rbac.NewRouter(p.pol, rbac.WithOrgExtractor(func(r *http.Request) (string, bool) {
		org, _, ok := strings.Cut(r.Host, ".")
		return org, ok
	}))
	require.NoError(t, err)
	r.HandleFunc("GET /invoices", p.view, realHandler)
	r.HandleFunc("POST /payouts/{id}/approve", p.approve, realHandler)
	r.HandleFunc("GET /reports", p.spare, realHandler)
	rbactest.CheckRouter(t, r, p.pol, rbactest.Options{
		Request: func(route rbac.Route, org string) *http.Request {
			req, _ := http.NewRequest(route.Method, "http://"+org+".example.com"+strings.ReplaceAll(route.Path, "{id}", "1"), nil)
			return req
		},
	})
}

// badRouter lists routes but enforces nothing (or only some things).
type badRouter struct {
	routes  []rbac.Route
	enforce func(rbac.Route, *http.Request) int // 0 = let through
}

func (b *badRouter) Routes() []rbac.Route { return b.routes }
func (b *badRouter) WithHandlers(wrap func(rbac.Route, http.Handler) http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, r := range b.routes {
		h := wrap(r, http.HandlerFunc(realHandler))
		mux.Handle(r.Pattern, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if code := b.enforce(r, req); code != 0 {
				w.WriteHeader(code)
				return
			}
			h.ServeHTTP(w, req)
		}))
	}
	return mux
}

func TestCheckRouterFailsABadRouter(t *testing.T) {
	p := newPolicy(t)
	route := func(pattern string, perm rbac.Permission, public string) rbac.Route {
		method, path, _ := strings.Cut(pattern, " ")
		return rbac.Route{Pattern: pattern, Method: method, Path: path, Permission: perm, PublicReason: public,
			TenantScoped: strings.Contains(path, "{org}")}
	}
	bad := &badRouter{
		routes: []rbac.Route{
			route("GET /orgs/{org}/open", rbac.Permission{}, ""),          // protected by nothing
			route("GET /orgs/{org}/invoices", p.view, ""),                 // enforces nothing
			route("POST /orgs/{org}/payouts/{id}/approve", p.approve, ""), // forgets the tenant
			route("GET /healthz", rbac.Permission{}, "probe"),             // public, but demands auth
			route("GET /orgs/{org}/foreign", newPolicy(t).approve, ""),    // permission of another policy
			route("GET /orgs/{org}/reports", p.spare, ""),                 // authenticates, never checks the role
		},
		enforce: func(r rbac.Route, req *http.Request) int {
			switch r.Pattern {
			case "GET /orgs/{org}/reports":
				if _, ok := rbac.PrincipalFrom(req.Context()); !ok {
					return http.StatusUnauthorized
				}
			case "GET /healthz":
				return http.StatusUnauthorized
			case "POST /orgs/{org}/payouts/{id}/approve":
				pr, ok := rbac.PrincipalFrom(req.Context())
				if !ok {
					return http.StatusUnauthorized
				}
				if !p.pol.Can(pr.Role(), r.Permission) { // checks the role, never the organisation
					return http.StatusForbidden
				}
			}
			return 0
		},
	}
	ft := &fakeTB{TB: t}
	rbactest.CheckRouter(ft, bad, p.pol, rbactest.Options{})
	ft.has(t, `"GET /orgs/{org}/open"`, "protected by nothing")
	ft.has(t, `"GET /orgs/{org}/foreign"`, "does not declare")
	ft.has(t, `"GET /orgs/{org}/invoices"`, "without a principal", "want 401")
	ft.has(t, `"GET /orgs/{org}/invoices"`, `of "org-b"`, "want 403")
	ft.has(t, `"POST /orgs/{org}/payouts/{id}/approve"`, `of "org-b"`, "want 403")
	ft.has(t, `"GET /orgs/{org}/reports"`, `by "viewer", which lacks "reports.spare"`, "want 403")
	ft.has(t, `"GET /healthz"`, "public route")
	for _, e := range ft.errors {
		require.NotContains(t, e, `"POST /orgs/{org}/payouts/{id}/approve" without a principal`, "that route does answer 401")
	}
}

func TestCheckRouterFlagsStaleUnusedMarkerAndDeadPermission(t *testing.T) {
	reg := rbac.NewRegistry()
	view := reg.Permission("invoices.view", "")
	orphan := reg.Permission("orphans.adopt", "granted to nobody")
	reg.Permission("reports.dead", "declared, granted to nobody, used by no route")
	viewer := reg.Role("viewer", "").Grants(view)
	_ = viewer
	pol, err := reg.Build()
	require.NoError(t, err)
	r, err := rbac.NewRouter(pol)
	require.NoError(t, err)
	r.HandleFunc("GET /orgs/{org}/invoices", view, realHandler)
	r.HandleFunc("GET /orgs/{org}/orphans", orphan, realHandler)
	ft := &fakeTB{TB: t}
	rbactest.CheckRouter(ft, r, pol, rbactest.Options{Unused: []rbac.Permission{view}})
	ft.has(t, `"invoices.view"`, "marked unused")
	ft.has(t, `"orphans.adopt"`, "no role grants")
	ft.has(t, `"reports.dead"`, "no route requires it")
}
