package rbac

// Internal identifiers exported for tests.

var (
	MarkdownCell = markdownCell
	ValidateName = validateName
)

// MatrixJSON is the JSON form of WriteMatrix.
type MatrixJSON = matrixJSON

// RouteJSON is one row of the JSON form of WriteRoutes.
type RouteJSON = routeJSON

// Matrix returns the data WriteMatrix writes.
func (p *Policy) Matrix() MatrixJSON { return p.matrix() }

// RouteTable returns the data WriteRoutes writes.
func (rt *Router) RouteTable() []RouteJSON { return rt.routeTable() }

// Limits, for the tests that reach them.
const (
	MaxRoles      = maxRoles
	MaxNameLength = maxNameLength
)

// GrantsNamed adds permissions by name, resolved by Build: an undeclared
// one is reported as ErrUnknownPermission. It reaches the name-resolution
// errors that the handle-based Grants cannot produce.
func (r Role) GrantsNamed(names ...string) Role {
	c := r.mustDeclare()
	c.roles[r.idx].grants = append(c.roles[r.idx].grants, names...)
	return r
}

// IncludesNamed includes roles by name, resolved by Build.
func (r Role) IncludesNamed(names ...string) Role {
	c := r.mustDeclare()
	c.roles[r.idx].includes = append(c.roles[r.idx].includes, names...)
	return r
}

// LadderNamed is Ladder by role names, resolved by Build.
func (reg *Registry) LadderNamed(lowestFirst ...string) {
	reg.c.mustBeOpen()
	reg.c.ladders = append(reg.c.ladders, append([]string(nil), lowestFirst...))
}

// Access returns the route's permission name, or "public".
func (r Route) Access() string { return r.accessName() }
