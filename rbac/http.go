package rbac

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
)

// Access is what a route requires: a Permission, or Public(reason). Route
// registration takes an Access and nothing else, so a protected route
// without a permission cannot be written, and a public one says why.
type Access interface{ access() }

// publicAccess marks a route anyone may call.
type publicAccess struct{ reason string }

func (publicAccess) access() {}

// Public marks a route as deliberately unauthenticated, with the reason a
// reviewer will read in Routes() (Route.PublicReason) and the route table
// ("load balancer health check", "OAuth callback"). An empty reason is
// refused at registration.
func Public(reason string) Access { return publicAccess{reason: reason} }

// Recorder is rampart's audit seam. authn, mfa, rbac, privacy, compliance
// and compliance/nec1099 each declare this same method (a core package
// imports no sibling), so one *auditlog.Log, or one adapter of a host's own
// trail, records for all of them. org "" is the global chain; actor is
// "user:<id>", "apikey:<id>" or "system:<source>"; target is "<type>:<id>"
// or "". *auditlog.Log refuses an unregistered action and a malformed actor
// or target, so arguments passed in the wrong order fail instead of being
// recorded.
//
// rbac records each denial (ActionAccessDenied).
type Recorder interface {
	Record(ctx context.Context, org, actor, action, target string, payload map[string]any) error
}

// ActionAccessDenied is the audit action recorded for each 403.
const ActionAccessDenied = "rbac.access_denied"

// AuditActions lists the audit actions rbac emits, for the host to register
// with its audit log at startup.
func AuditActions() []string { return []string{ActionAccessDenied} }

// Route describes one registered route, for review and for rbactest.
type Route struct {
	Pattern      string     // as registered, e.g. "POST /orgs/{org}/payouts/{id}/approve"
	Method       string     // "" when the pattern has none
	Path         string     // the pattern without method (and with host, if any)
	Permission   Permission // zero for public routes
	PublicReason string     // non-empty for public routes
	TenantScoped bool       // the organisation comes from the path or the extractor
}

// Public reports whether the route is public.
func (r Route) Public() bool { return r.Permission.IsZero() }

// accessName returns the permission name, or "public".
func (r Route) accessName() string {
	if r.Public() {
		return "public"
	}
	return r.Permission.Name()
}

// Router wraps an http.ServeMux so that every route is registered with its
// permission or an explicit public reason. It implements http.Handler.
// Registration panics with a *RouteError on a duplicate or unprotected
// route, as ServeMux does for conflicts, so mistakes stop startup.
//
// A protected route is tenant-scoped when its pattern has the organisation
// wildcard ({org} by default) or the router has an extractor; the request's
// organisation must then equal the principal's. A protected route with
// neither ("GET /me/invoices") acts in the principal's own organisation:
// the permission is still checked, and Routes() marks it TenantScoped false
// for review.
type Router struct {
	policy *Policy
	cfg    config
	guard  *Guard
	mux    *http.ServeMux

	mu       sync.Mutex
	routes   []Route
	handlers []http.Handler // original handlers, by route index
	byKey    map[string]int
}

// NewRouter returns an empty router enforcing policy. A nil policy or an
// invalid option returns an error wrapping ErrInvalidConfig that names it.
func NewRouter(policy *Policy, opts ...RouterOption) (*Router, error) {
	cfg, err := newConfig("NewRouter", policy, opts, RouterOption.applyRouter)
	if err != nil {
		return nil, err
	}
	return &Router{policy: policy, cfg: cfg, guard: &Guard{policy: policy, cfg: cfg}, mux: http.NewServeMux(), byKey: map[string]int{}}, nil
}

// Handle registers h for pattern (a Go 1.22 ServeMux pattern) behind access.
func (rt *Router) Handle(pattern string, access Access, h http.Handler) {
	route := rt.route(pattern, access)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	key := normalisePattern(pattern)
	if i, dup := rt.byKey[key]; dup {
		prev := rt.routes[i]
		panic(&RouteError{Err: ErrDuplicateRoute, Pattern: pattern,
			Detail: fmt.Sprintf("already registered as %q with access %q; now with %q", prev.Pattern, prev.accessName(), route.accessName())})
	}
	rt.register(route, h)
	rt.byKey[key] = len(rt.routes)
	rt.routes = append(rt.routes, route)
	rt.handlers = append(rt.handlers, h)
}

// HandleFunc is Handle for a function.
func (rt *Router) HandleFunc(pattern string, access Access, h func(http.ResponseWriter, *http.Request)) {
	rt.Handle(pattern, access, http.HandlerFunc(h))
}

func (rt *Router) route(pattern string, access Access) Route {
	method, path := splitPattern(pattern)
	r := Route{Pattern: pattern, Method: method, Path: path}
	switch a := access.(type) {
	case Permission:
		if !rt.policy.Owns(a) {
			panic(&RouteError{Err: ErrNoAccess, Pattern: pattern, Detail: fmt.Sprintf("permission %q is not declared by the router's policy", a.Name())})
		}
		r.Permission = a
		r.TenantScoped = rt.cfg.orgFrom != nil || hasWildcard(path, rt.cfg.orgParam)
	case publicAccess:
		if strings.TrimSpace(a.reason) == "" {
			panic(&RouteError{Err: ErrNoAccess, Pattern: pattern, Detail: "rbac.Public needs a reason"})
		}
		r.PublicReason = a.reason
	default:
		panic(&RouteError{Err: ErrNoAccess, Pattern: pattern, Detail: "pass a Permission or rbac.Public(reason)"})
	}
	return r
}

// register adds the guarded handler to the mux, turning ServeMux's string
// panic for conflicting patterns into a *RouteError.
func (rt *Router) register(route Route, h http.Handler) {
	defer func() {
		if v := recover(); v != nil {
			panic(&RouteError{Err: ErrConflictingRoute, Pattern: route.Pattern, Detail: fmt.Sprint(v)})
		}
	}()
	rt.mux.Handle(route.Pattern, rt.wrap(route, h))
}

func (rt *Router) wrap(route Route, h http.Handler) http.Handler {
	if route.Public() {
		return h
	}
	return &guarded{g: rt.guard, route: route, next: h}
}

// ServeHTTP dispatches to the registered routes.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.mux.ServeHTTP(w, r) }

// Routes lists every route in registration order.
func (rt *Router) Routes() []Route {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]Route(nil), rt.routes...)
}

// WithHandlers returns a router with the same routes, permissions and
// options whose handlers are replaced by wrap(route, original). rbactest
// uses it to reach sentinels instead of the host's real handlers; a host may
// use it to instrument every route.
func (rt *Router) WithHandlers(wrap func(Route, http.Handler) http.Handler) http.Handler {
	rt.mu.Lock()
	routes := append([]Route(nil), rt.routes...)
	handlers := append([]http.Handler(nil), rt.handlers...)
	rt.mu.Unlock()
	out := &Router{policy: rt.policy, cfg: rt.cfg, guard: rt.guard, mux: http.NewServeMux(), byKey: map[string]int{}}
	for i, r := range routes {
		access := Access(r.Permission)
		if r.Public() {
			access = Public(r.PublicReason)
		}
		out.Handle(r.Pattern, access, wrap(r, handlers[i]))
	}
	return out
}

// Guard is the enforcement of a Router without its mux, for other routers
// (chi, gorilla/mux): Require(perm) returns their middleware type.
type Guard struct {
	policy *Policy
	cfg    config
}

// NewGuard returns a guard enforcing policy with the same options as a
// Router. A nil policy or an invalid option returns an error wrapping
// ErrInvalidConfig that names it.
func NewGuard(policy *Policy, opts ...GuardOption) (*Guard, error) {
	cfg, err := newConfig("NewGuard", policy, opts, GuardOption.applyGuard)
	if err != nil {
		return nil, err
	}
	return &Guard{policy: policy, cfg: cfg}, nil
}

// Require returns middleware that lets a request through only if its
// principal holds perm in the organisation the request targets. The
// organisation comes from the extractor (WithOrgExtractor) or the path value
// (r.PathValue, which chi 5.1+ and ServeMux set); when neither yields one the
// request is refused: middleware cannot know a route is unscoped, so it
// fails closed. It panics at wiring time for a zero or foreign permission.
func (g *Guard) Require(perm Permission) func(http.Handler) http.Handler {
	if !g.policy.Owns(perm) {
		panic(&RouteError{Err: ErrNoAccess, Pattern: "(middleware)", Detail: fmt.Sprintf("permission %q is not declared by the guard's policy", perm.Name())})
	}
	route := Route{Permission: perm, TenantScoped: true}
	return func(next http.Handler) http.Handler {
		return &guarded{g: g, route: route, next: next}
	}
}

// Check decides one request: the principal from the request, the
// organisation from the extractor or path value.
func (g *Guard) Check(r *http.Request, perm Permission) Decision {
	return g.check(r, Route{Permission: perm, TenantScoped: true})
}

func (g *Guard) check(r *http.Request, route Route) Decision {
	d, _ := g.checkOrg(r, route)
	return d
}

// checkOrg decides a request and returns the organisation it targeted.
func (g *Guard) checkOrg(r *http.Request, route Route) (Decision, string) {
	principal, ok := g.cfg.principal(r)
	if !ok {
		return Decision{c: route.Permission.c, bits: pack(route.Permission.idx, 0, reasonUnauthenticated, false)}, ""
	}
	p := principal.get()
	org := p.org // unscoped routes act in the principal's own organisation
	if route.TenantScoped {
		org = ""
		if g.cfg.orgFrom != nil {
			if o, ok := g.cfg.orgFrom(r); ok {
				org = o
			}
		} else {
			org = r.PathValue(g.cfg.orgParam)
		}
		if org == "" && p.authenticated() {
			return Decision{c: route.Permission.c, pr: principal.p, bits: pack(route.Permission.idx, 0, reasonWrongOrganisation, false)}, ""
		}
	}
	return g.policy.Decide(principal, route.Permission, org), org
}

type guarded struct {
	g     *Guard
	route Route
	next  http.Handler
}

func (h *guarded) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d, org := h.g.checkOrg(r, h.route)
	if d.Allowed() {
		if h.g.cfg.bind != nil && org != "" {
			r = r.WithContext(h.g.cfg.bind(r.Context(), org))
		}
		h.next.ServeHTTP(w, r)
		return
	}
	h.g.deny(w, r, h.route, d, org)
}

// problem is an RFC 9457 problem details body.
type problem struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Status     int    `json:"status"`
	Detail     string `json:"detail"`
	Permission string `json:"permission,omitempty"`
}

// Problem type URIs, stable so clients can branch on them.
const (
	ProblemUnauthenticated    = "urn:rampart:rbac:unauthenticated"
	ProblemWrongOrganisation  = "urn:rampart:rbac:wrong-organisation"
	ProblemPermissionRequired = "urn:rampart:rbac:permission-required"
	// ProblemDenialNotRecorded is the 503 of a denial the Recorder could
	// not record: the request is denied, and may be retried.
	ProblemDenialNotRecorded = "urn:rampart:rbac:denial-not-recorded"
)

// denialRetryAfter is the Retry-After of ProblemDenialNotRecorded, in
// seconds: long enough for a database connection to be replaced.
const denialRetryAfter = "1"

func (g *Guard) deny(w http.ResponseWriter, r *http.Request, route Route, d Decision, target string) {
	perm := route.Permission.Name()
	pb := problem{Permission: perm}
	switch d.reason() {
	case reasonUnauthenticated:
		pb.Type, pb.Title, pb.Status = ProblemUnauthenticated, "Authentication required", http.StatusUnauthorized
		pb.Detail = fmt.Sprintf("This request requires authentication and the permission %q.", perm)
	case reasonWrongOrganisation:
		pb.Type, pb.Title, pb.Status = ProblemWrongOrganisation, "Forbidden", http.StatusForbidden
		pb.Detail = fmt.Sprintf("The requested organisation is not yours; this request requires the permission %q in it.", perm)
	case reasonScopeLacksPermission:
		pb.Type, pb.Title, pb.Status = ProblemPermissionRequired, "Forbidden", http.StatusForbidden
		pb.Detail = fmt.Sprintf("The API key's scopes do not include the permission %q.", perm)
	default:
		pb.Type, pb.Title, pb.Status = ProblemPermissionRequired, "Forbidden", http.StatusForbidden
		pb.Detail = fmt.Sprintf("This request requires the permission %q.", perm)
	}
	h := w.Header()
	if pb.Status == http.StatusForbidden && !g.record(r, route, d, target) {
		// Never a 403 that the audit trail lacks: a client that retries
		// gets its denial recorded, one that does not learns nothing more
		// than it would from the 403.
		pb = problem{Type: ProblemDenialNotRecorded, Title: "Service Unavailable", Status: http.StatusServiceUnavailable,
			Detail: "The request is denied, and the denial could not be recorded; retry the request."}
		h.Set("Retry-After", denialRetryAfter)
	}
	body, _ := json.Marshal(pb)
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(pb.Status)
	_, _ = w.Write(body)
}

// record sends a denial to the recorder and reports whether it was
// recorded (true when there is no recorder).
func (g *Guard) record(r *http.Request, route Route, d Decision, requested string) bool {
	if g.cfg.recorder == nil {
		return true
	}
	pr := d.who()
	actor := pr.actor()
	org := pr.org
	if pr.kind == SystemKind {
		org = requested
	}
	target := ""
	if route.Pattern != "" {
		target = "route:" + route.Pattern
	}
	payload := map[string]any{
		"permission":    route.Permission.Name(),
		"reason":        d.reason().String(),
		"method":        r.Method,
		"path":          r.URL.Path,
		"requested_org": requested,
	}
	if err := g.cfg.recorder.Record(r.Context(), org, actor, ActionAccessDenied, target, payload); err != nil {
		l := g.cfg.logger
		if l == nil {
			l = slog.Default()
		}
		l.WarnContext(r.Context(), "rbac: recording a denial failed, answering 503", "error", err, "permission", route.Permission.Name())
		return false
	}
	return true
}

// splitPattern splits "GET /a/{b}" into "GET" and "/a/{b}".
func splitPattern(pattern string) (method, path string) {
	p := strings.TrimLeft(pattern, " \t")
	if i := strings.IndexAny(p, " \t"); i >= 0 {
		return p[:i], strings.TrimLeft(p[i:], " \t")
	}
	return "", p
}

// normalisePattern makes equivalent spellings of one pattern compare equal:
// the method and path with whitespace collapsed and wildcard names erased.
func normalisePattern(pattern string) string {
	method, path := splitPattern(pattern)
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte(' ')
	for i := 0; i < len(path); i++ {
		if path[i] == '{' {
			j := strings.IndexByte(path[i:], '}')
			if j > 0 {
				w := path[i+1 : i+j]
				switch {
				case w == "$":
					b.WriteString("{$}")
				case strings.HasSuffix(w, "..."):
					b.WriteString("{...}")
				default:
					b.WriteString("{}")
				}
				i += j
				continue
			}
		}
		b.WriteByte(path[i])
	}
	return b.String()
}

// hasWildcard reports whether path has the wildcard {name} or {name...}.
func hasWildcard(path, name string) bool {
	return strings.Contains(path, "{"+name+"}") || strings.Contains(path, "{"+name+"...}")
}
