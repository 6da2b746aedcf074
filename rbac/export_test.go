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

// GrantsNamed adds permissions by name (resolved by Build).
func (r Role) GrantsNamed(names ...string) Role { return r.grantsNamed(names...) }

// IncludesNamed includes roles by name (resolved by Build).
func (r Role) IncludesNamed(names ...string) Role { return r.includesNamed(names...) }

// LadderNamed is Ladder by role names (resolved by Build).
func (reg *Registry) LadderNamed(lowestFirst ...string) { reg.ladderNamed(lowestFirst...) }

// Access returns the route's permission name, or "public".
func (r Route) Access() string { return r.accessName() }
