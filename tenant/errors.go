package tenant

import "errors"

// Sentinel errors, matched with errors.Is.
var (
	// ErrNoOrg: the context carries no organisation. Code that must act as a
	// tenant refuses to run rather than run as nobody (or everybody).
	ErrNoOrg = errors.New("tenant: no organisation in the context")
	// ErrInvalidOrg: an organisation ID is empty, too long, not UTF-8 or holds a
	// control character.
	ErrInvalidOrg = errors.New("tenant: invalid organisation ID")
)
