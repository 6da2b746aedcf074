package examplepolicy

import "github.com/rampart-sdk/rampart/rbac"

// Internal identifiers exported for tests.

// Technical returns the permissions engineer has beyond owner.
func (e *Example) Technical() []rbac.Permission { return e.technical() }

// Ladder returns the five laddered roles, lowest first.
func (e *Example) Ladder() []rbac.Role { return e.ladder() }
