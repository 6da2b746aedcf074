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
