package rbac

import (
	"errors"
	"fmt"
)

// Policy build errors. Build reports every problem it finds, joined with
// errors.Join, each as a *BuildError that matches one of these with errors.Is,
// so a host fails at startup with the whole list instead of one at a time.
var (
	// ErrInvalidName reports a permission or role name outside the grammar:
	// one or more dot-separated segments, each a lower-case ASCII letter
	// followed by lower-case letters, digits or underscores, at most
	// 64 bytes in all ("payouts.approve", "financial_admin",
	// "infra.logs.view"). The narrow grammar keeps names safe in URLs, CSV,
	// Markdown, audit payloads and Casbin policy lines without escaping.
	ErrInvalidName = errors.New("rbac: invalid name")
	// ErrDuplicatePermission reports a permission declared twice: two
	// declarations with one name would make the policy ambiguous.
	ErrDuplicatePermission = errors.New("rbac: duplicate permission")
	// ErrDuplicateRole reports a role declared twice.
	ErrDuplicateRole = errors.New("rbac: duplicate role")
	// ErrUnknownPermission reports a permission that was never declared in
	// this registry (a zero Permission, or a handle from another registry): at Build, granted to a role; at Decide, asked for (then
	// from Decision.Err). It is one sentinel for both because it answers one
	// question, as fs.ErrNotExist does for Open and Stat.
	ErrUnknownPermission = errors.New("rbac: unknown permission")
	// ErrUnknownRole reports an include or ladder step naming a role that was
	// never declared in this registry.
	ErrUnknownRole = errors.New("rbac: unknown role")
	// ErrIncludeCycle reports roles that include each other, directly or not.
	ErrIncludeCycle = errors.New("rbac: role include cycle")
	// ErrLadderStepAddsNothing reports a ladder step whose permissions equal
	// the step below: the ladder promised a strict superset.
	ErrLadderStepAddsNothing = errors.New("rbac: ladder step adds nothing")
	// ErrLadderNotSuperset reports a ladder step that lacks a permission of
	// the step below it.
	ErrLadderNotSuperset = errors.New("rbac: ladder step is not a superset")
	// ErrTooManyPermissions reports more than MaxPermissions declarations.
	ErrTooManyPermissions = errors.New("rbac: too many permissions")
	// ErrTooManyRoles reports more than 4096 role declarations.
	ErrTooManyRoles = errors.New("rbac: too many roles")
	// ErrAlreadyBuilt reports a second Build of one registry: a policy is
	// immutable, so its registry is frozen once built.
	ErrAlreadyBuilt = errors.New("rbac: registry already built")
)

// Decision errors, returned by Decision.Err (with ErrUnknownPermission).
// They tell the caller why a request was refused; none of them says
// anything about other tenants. Match them with errors.Is; errors.As with a
// *DeniedError gives the Decision (permission, role, lowest role).
var (
	// ErrUnauthenticated: there is no principal (or an incomplete one).
	ErrUnauthenticated = errors.New("rbac: not authenticated")
	// ErrWrongOrganisation: the request targets another organisation than the
	// principal's own.
	ErrWrongOrganisation = errors.New("rbac: wrong organisation")
	// ErrRoleLacksPermission: the principal's role (for an API key: its
	// owner's current role) does not grant the permission.
	ErrRoleLacksPermission = errors.New("rbac: role lacks permission")
	// ErrScopeLacksPermission: the API key's scopes do not include the
	// permission, whatever its owner's role grants.
	ErrScopeLacksPermission = errors.New("rbac: key scopes lack permission")
)

// Route registration errors, raised (as a panic carrying a *RouteError, like
// http.ServeMux does for conflicting patterns) when a route is registered, so
// they surface at startup and never at request time.
var (
	// ErrDuplicateRoute reports a pattern registered twice, in particular
	// with two different permissions.
	ErrDuplicateRoute = errors.New("rbac: duplicate route")
	// ErrNoAccess reports a registration without a usable permission or
	// public reason (a nil Access, a zero Permission, an empty reason).
	ErrNoAccess = errors.New("rbac: route declares no permission")
	// ErrConflictingRoute reports a pattern that http.ServeMux refuses.
	ErrConflictingRoute = errors.New("rbac: conflicting route")
)

// ErrInvalidConfig reports a nil policy or an option outside its allowed
// range, given to NewRouter or NewGuard; the error names the option.
var ErrInvalidConfig = errors.New("rbac: invalid configuration")

// BuildError is one problem found by Registry.Build. Subject names the
// permission, role or ladder concerned.
type BuildError struct {
	Err     error  // one of the ErrXxx build sentinels
	Subject string // e.g. `role "support"`
	Detail  string // human explanation
}

// Error names the sentinel, the subject and the detail.
func (e *BuildError) Error() string {
	msg := e.Err.Error()
	if e.Subject != "" {
		msg += ": " + e.Subject
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the sentinel, for errors.Is.
func (e *BuildError) Unwrap() error { return e.Err }

// RouteError is the value a Router or Guard panics with when a route cannot
// be registered safely.
type RouteError struct {
	Err     error // ErrDuplicateRoute, ErrNoAccess or ErrConflictingRoute
	Pattern string
	Detail  string
}

// Error names the sentinel, the pattern and the detail.
func (e *RouteError) Error() string {
	msg := fmt.Sprintf("%s: pattern %q", e.Err.Error(), e.Pattern)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the sentinel, for errors.Is.
func (e *RouteError) Unwrap() error { return e.Err }
