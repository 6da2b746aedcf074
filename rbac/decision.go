package rbac

import "fmt"

// reasonCode says why a Decision came out as it did. It is unexported on
// purpose: a caller asks why a request was refused with errors.Is on
// Decision.Err (ErrUnauthenticated, ErrWrongOrganisation, ...), the one
// way the package offers, as io/fs does with fs.ErrNotExist, and reads the
// details (permission, role, lowest role) from the *DeniedError with
// errors.As. A parallel exported enum would be a second way to ask the
// same question.
type reasonCode uint8

const (
	// The zero reasonCode names no reason, so a zero Decision is a denial.
	_ reasonCode = iota
	// reasonAllowed: the principal holds the permission in this organisation.
	reasonAllowed
	// reasonUnauthenticated: there is no (complete) principal.
	reasonUnauthenticated
	// reasonWrongOrganisation: the request targets another organisation.
	reasonWrongOrganisation
	// reasonRoleLacksPermission: the role (an API key's owner's current
	// role) does not grant the permission.
	reasonRoleLacksPermission
	// reasonScopeLacksPermission: the API key's scopes do not include it.
	reasonScopeLacksPermission
	// reasonUnknownPermission: the permission is not one of this policy's.
	reasonUnknownPermission
)

var reasonNames = [...]string{"unknown", "allowed", "unauthenticated", "wrong_organisation",
	"role_lacks_permission", "scope_lacks_permission", "unknown_permission"}

// String returns a stable snake_case name, used in audit payloads.
func (r reasonCode) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Decision is the outcome of Policy.Decide. It is a small plain value that
// fits in registers: building it allocates nothing, and its explanation is
// only formatted when String or Err is called, so an allowed request pays
// for none of it.
//
// It is three words on purpose: the compiler keeps a struct this small in
// registers instead of copying it through memory, which halves the cost of
// Decide. (So it does not repeat the organisation asked for: the caller has
// it.)
type Decision struct {
	c    *core      // the permission's policy
	pr   *principal // who asked (nil: nobody)
	bits uint64     // see pack
}

// pack packs a decision's small fields: the permission index (bits 0-15),
// the index+1 of the role checked or 0 (16-31), the reason (32-39) and
// whether an API key's owner has no current role (bit 40).
func pack(perm, role uint32, reason reasonCode, noOwner bool) uint64 {
	b := uint64(perm&0xffff) | uint64(role&0xffff)<<16 | uint64(reason)<<32
	if noOwner {
		b |= 1 << 40
	}
	return b
}

func (d Decision) permIdx() uint32    { return uint32(d.bits & 0xffff) }
func (d Decision) roleIdx() uint32    { return uint32(d.bits>>16) & 0xffff }
func (d Decision) reason() reasonCode { return reasonCode(d.bits >> 32) }
func (d Decision) noOwner() bool      { return d.bits&(1<<40) != 0 }

func (d Decision) who() *principal {
	if d.pr == nil {
		return anonymous
	}
	return d.pr
}

// Allowed reports whether the action may proceed.
func (d Decision) Allowed() bool { return d.reason() == reasonAllowed }

// Permission returns the permission that was asked for.
func (d Decision) Permission() Permission {
	if d.c == nil {
		return Permission{}
	}
	return Permission{c: d.c, idx: d.permIdx()}
}

// Role returns the role that was checked: the user's or system actor's, or an
// API key owner's current role.
func (d Decision) Role() Role {
	if d.roleIdx() == 0 || d.c == nil {
		return Role{}
	}
	return Role{c: d.c, idx: d.roleIdx() - 1}
}

// LowestRole returns the smallest role that grants the permission, so a
// denial can say whom to ask ("financial_admin can approve payouts").
func (d Decision) LowestRole() (Role, bool) {
	c := d.c
	if c == nil || !c.built || c.lowest[d.permIdx()] < 0 {
		return Role{}, false
	}
	return Role{c: c, idx: uint32(c.lowest[d.permIdx()])}, true
}

// Err returns nil when allowed, else a *DeniedError that matches
// ErrUnauthenticated, ErrWrongOrganisation, ErrRoleLacksPermission,
// ErrScopeLacksPermission or ErrUnknownPermission with errors.Is.
func (d Decision) Err() error {
	if d.Allowed() {
		return nil
	}
	return &DeniedError{Decision: d}
}

// String explains the decision in one line, for logs and operators. It names
// the permission and roles, never secrets.
func (d Decision) String() string {
	pr := d.who()
	who := pr.kind.String()
	if pr.id != "" {
		who += " " + fmt.Sprintf("%q", pr.id)
	}
	perm := fmt.Sprintf("%q", d.Permission().Name())
	switch d.reason() {
	case reasonAllowed:
		return fmt.Sprintf("rbac: allowed: %s holds %s", who, perm)
	case reasonUnauthenticated:
		return fmt.Sprintf("rbac: denied: not authenticated; %s requires authentication", perm)
	case reasonWrongOrganisation:
		return fmt.Sprintf("rbac: denied: %s of organisation %q asked for another organisation", who, pr.org)
	case reasonRoleLacksPermission:
		var msg string
		if d.noOwner() {
			msg = fmt.Sprintf("rbac: denied: %s: its owner has no current role in organisation %q", who, pr.org)
		} else {
			subject := fmt.Sprintf("role %q", d.Role().Name())
			if pr.kind == APIKeyKind {
				subject = "owner's current " + subject
			}
			msg = fmt.Sprintf("rbac: denied: %s: %s lacks %s", who, subject, perm)
		}
		if low, ok := d.LowestRole(); ok {
			msg += fmt.Sprintf(" (lowest role granting it: %q)", low.Name())
		} else {
			msg += " (no role grants it)"
		}
		return msg
	case reasonScopeLacksPermission:
		return fmt.Sprintf("rbac: denied: %s: key scopes lack %s", who, perm)
	case reasonUnknownPermission:
		return "rbac: denied: permission is not declared by this policy"
	}
	return "rbac: denied"
}

// DeniedError is a denial as an error.
type DeniedError struct{ Decision Decision }

// Error explains the denial (see Decision.String).
func (e *DeniedError) Error() string { return e.Decision.String() }

// Unwrap returns the sentinel of the decision's reason.
func (e *DeniedError) Unwrap() error {
	switch e.Decision.reason() {
	case reasonUnauthenticated:
		return ErrUnauthenticated
	case reasonWrongOrganisation:
		return ErrWrongOrganisation
	case reasonRoleLacksPermission:
		return ErrRoleLacksPermission
	case reasonScopeLacksPermission:
		return ErrScopeLacksPermission
	case reasonUnknownPermission:
		return ErrUnknownPermission
	}
	return nil
}

// Decide says whether principal may use perm in organisation org, and if not,
// why. Users and API keys may act only in their own organisation; the system
// actor in any. For an API key the permission must be in its scopes and in
// its owner's current role (read through the key's RoleLookup now). Decide
// allocates nothing; the explanation is built only if read.
func (p *Policy) Decide(principal Principal, perm Permission, org string) Decision {
	reason, role, noOwner := p.decide(principal.get(), perm, org)
	return Decision{perm.c, principal.p, uint64(perm.idx&0xffff) | uint64(role)<<16 | uint64(reason)<<32 | uint64(noOwner)<<40}
}

// decide returns the reason, the index+1 of the role checked (0: none) and
// 1 when an API key's owner has no current role.
func (p *Policy) decide(pr *principal, perm Permission, org string) (reasonCode, uint32, uint8) {
	if !pr.authenticated() {
		return reasonUnauthenticated, 0, 0
	}
	c := p.c
	if perm.c != c || c == nil {
		return reasonUnknownPermission, 0, 0
	}
	if pr.kind != SystemKind && pr.org != org {
		return reasonWrongOrganisation, 0, 0
	}
	switch pr.kind {
	case UserKind, SystemKind:
		if pr.role.c != c {
			return reasonRoleLacksPermission, 0, 0
		}
		if !c.sets[pr.role.idx].has(perm.idx) {
			return reasonRoleLacksPermission, pr.role.idx + 1, 0
		}
		return reasonAllowed, pr.role.idx + 1, 0
	case APIKeyKind:
		if set := pr.scopesIn(c); set == nil || !set.has(perm.idx) {
			return reasonScopeLacksPermission, 0, 0
		}
		role, ok := pr.lookup(pr.org, pr.ownerID)
		if !ok || role.c != c {
			return reasonRoleLacksPermission, 0, 1
		}
		if !c.sets[role.idx].has(perm.idx) {
			return reasonRoleLacksPermission, role.idx + 1, 0
		}
		return reasonAllowed, role.idx + 1, 0
	}
	return reasonUnauthenticated, 0, 0
}
