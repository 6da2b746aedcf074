// Package rbac declares a host's permissions and roles, builds them into an
// immutable policy, and enforces one permission on every route of a net/http
// server, inside one organisation.
//
// Threat addressed: a user or API key reaching data or actions beyond its
// role, within its organisation or in another one (cross-tenant access), and
// a route that someone forgot to protect. There is no global "is logged in"
// middleware to bypass: each route is registered with the permission it
// requires, or with an explicit rbac.Public(reason).
//
// # Model
//
// A Registry collects permissions (up to MaxPermissions, names like
// "payouts.approve") and roles, each listing its own permissions and the
// roles it includes. Ladder declares roles that must each be a strict
// superset of the one below. Build reports every problem at once (typed
// *BuildError values matching ErrUnknownPermission, ErrIncludeCycle,
// ErrLadderNotSuperset, ...) and returns a *Policy that never changes and is
// safe for concurrent use. Policy.Can is a bit test: no allocation, a few
// nanoseconds.
//
// A Principal is a User (one role in one organisation), an APIKey (its
// scopes intersected with its owner's CURRENT role, read through a
// RoleLookup at each decision, so demoting the owner shrinks the key at
// once) or the System actor. Policy.PrincipalFor builds a User or an
// APIKey from a Caller, the plain values an authentication layer reports
// (rampart's authn.Identity carries them), and the member's current role
// name: the seam between authentication and rbac, which imports neither
// authn nor any other sibling. Policy.Decide returns a Decision value that
// allocates nothing; when read (String, Err) it explains a denial: not
// authenticated, wrong organisation, role lacks the permission (and the
// lowest role that has it), or the key's scopes lack it. Decision.Err
// matches one sentinel per cause with errors.Is (ErrUnauthenticated,
// ErrWrongOrganisation, ErrRoleLacksPermission, ErrScopeLacksPermission,
// ErrUnknownPermission), and errors.As with a *DeniedError gives the
// Decision itself.
//
// # HTTP
//
// Router wraps http.ServeMux (Go 1.22 patterns). NewRouter and NewGuard
// take the same options and refuse a nil policy or an invalid option (a
// nil recorder, a wildcard name ServeMux would refuse) with an error
// wrapping ErrInvalidConfig. A Router's registration methods
// take an Access: a Permission or Public(reason). The organisation comes from
// the {org} path wildcard (WithOrgPathValue) or a host extractor
// (WithOrgExtractor) and must equal the principal's, else 403 before the
// handler runs; query strings and headers are never consulted. Denials are
// RFC 9457 application/problem+json bodies naming the missing permission and
// nothing internal, and 403s go to a Recorder (rampart's audit log satisfies
// it, and so does auditlog/pgstore's OutboxRecorder, which survives a
// brief database outage) as ActionAccessDenied. A 403 is only answered once
// its denial is recorded: when the Recorder fails, the request is still
// denied but answered 503 (ProblemDenialNotRecorded) with Retry-After, so
// no client sees a 403 that the audit trail lacks. Guard.Require gives the same enforcement as
// func(http.Handler) http.Handler middleware for chi or gorilla/mux.
// Router.WriteRoutes and Policy.WriteMatrix export the route × permission
// table and the role × permission matrix as Markdown, CSV or JSON.
//
// Package rbac/rbactest checks a router in one call; rbac/examplepolicy is
// the example app's six-role policy (an example, not a default).
//
// # State
//
// rbac keeps no state: roles and memberships live in the host's own tables
// and reach rbac through principals and the RoleLookup. It therefore has no
// Store and no pgstore.
package rbac
