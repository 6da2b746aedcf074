package rbac

import (
	"fmt"
	"math/bits"
)

// MaxPermissions is how many permissions one registry can declare. Each role
// is a fixed-size bitset of this many bits, so Can is one word test.
const MaxPermissions = 512

const setWords = MaxPermissions / 64

// maxRoles is how many roles one registry can declare; far more than any
// role model a human can review.
const maxRoles = 4096

// bitset is a set of permission indexes.
type bitset [setWords]uint64

func (b *bitset) add(i uint32)      { b[i>>6] |= 1 << (i & 63) }
func (b *bitset) has(i uint32) bool { return b[i>>6]&(1<<(i&63)) != 0 }
func (b *bitset) union(o *bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}
func (b *bitset) subsetOf(o *bitset) bool {
	for i := range b {
		if b[i]&^o[i] != 0 {
			return false
		}
	}
	return true
}
func (b *bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

type permDef struct {
	name, description string
}

type roleDef struct {
	name, description string
	grants            []string // permission names, resolved at Build
	includes          []string // role names, resolved at Build
}

// core is what a Registry declares and, once built, what its Policy reads.
// Permission and Role handles point at it; a handle of another core is
// unknown to a policy, which fails closed.
type core struct {
	perms   []permDef
	permIdx map[string]uint32
	roles   []roleDef
	roleIdx map[string]uint32
	ladders [][]string
	errs    []error
	built   bool

	// Set by Build, read-only afterwards.
	sets   []bitset // per role: own and included permissions
	lowest []int32  // per permission: index of the smallest role granting it, or -1
}

func (c *core) mustBeOpen() {
	if c.built {
		panic(ErrAlreadyBuilt.Error() + ": declare permissions and roles before Build")
	}
}

// Registry collects a host's permissions and roles. It is a builder used once
// at startup by one goroutine; Build turns it into an immutable Policy and
// freezes it.
type Registry struct{ c *core }

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{c: &core{permIdx: map[string]uint32{}, roleIdx: map[string]uint32{}}}
}

// Permission is a declared permission. It is a small comparable value: pass
// it by value, compare it with ==, keep it in a struct field so call sites
// read like rbac routes do (perm.PayoutsApprove). The zero Permission belongs
// to no policy and is never granted.
type Permission struct {
	c   *core
	idx uint32
}

// Name returns the permission's name, e.g. "payouts.approve".
func (p Permission) Name() string {
	if p.c == nil {
		return ""
	}
	return p.c.perms[p.idx].name
}

// Description returns the human description given at declaration.
func (p Permission) Description() string {
	if p.c == nil {
		return ""
	}
	return p.c.perms[p.idx].description
}

// String returns the name, so a Permission prints well in logs and errors.
func (p Permission) String() string { return p.Name() }

// IsZero reports whether p is the zero Permission.
func (p Permission) IsZero() bool { return p.c == nil }

func (Permission) access() {}

// Role is a declared role. Like Permission it is a comparable value; the zero
// Role grants nothing.
type Role struct {
	c   *core
	idx uint32
}

// Name returns the role's name, e.g. "financial_admin".
func (r Role) Name() string {
	if r.c == nil {
		return ""
	}
	return r.c.roles[r.idx].name
}

// Description returns the human description given at declaration.
func (r Role) Description() string {
	if r.c == nil {
		return ""
	}
	return r.c.roles[r.idx].description
}

// String returns the name.
func (r Role) String() string { return r.Name() }

// IsZero reports whether r is the zero Role.
func (r Role) IsZero() bool { return r.c == nil }

// Permission declares a permission. A bad or duplicated name is reported by
// Build (with every other problem), so declarations stay one-liners:
//
//	payoutsApprove := reg.Permission("payouts.approve", "Approve a pending payout")
func (reg *Registry) Permission(name, description string) Permission {
	c := reg.c
	c.mustBeOpen()
	if err := validateName(name); err != nil {
		c.errs = append(c.errs, &BuildError{Err: ErrInvalidName, Subject: fmt.Sprintf("permission %q", name), Detail: nameProblem(name)})
	}
	if _, dup := c.permIdx[name]; dup {
		c.errs = append(c.errs, &BuildError{Err: ErrDuplicatePermission, Subject: fmt.Sprintf("permission %q", name), Detail: "declared twice"})
	}
	if len(c.perms) >= MaxPermissions {
		c.errs = append(c.errs, &BuildError{Err: ErrTooManyPermissions, Subject: fmt.Sprintf("permission %q", name), Detail: fmt.Sprintf("at most %d permissions", MaxPermissions)})
		return Permission{}
	}
	idx := uint32(len(c.perms))
	c.perms = append(c.perms, permDef{name: name, description: description})
	if _, dup := c.permIdx[name]; !dup {
		c.permIdx[name] = idx
	}
	return Permission{c: c, idx: idx}
}

// Role declares a role. Give it permissions with Grants and include lower
// roles with Includes:
//
//	support := reg.Role("support", "Customer support").Includes(viewer).Grants(ticketsReply)
func (reg *Registry) Role(name, description string) Role {
	c := reg.c
	c.mustBeOpen()
	if err := validateName(name); err != nil {
		c.errs = append(c.errs, &BuildError{Err: ErrInvalidName, Subject: fmt.Sprintf("role %q", name), Detail: nameProblem(name)})
	}
	if len(c.roles) >= maxRoles {
		c.errs = append(c.errs, &BuildError{Err: ErrTooManyRoles, Subject: fmt.Sprintf("role %q", name), Detail: fmt.Sprintf("at most %d roles", maxRoles)})
	}
	idx := uint32(len(c.roles))
	if _, dup := c.roleIdx[name]; dup {
		c.errs = append(c.errs, &BuildError{Err: ErrDuplicateRole, Subject: fmt.Sprintf("role %q", name), Detail: "declared twice"})
	} else {
		c.roleIdx[name] = idx
	}
	c.roles = append(c.roles, roleDef{name: name, description: description})
	return Role{c: c, idx: idx}
}

// Grants adds permissions of the role's own registry to the role and returns
// the role, for chaining. A permission of another registry, or the zero
// Permission, is reported by Build as ErrUnknownPermission.
func (r Role) Grants(perms ...Permission) Role {
	c := r.mustDeclare()
	for _, p := range perms {
		if p.c != c {
			c.errs = append(c.errs, &BuildError{Err: ErrUnknownPermission, Subject: fmt.Sprintf("role %q", r.Name()),
				Detail: fmt.Sprintf("grants %q, which this registry did not declare", p.Name())})
			continue
		}
		c.roles[r.idx].grants = append(c.roles[r.idx].grants, p.Name())
	}
	return r
}

// Includes makes the role carry every permission of the given roles
// (transitively) and returns the role, for chaining. Build reports cycles as
// ErrIncludeCycle and roles of another registry as ErrUnknownRole.
func (r Role) Includes(roles ...Role) Role {
	c := r.mustDeclare()
	for _, in := range roles {
		if in.c != c {
			c.errs = append(c.errs, &BuildError{Err: ErrUnknownRole, Subject: fmt.Sprintf("role %q", r.Name()),
				Detail: fmt.Sprintf("includes %q, which this registry did not declare", in.Name())})
			continue
		}
		c.roles[r.idx].includes = append(c.roles[r.idx].includes, in.Name())
	}
	return r
}

func (r Role) mustDeclare() *core {
	if r.c == nil {
		panic("rbac: use of the zero Role; declare roles with Registry.Role")
	}
	r.c.mustBeOpen()
	return r.c
}

// Ladder declares that each role, from lowest to highest, is a strict
// superset of the one before it. It does not add includes: it checks the
// roles as declared, so a step that quietly lost a permission (or that adds
// nothing) stops Build with ErrLadderNotSuperset or ErrLadderStepAddsNothing.
func (reg *Registry) Ladder(lowestFirst ...Role) {
	c := reg.c
	c.mustBeOpen()
	names := make([]string, 0, len(lowestFirst))
	for _, r := range lowestFirst {
		if r.c != c {
			c.errs = append(c.errs, &BuildError{Err: ErrUnknownRole, Subject: "ladder",
				Detail: fmt.Sprintf("role %q was not declared by this registry", r.Name())})
			continue
		}
		names = append(names, r.Name())
	}
	c.ladders = append(c.ladders, names)
}

// maxNameLength bounds permission and role names.
const maxNameLength = 64

// validateName reports whether name is a valid permission or role name (see
// ErrInvalidName for the grammar).
func validateName(name string) error {
	if p := nameProblem(name); p != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidName, name, p)
	}
	return nil
}

// nameProblem explains why name is invalid, or returns "".
func nameProblem(name string) string {
	if name == "" {
		return "empty"
	}
	if len(name) > maxNameLength {
		return fmt.Sprintf("longer than %d bytes", maxNameLength)
	}
	start := true
	for i := 0; i < len(name); i++ {
		ch := name[i]
		switch {
		case ch >= 'a' && ch <= 'z':
			start = false
		case (ch >= '0' && ch <= '9') || ch == '_':
			if start {
				return fmt.Sprintf("segment must start with a letter at byte %d", i)
			}
		case ch == '.':
			if start {
				return fmt.Sprintf("empty segment at byte %d", i)
			}
			start = true
		default:
			return fmt.Sprintf("byte %d is not one of [a-z0-9_.]", i)
		}
	}
	if start {
		return "ends with a dot"
	}
	return ""
}
