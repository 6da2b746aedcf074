// Package rbactest checks a host's rbac router against its policy in one
// call, so that "every protected endpoint declares its permission and
// enforces it" is a test that fails, not a promise:
//
//	func TestRoutes(t *testing.T) {
//		rbactest.CheckRouter(t, app.Router(), policy, rbactest.Options{})
//	}
package rbactest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-sdk/rampart/rbac"
)

// Router is what CheckRouter needs; *rbac.Router satisfies it. WithHandlers
// must return a handler with the same routing and enforcement whose
// handlers are replaced, so the check never runs the host's real handlers.
type Router interface {
	Routes() []rbac.Route
	WithHandlers(wrap func(rbac.Route, http.Handler) http.Handler) http.Handler
}

// Options tune CheckRouter. The zero value suits a router whose
// organisation is the {org} path wildcard and whose principal comes from
// rbac.WithPrincipal.
type Options struct {
	// Unused lists declared permissions that no route uses on purpose (for
	// example, checked in code with Policy.Decide). Any other permission no
	// route uses fails the check; so does an Unused entry a route does use.
	Unused []rbac.Permission
	// Org and OtherOrg are the organisations requests use; defaults
	// "org-a" and "org-b".
	Org, OtherOrg string
	// Request builds a request for route that targets org. The default
	// fills the {org} wildcard (or the one named by OrgPathValue) with org
	// and other wildcards with "x". Set it when the organisation comes from
	// an extractor (a host name, a header set by a trusted proxy).
	Request func(route rbac.Route, org string) *http.Request
	// OrgPathValue is the wildcard carrying the organisation; default "org".
	OrgPathValue string
	// WithPrincipal attaches p to r; default rbac.WithPrincipal on r's context.
	WithPrincipal func(r *http.Request, p rbac.Principal) *http.Request
}

// CheckRouter fails t (with Errorf, so every problem is reported) when:
//   - a route is protected by nothing (no permission and no public reason),
//     or by a permission the policy does not declare;
//   - a declared permission is used by no route and not listed as Unused;
//   - a protected route without a principal does not answer 401;
//   - a tenant-scoped route called by a principal of another organisation,
//     holding the permission there, does not answer 403;
//   - a route called by the largest role lacking its permission does not
//     answer 403;
//   - a route called by the lowest role holding its permission does not
//     reach its handler (a sentinel stands in for it);
//   - a public route does not reach its handler without a principal.
//
// A route handler is never run: the router's WithHandlers swaps in
// sentinels.
func CheckRouter(t testing.TB, router Router, policy *rbac.Policy, opts Options) {
	t.Helper()
	if opts.Org == "" {
		opts.Org = "org-a"
	}
	if opts.OtherOrg == "" {
		opts.OtherOrg = "org-b"
	}
	if opts.OrgPathValue == "" {
		opts.OrgPathValue = "org"
	}
	if opts.Request == nil {
		opts.Request = func(r rbac.Route, org string) *http.Request { return defaultRequest(r, org, opts.OrgPathValue) }
	}
	if opts.WithPrincipal == nil {
		opts.WithPrincipal = func(r *http.Request, p rbac.Principal) *http.Request {
			return r.WithContext(rbac.WithPrincipal(r.Context(), p))
		}
	}

	routes := router.Routes()
	used := map[rbac.Permission]bool{}
	for _, r := range routes {
		switch {
		case r.Permission.IsZero() && strings.TrimSpace(r.PublicReason) == "":
			t.Errorf("rbactest: route %q is protected by nothing: register it with a permission or rbac.Public(reason)", r.Pattern)
		case !r.Permission.IsZero() && !policy.Owns(r.Permission):
			t.Errorf("rbactest: route %q requires %q, which the policy does not declare", r.Pattern, r.Permission.Name())
		case !r.Permission.IsZero():
			used[r.Permission] = true
		}
	}
	unused := map[rbac.Permission]bool{}
	for _, p := range opts.Unused {
		unused[p] = true
		if used[p] {
			t.Errorf("rbactest: permission %q is marked unused but route(s) require it; remove the marker", p.Name())
		}
	}
	for _, p := range policy.Permissions() {
		if !used[p] && !unused[p] {
			t.Errorf("rbactest: permission %q is declared but no route requires it (mark it in Options.Unused if that is deliberate)", p.Name())
		}
	}

	var mu sync.Mutex
	hits := map[string]int{}
	sentinel := router.WithHandlers(func(r rbac.Route, _ http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			hits[r.Pattern]++
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		})
	})
	call := func(r rbac.Route, org string, p *rbac.Principal) (code int, reached bool) {
		req := opts.Request(r, org)
		if p != nil {
			req = opts.WithPrincipal(req, *p)
		}
		mu.Lock()
		before := hits[r.Pattern]
		mu.Unlock()
		w := httptest.NewRecorder()
		sentinel.ServeHTTP(w, req)
		mu.Lock()
		defer mu.Unlock()
		return w.Code, hits[r.Pattern] > before
	}

	for _, r := range routes {
		if r.Permission.IsZero() {
			if strings.TrimSpace(r.PublicReason) != "" {
				if code, ok := call(r, opts.Org, nil); !ok {
					t.Errorf("rbactest: public route %q did not reach its handler without a principal (status %d)", r.Pattern, code)
				}
			}
			continue
		}
		if !policy.Owns(r.Permission) {
			continue
		}
		perm := r.Permission

		if code, ok := call(r, opts.Org, nil); code != http.StatusUnauthorized || ok {
			t.Errorf("rbactest: route %q without a principal: status %d, handler reached %v; want 401 and not reached", r.Pattern, code, ok)
		}

		holder, hasHolder := policy.LowestRole(perm)
		if !hasHolder {
			t.Errorf("rbactest: route %q requires %q, which no role grants: nobody can call it", r.Pattern, perm.Name())
		} else {
			if r.TenantScoped {
				other := rbac.User("rbactest-other", opts.OtherOrg, holder)
				if code, ok := call(r, opts.Org, &other); code != http.StatusForbidden || ok {
					t.Errorf("rbactest: route %q called for organisation %q by %q of %q: status %d, handler reached %v; want 403 and not reached",
						r.Pattern, opts.Org, holder.Name(), opts.OtherOrg, code, ok)
				}
			} else {
				t.Logf("rbactest: route %q is not tenant-scoped: it acts in the caller's own organisation", r.Pattern)
			}
			in := rbac.User("rbactest-holder", opts.Org, holder)
			if code, ok := call(r, opts.Org, &in); !ok || code == http.StatusUnauthorized || code == http.StatusForbidden {
				t.Errorf("rbactest: route %q called by %q, which holds %q: status %d, handler reached %v; want the handler reached",
					r.Pattern, holder.Name(), perm.Name(), code, ok)
			}
		}

		if lacking, ok := largestLacking(policy, perm); ok {
			p := rbac.User("rbactest-lacking", opts.Org, lacking)
			if code, ok := call(r, opts.Org, &p); code != http.StatusForbidden || ok {
				t.Errorf("rbactest: route %q called by %q, which lacks %q: status %d, handler reached %v; want 403 and not reached",
					r.Pattern, lacking.Name(), perm.Name(), code, ok)
			}
		}
	}
}

// largestLacking returns the role with the most permissions that does not
// grant perm: the sharpest test that the route checks perm itself.
func largestLacking(policy *rbac.Policy, perm rbac.Permission) (rbac.Role, bool) {
	var best rbac.Role
	n := -1
	for _, r := range policy.Roles() {
		if policy.Can(r, perm) {
			continue
		}
		if c := len(policy.PermissionsOf(r)); c > n {
			best, n = r, c
		}
	}
	return best, n >= 0
}

// defaultRequest builds a request for route: the organisation wildcard set
// to org, other wildcards to "x", the method GET when the pattern has none.
func defaultRequest(r rbac.Route, org, orgParam string) *http.Request {
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	path := r.Path
	host := "example.com"
	if !strings.HasPrefix(path, "/") {
		if i := strings.IndexByte(path, '/'); i > 0 {
			host, path = path[:i], path[i:]
		}
	}
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] == '{' {
			if j := strings.IndexByte(path[i:], '}'); j > 0 {
				name := path[i+1 : i+j]
				switch {
				case name == "$":
				case strings.TrimSuffix(name, "...") == orgParam:
					b.WriteString(org)
				case strings.HasSuffix(name, "..."):
					b.WriteString("x/y")
				default:
					b.WriteString("x")
				}
				i += j
				continue
			}
		}
		b.WriteByte(path[i])
	}
	req := httptest.NewRequest(method, "http://"+host+b.String(), nil)
	return req
}
