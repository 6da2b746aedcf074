package rbac_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-sdk/rampart/rbac"
	"github.com/stretchr/testify/require"
)

type recorded struct {
	org, actor, action, target string
	payload                    map[string]any
}

type fakeRecorder struct {
	mu  sync.Mutex
	got []recorded
	err error
}

func (f *fakeRecorder) Record(_ context.Context, org, actor, action, target string, payload map[string]any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, recorded{org, actor, action, target, payload})
	return f.err
}

// compile-time proof that the recorder interface is exactly contract 1.
var _ interface {
	Record(ctx context.Context, org, actor, action, target string, payload map[string]any) error
} = rbac.Recorder(nil)

func reached(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }

func do(h http.Handler, method, target string, p *rbac.Principal, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	if p != nil {
		req = req.WithContext(rbac.WithPrincipal(req.Context(), *p))
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// newRouter is rbac.NewRouter for options that must be valid.
func newRouter(t testing.TB, pol *rbac.Policy, opts ...rbac.RouterOption) *rbac.Router {
	t.Helper()
	r, err := rbac.NewRouter(pol, opts...)
	require.NoError(t, err)
	return r
}

// newGuard is rbac.NewGuard for options that must be valid.
func newGuard(t testing.TB, pol *rbac.Policy, opts ...rbac.GuardOption) *rbac.Guard {
	t.Helper()
	g, err := rbac.NewGuard(pol, opts...)
	require.NoError(t, err)
	return g
}

func ptr(p rbac.Principal) *rbac.Principal { return &p }

type problemBody struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Status     int    `json:"status"`
	Detail     string `json:"detail"`
	Permission string `json:"permission"`
}

func decodeProblem(t *testing.T, w *httptest.ResponseRecorder) problemBody {
	t.Helper()
	require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	var pb problemBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &pb))
	require.Equal(t, w.Code, pb.Status)
	return pb
}

func TestRouterEnforces(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	rec := &fakeRecorder{}
	r := newRouter(t, x.pol, rbac.WithRecorder(rec))
	r.HandleFunc("POST /orgs/{org}/payouts/{id}/approve", x.approve, reached)
	r.HandleFunc("GET /orgs/{org}/invoices", x.view, reached)
	r.HandleFunc("GET /me/invoices", x.view, reached) // not tenant-scoped: acts in the principal's own org
	r.HandleFunc("GET /healthz", rbac.Public("load balancer health check"), reached)

	admin := ptr(rbac.User("alice", "acme", x.admin))
	viewer := ptr(rbac.User("vic", "acme", x.viewer))

	cases := []struct {
		name   string
		method string
		target string
		p      *rbac.Principal
		hdr    map[string]string
		code   int
		typ    string
	}{
		{"public without principal", "GET", "/healthz", nil, nil, http.StatusTeapot, ""},
		{"no principal", "GET", "/orgs/acme/invoices", nil, nil, http.StatusUnauthorized, rbac.ProblemUnauthenticated},
		{"allowed", "POST", "/orgs/acme/payouts/p1/approve", admin, nil, http.StatusTeapot, ""},
		{"role lacks", "POST", "/orgs/acme/payouts/p1/approve", viewer, nil, http.StatusForbidden, rbac.ProblemPermissionRequired},
		{"cross tenant by path", "GET", "/orgs/globex/invoices", admin, nil, http.StatusForbidden, rbac.ProblemWrongOrganisation},
		{"cross tenant by query is ignored", "GET", "/orgs/globex/invoices?org=acme", admin, nil, http.StatusForbidden, rbac.ProblemWrongOrganisation},
		{"forged header is ignored", "GET", "/orgs/globex/invoices", admin, map[string]string{"X-Org-ID": "acme"}, http.StatusForbidden, rbac.ProblemWrongOrganisation},
		{"query cannot move an own-org request", "GET", "/orgs/acme/invoices?org=globex", admin, map[string]string{"X-Org-ID": "globex"}, http.StatusTeapot, ""},
		{"unscoped route acts in own org", "GET", "/me/invoices?org=globex", viewer, nil, http.StatusTeapot, ""},
		{"unscoped route still needs auth", "GET", "/me/invoices", nil, nil, http.StatusUnauthorized, rbac.ProblemUnauthenticated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := do(r, c.method, c.target, c.p, c.hdr)
			require.Equal(t, c.code, w.Code, w.Body.String())
			if c.typ != "" {
				pb := decodeProblem(t, w)
				require.Equal(t, c.typ, pb.Type)
				require.NotEmpty(t, pb.Permission)
				require.Contains(t, pb.Detail, pb.Permission)
				// Nothing internal: no role names, no tenant IDs, no actor IDs.
				for _, secret := range []string{"admin", "viewer", "acme", "globex", "alice", "vic", "financial"} {
					require.NotContains(t, w.Body.String(), secret)
				}
			}
		})
	}

	// Path tricks never reach the handler for another tenant.
	for _, target := range []string{"/orgs/acme/../globex/invoices", "/orgs/acme%2F..%2Fglobex/invoices", "/orgs/globex%00/invoices", "/orgs/ACME/invoices", "/orgs/acme%20/invoices"} {
		w := do(r, "GET", target, admin, nil)
		require.NotEqual(t, http.StatusTeapot, w.Code, target)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Len(t, rec.got, 8, "every 403 is recorded (4 cases + 4 path tricks; the dot-dot one is redirected by ServeMux), 401s are not")
	for _, g := range rec.got {
		require.Equal(t, rbac.ActionAccessDenied, g.action)
		require.Equal(t, "acme", g.org, "recorded in the actor's own tenant chain")
		require.True(t, strings.HasPrefix(g.actor, "user:"))
		require.True(t, strings.HasPrefix(g.target, "route:"))
	}
	require.Equal(t, "role_lacks_permission", rec.got[0].payload["reason"])
	require.Equal(t, "payouts.approve", rec.got[0].payload["permission"])
	require.Equal(t, "globex", rec.got[1].payload["requested_org"])
	require.Equal(t, []string{rbac.ActionAccessDenied}, rbac.AuditActions())
}

func TestRouterExtractorIsTheOnlyOrgSource(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	// The organisation is the first label of the host: acme.example.com.
	fromHost := func(r *http.Request) (string, bool) {
		host, _, ok := strings.Cut(r.Host, ".")
		return host, ok && host != ""
	}
	r := newRouter(t, x.pol, rbac.WithOrgExtractor(fromHost))
	r.HandleFunc("GET /invoices", x.view, reached)
	admin := rbac.User("alice", "acme", x.admin)
	call := func(host, target string, hdr map[string]string) int {
		req := httptest.NewRequest("GET", target, nil)
		req.Host = host
		req = req.WithContext(rbac.WithPrincipal(req.Context(), admin))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w.Code
	}
	require.Equal(t, http.StatusTeapot, call("acme.example.com", "/invoices", nil))
	require.Equal(t, http.StatusForbidden, call("globex.example.com", "/invoices?org=acme", map[string]string{"X-Org-ID": "acme"}))
	require.Equal(t, http.StatusForbidden, call("localhost", "/invoices", nil), "no organisation: fail closed")
	require.True(t, r.Routes()[0].TenantScoped)
}

func TestRouterCustomPrincipalAndPathValue(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	type authKey struct{}
	r := newRouter(t, x.pol,
		rbac.WithOrgPathValue("tenant"),
		rbac.WithPrincipalFunc(func(r *http.Request) (rbac.Principal, bool) {
			p, ok := r.Context().Value(authKey{}).(rbac.Principal)
			return p, ok
		}))
	r.HandleFunc("GET /t/{tenant}/invoices", x.view, reached)
	req := httptest.NewRequest("GET", "/t/acme/invoices", nil)
	req = req.WithContext(context.WithValue(req.Context(), authKey{}, rbac.User("u", "acme", x.viewer)))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	require.Equal(t, http.StatusTeapot, w.Code)
	req = httptest.NewRequest("GET", "/t/globex/invoices", nil)
	req = req.WithContext(context.WithValue(req.Context(), authKey{}, rbac.User("u", "acme", x.viewer)))
	w = httptest.NewRecorder()
	r.ServeHTTP(w, req)
	require.Equal(t, http.StatusForbidden, w.Code)
}

func routeErr(t *testing.T, f func()) *rbac.RouteError {
	t.Helper()
	var got *rbac.RouteError
	func() {
		defer func() {
			v := recover()
			require.NotNil(t, v, "registration must panic")
			err, ok := v.(error)
			require.True(t, ok)
			require.True(t, errors.As(err, &got), "%v", v)
		}()
		f()
	}()
	return got
}

func TestRouterRegistrationErrors(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	foreign := newTiny(t)
	r := newRouter(t, x.pol)
	r.HandleFunc("POST /orgs/{org}/payouts/{id}/approve", x.approve, reached)

	e := routeErr(t, func() { r.HandleFunc("POST /orgs/{org}/payouts/{id}/approve", x.view, reached) })
	require.ErrorIs(t, e, rbac.ErrDuplicateRoute)
	require.Contains(t, e.Error(), `"payouts.approve"`)
	require.Contains(t, e.Error(), `"invoices.view"`)

	e = routeErr(t, func() { r.HandleFunc("POST  /orgs/{o}/payouts/{payout}/approve", x.view, reached) })
	require.ErrorIs(t, e, rbac.ErrDuplicateRoute, "renamed wildcards are the same route")

	e = routeErr(t, func() { r.HandleFunc("POST /orgs/{org}/payouts/{id}/approve", rbac.Public("oops"), reached) })
	require.ErrorIs(t, e, rbac.ErrDuplicateRoute, "a protected route cannot be re-registered as public")

	require.ErrorIs(t, routeErr(t, func() { r.HandleFunc("GET /a", nil, reached) }), rbac.ErrNoAccess)
	require.ErrorIs(t, routeErr(t, func() { r.HandleFunc("GET /b", rbac.Permission{}, reached) }), rbac.ErrNoAccess)
	require.ErrorIs(t, routeErr(t, func() { r.HandleFunc("GET /c", rbac.Public("  "), reached) }), rbac.ErrNoAccess)
	require.ErrorIs(t, routeErr(t, func() { r.HandleFunc("GET /d", foreign.view, reached) }), rbac.ErrNoAccess)
	require.ErrorIs(t, routeErr(t, func() { r.HandleFunc("GET /e/{x}/{x}", x.view, reached) }), rbac.ErrConflictingRoute)
	require.ErrorIs(t, routeErr(t, func() { newGuard(t, x.pol).Require(rbac.Permission{}) }), rbac.ErrNoAccess)

	require.Len(t, r.Routes(), 1, "failed registrations leave no route behind")
	// The original route still enforces its original permission.
	w := do(r, "POST", "/orgs/acme/payouts/p/approve", ptr(rbac.User("u", "acme", x.viewer)), nil)
	require.Equal(t, http.StatusForbidden, w.Code)
}

// TestGuardMiddleware uses the func(http.Handler) http.Handler form the way
// chi or gorilla would: the organisation from the path value or an extractor.
func TestGuardMiddleware(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	rec := &fakeRecorder{}
	g := newGuard(t, x.pol, rbac.WithRecorder(rec))
	mux := http.NewServeMux()
	mux.Handle("POST /orgs/{org}/refunds", g.Require(x.refund)(http.HandlerFunc(reached)))
	mux.Handle("POST /refunds", g.Require(x.refund)(http.HandlerFunc(reached))) // no org anywhere: refused

	fin := ptr(rbac.User("f", "acme", x.finance))
	require.Equal(t, http.StatusTeapot, do(mux, "POST", "/orgs/acme/refunds", fin, nil).Code)
	require.Equal(t, http.StatusForbidden, do(mux, "POST", "/orgs/globex/refunds?org=acme", fin, map[string]string{"X-Org-ID": "acme"}).Code)
	require.Equal(t, http.StatusForbidden, do(mux, "POST", "/refunds?org=acme", fin, map[string]string{"X-Org-ID": "acme"}).Code)
	require.Equal(t, http.StatusUnauthorized, do(mux, "POST", "/orgs/acme/refunds", nil, nil).Code)
	require.Equal(t, http.StatusForbidden, do(mux, "POST", "/orgs/acme/refunds", ptr(rbac.User("v", "acme", x.viewer)), nil).Code)

	// An extractor replaces the path value entirely.
	g2 := newGuard(t, x.pol, rbac.WithOrgExtractor(func(r *http.Request) (string, bool) { return "acme", true }))
	h := g2.Require(x.refund)(http.HandlerFunc(reached))
	require.Equal(t, http.StatusTeapot, do(h, "POST", "/anything", fin, nil).Code)
	require.Len(t, rec.got, 3)
}

func TestAPIKeyOverHTTPAfterOwnerDemotion(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	members := &roles{m: map[string]rbac.Role{"acme/alice": x.admin}}
	key := rbac.APIKey("k1", "acme", "alice", []rbac.Permission{x.approve}, members.lookup)
	r := newRouter(t, x.pol)
	r.HandleFunc("POST /orgs/{org}/payouts/{id}/approve", x.approve, reached)
	require.Equal(t, http.StatusTeapot, do(r, "POST", "/orgs/acme/payouts/1/approve", &key, nil).Code)
	members.set("acme/alice", x.viewer)
	w := do(r, "POST", "/orgs/acme/payouts/1/approve", &key, nil)
	require.Equal(t, http.StatusForbidden, w.Code)
	require.Equal(t, "payouts.approve", decodeProblem(t, w).Permission)
}

// TestDenialNotRecordedAnswers503: a denial the recorder fails to record
// is still a denial, answered 503 with Retry-After, never a 403 the audit
// trail lacks; once the recorder works again, the retry is a recorded 403.
// Through the Router and through Guard.Require, for every kind of 403.
func TestDenialNotRecordedAnswers503(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	viewer := ptr(rbac.User("v", "acme", x.viewer))
	stranger := ptr(rbac.User("s", "globex", x.viewer))
	cases := []struct {
		name   string
		target string
		who    *rbac.Principal
	}{
		{"role lacks the permission", "/orgs/acme/x", viewer},
		{"wrong organisation", "/orgs/acme/x", stranger},
	}
	for _, tc := range cases {
		for _, via := range []string{"router", "guard"} {
			t.Run(tc.name+"/"+via, func(t *testing.T) {
				rec := &fakeRecorder{err: errors.New("audit down")}
				var h http.Handler
				if via == "router" {
					r := newRouter(t, x.pol, rbac.WithRecorder(rec), rbac.WithLogger(discardLogger()))
					r.HandleFunc("GET /orgs/{org}/x", x.approve, reached)
					h = r
				} else {
					g := newGuard(t, x.pol, rbac.WithRecorder(rec), rbac.WithLogger(discardLogger()),
						rbac.WithOrgExtractor(func(*http.Request) (string, bool) { return "acme", true }))
					h = g.Require(x.approve)(http.HandlerFunc(reached))
				}
				w := do(h, "GET", tc.target, tc.who, nil)
				require.Equal(t, http.StatusServiceUnavailable, w.Code, "never 403 unrecorded, never the handler")
				require.Equal(t, "1", w.Header().Get("Retry-After"))
				require.Equal(t, rbac.ProblemDenialNotRecorded, decodeProblem(t, w).Type)
				require.Len(t, rec.got, 1, "the recorder was asked")

				rec.mu.Lock()
				rec.err = nil
				rec.mu.Unlock()
				w = do(h, "GET", tc.target, tc.who, nil)
				require.Equal(t, http.StatusForbidden, w.Code, "the retry is denied and recorded")
				require.Len(t, rec.got, 2)
				require.Equal(t, rbac.ActionAccessDenied, rec.got[1].action)
			})
		}
	}
	// 401 records nothing, so a failing recorder does not change it.
	rec := &fakeRecorder{err: errors.New("audit down")}
	r := newRouter(t, x.pol, rbac.WithRecorder(rec), rbac.WithLogger(discardLogger()))
	r.HandleFunc("GET /orgs/{org}/x", x.approve, reached)
	require.Equal(t, http.StatusUnauthorized, do(r, "GET", "/orgs/acme/x", nil, nil).Code)
	require.Empty(t, rec.got)
}

func TestRoutesAndWithHandlers(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	r := newRouter(t, x.pol)
	r.HandleFunc("GET /orgs/{org}/invoices", x.view, reached)
	r.HandleFunc("GET /healthz", rbac.Public("probe"), reached)
	routes := r.Routes()
	require.Len(t, routes, 2)
	require.Equal(t, "GET", routes[0].Method)
	require.Equal(t, "/orgs/{org}/invoices", routes[0].Path)
	require.Equal(t, "invoices.view", routes[0].Access())
	require.True(t, routes[0].TenantScoped)
	require.True(t, routes[1].Public())
	require.Equal(t, "probe", routes[1].PublicReason)

	var hits []string
	sentinel := r.WithHandlers(func(rt rbac.Route, _ http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits = append(hits, rt.Pattern) })
	})
	require.Equal(t, http.StatusForbidden, do(sentinel, "GET", "/orgs/globex/invoices", ptr(rbac.User("u", "acme", x.viewer)), nil).Code)
	do(sentinel, "GET", "/orgs/acme/invoices", ptr(rbac.User("u", "acme", x.viewer)), nil)
	do(sentinel, "GET", "/healthz", nil, nil)
	require.Equal(t, []string{"GET /orgs/{org}/invoices", "GET /healthz"}, hits)
}

func TestRouterCheckAllocations(t *testing.T) {
	x := newTiny(t)
	r := newRouter(t, x.pol)
	r.HandleFunc("GET /orgs/{org}/invoices", x.view, func(http.ResponseWriter, *http.Request) {})
	req := httptest.NewRequest("GET", "/orgs/acme/invoices", nil)
	req = req.WithContext(rbac.WithPrincipal(req.Context(), rbac.User("u", "acme", x.viewer)))
	g := newGuard(t, x.pol)
	req.SetPathValue("org", "acme")
	require.Zero(t, testing.AllocsPerRun(100, func() {
		if !g.Check(req, x.view).Allowed() {
			panic("denied")
		}
	}))
}

func TestRecordedActorsAndChains(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	members := &roles{m: map[string]rbac.Role{"acme/alice": x.viewer}}
	rec := &fakeRecorder{}
	r := newRouter(t, x.pol, rbac.WithRecorder(rec))
	r.HandleFunc("POST /orgs/{org}/payouts/{id}/approve", x.approve, reached)
	key := rbac.APIKey("k9", "acme", "alice", []rbac.Permission{x.approve}, members.lookup)
	job := rbac.System("cron/payouts", x.viewer)
	require.Equal(t, http.StatusForbidden, do(r, "POST", "/orgs/acme/payouts/1/approve", &key, nil).Code)
	require.Equal(t, http.StatusForbidden, do(r, "POST", "/orgs/globex/payouts/1/approve", &job, nil).Code)
	require.Len(t, rec.got, 2)
	require.Equal(t, recorded{org: "acme", actor: "apikey:k9", action: rbac.ActionAccessDenied, target: "route:POST /orgs/{org}/payouts/{id}/approve",
		payload: map[string]any{"permission": "payouts.approve", "reason": "role_lacks_permission", "method": "POST", "path": "/orgs/acme/payouts/1/approve", "requested_org": "acme"}}, rec.got[0])
	require.Equal(t, "globex", rec.got[1].org, "the system actor's denial goes to the chain of the organisation it acted in")
	require.Equal(t, "system:cron/payouts", rec.got[1].actor)
}

func TestRouterConcurrentRequests(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	rec := &fakeRecorder{}
	r := newRouter(t, x.pol, rbac.WithRecorder(rec))
	r.HandleFunc("GET /orgs/{org}/invoices", x.view, reached)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			p := rbac.User("u", "acme", x.viewer)
			for i := 0; i < 200; i++ {
				org, want := "acme", http.StatusTeapot
				if (g+i)%2 == 1 {
					org, want = "globex", http.StatusForbidden
				}
				if got := do(r, "GET", "/orgs/"+org+"/invoices", &p, nil).Code; got != want {
					t.Errorf("org %s: got %d want %d", org, got, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	require.Len(t, rec.got, 800)
}

type boundOrgKey struct{}

// TestRouterBindsAuthorizedOrg: an allowed request reaches its handler with
// the organisation the router authorised bound to its context (the path's
// on a scoped route, the principal's own on an unscoped one); a public route
// binds none.
func TestRouterBindsAuthorizedOrg(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	bind := func(ctx context.Context, org string) context.Context {
		return context.WithValue(ctx, boundOrgKey{}, org)
	}
	r := newRouter(t, x.pol, rbac.WithAuthorizedOrg(bind))
	seen := func(w http.ResponseWriter, req *http.Request) {
		org, _ := req.Context().Value(boundOrgKey{}).(string)
		w.Header().Set("X-Bound", org)
		w.WriteHeader(http.StatusTeapot)
	}
	r.HandleFunc("GET /orgs/{org}/invoices", x.view, seen)
	r.HandleFunc("GET /me/invoices", x.view, seen)
	r.HandleFunc("GET /healthz", rbac.Public("health"), seen)
	admin := ptr(rbac.User("alice", "acme", x.admin))

	w := do(r, "GET", "/orgs/acme/invoices", admin, nil)
	require.Equal(t, http.StatusTeapot, w.Code)
	require.Equal(t, "acme", w.Header().Get("X-Bound"))
	w = do(r, "GET", "/me/invoices", admin, nil)
	require.Equal(t, "acme", w.Header().Get("X-Bound"), "unscoped: the principal's own organisation")
	w = do(r, "GET", "/healthz", nil, nil)
	require.Equal(t, http.StatusTeapot, w.Code)
	require.Empty(t, w.Header().Get("X-Bound"))
	w = do(r, "GET", "/orgs/globex/invoices", admin, nil)
	require.Equal(t, http.StatusForbidden, w.Code, "a denied request never reaches a handler")
}
