package rbac

import (
	"errors"
	"fmt"
	"strings"
)

// Policy is a built, immutable set of permissions and roles. Every method is
// safe for concurrent use: nothing in it changes after Build.
type Policy struct {
	c *core
}

// Build checks the declarations and returns the policy. It reports every
// problem at once (errors.Join of *BuildError): invalid or duplicated names,
// grants of unknown permissions, includes of unknown roles, include cycles,
// and ladder steps that are not strict supersets. The registry is frozen
// afterwards; declaring more panics.
func (reg *Registry) Build() (*Policy, error) {
	c := reg.c
	if c.built {
		return nil, ErrAlreadyBuilt
	}
	errs := append([]error(nil), c.errs...)

	// Resolve grants and includes.
	own := make([]bitset, len(c.roles))
	incl := make([][]uint32, len(c.roles))
	for ri, r := range c.roles {
		for _, name := range r.grants {
			pi, ok := c.permIdx[name]
			if !ok {
				errs = append(errs, &BuildError{Err: ErrUnknownPermission, Subject: fmt.Sprintf("role %q", r.name),
					Detail: fmt.Sprintf("grants %q, which is not declared", name)})
				continue
			}
			own[ri].add(pi)
		}
		for _, name := range r.includes {
			ii, ok := c.roleIdx[name]
			if !ok {
				errs = append(errs, &BuildError{Err: ErrUnknownRole, Subject: fmt.Sprintf("role %q", r.name),
					Detail: fmt.Sprintf("includes %q, which is not declared", name)})
				continue
			}
			incl[ri] = append(incl[ri], ii)
		}
	}

	// Close over includes, detecting cycles with a depth-first walk.
	sets := make([]bitset, len(c.roles))
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]uint8, len(c.roles))
	var stack []uint32
	reported := map[string]bool{}
	var visit func(ri uint32)
	visit = func(ri uint32) {
		switch state[ri] {
		case done:
			return
		case visiting:
			// Report the cycle from its first occurrence on the stack.
			start := 0
			for i, s := range stack {
				if s == ri {
					start = i
				}
			}
			names := make([]string, 0, len(stack)-start+1)
			for _, s := range stack[start:] {
				names = append(names, c.roles[s].name)
			}
			names = append(names, c.roles[ri].name)
			path := strings.Join(names, " includes ")
			if !reported[c.roles[ri].name] {
				reported[c.roles[ri].name] = true
				errs = append(errs, &BuildError{Err: ErrIncludeCycle, Subject: fmt.Sprintf("role %q", c.roles[ri].name), Detail: path})
			}
			return
		}
		state[ri] = visiting
		stack = append(stack, ri)
		sets[ri] = own[ri]
		for _, ii := range incl[ri] {
			visit(ii)
			sets[ri].union(&sets[ii])
		}
		stack = stack[:len(stack)-1]
		state[ri] = done
	}
	for ri := range c.roles {
		visit(uint32(ri))
	}

	// Ladders: each step a strict superset of the one below.
	for _, ladder := range c.ladders {
		var prev = -1
		for _, name := range ladder {
			ri, ok := c.roleIdx[name]
			if !ok {
				errs = append(errs, &BuildError{Err: ErrUnknownRole, Subject: "ladder", Detail: fmt.Sprintf("role %q is not declared", name)})
				prev = -1
				continue
			}
			if prev >= 0 {
				below, above := &sets[prev], &sets[ri]
				switch {
				case !below.subsetOf(above):
					var missing []string
					for pi := range c.perms {
						if below.has(uint32(pi)) && !above.has(uint32(pi)) {
							missing = append(missing, fmt.Sprintf("%q", c.perms[pi].name))
						}
					}
					errs = append(errs, &BuildError{Err: ErrLadderNotSuperset, Subject: fmt.Sprintf("ladder step %q", name),
						Detail: fmt.Sprintf("lacks %s of %q below it", strings.Join(missing, ", "), c.roles[prev].name)})
				case *below == *above:
					errs = append(errs, &BuildError{Err: ErrLadderStepAddsNothing, Subject: fmt.Sprintf("ladder step %q", name),
						Detail: fmt.Sprintf("grants exactly what %q below it grants", c.roles[prev].name)})
				}
			}
			prev = int(ri)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	// The lowest role granting each permission: fewest permissions, then
	// declaration order. Decisions name it so a denial says who could.
	lowest := make([]int32, len(c.perms))
	counts := make([]int, len(c.roles))
	for ri := range sets {
		counts[ri] = sets[ri].count()
	}
	for pi := range c.perms {
		lowest[pi] = -1
		for ri := range sets {
			if sets[ri].has(uint32(pi)) && (lowest[pi] < 0 || counts[ri] < counts[lowest[pi]]) {
				lowest[pi] = int32(ri)
			}
		}
	}
	c.sets, c.lowest, c.built = sets, lowest, true
	return &Policy{c: c}, nil
}

// Can reports whether role grants perm. It is a bit test: no allocation, no
// lock. A role or permission of another policy, or a zero one, is never
// granted.
func (p *Policy) Can(role Role, perm Permission) bool {
	c := p.c
	if role.c != c || perm.c != c {
		return false
	}
	return c.sets[role.idx].has(perm.idx)
}

// Role looks a role up by name, e.g. the role column of a membership row.
func (p *Policy) Role(name string) (Role, bool) {
	i, ok := p.c.roleIdx[name]
	if !ok {
		return Role{}, false
	}
	return Role{c: p.c, idx: i}, true
}

// Permission looks a permission up by name, e.g. an API key scope stored as
// text.
func (p *Policy) Permission(name string) (Permission, bool) {
	i, ok := p.c.permIdx[name]
	if !ok {
		return Permission{}, false
	}
	return Permission{c: p.c, idx: i}, true
}

// Roles returns every role in declaration order.
func (p *Policy) Roles() []Role {
	out := make([]Role, len(p.c.roles))
	for i := range out {
		out[i] = Role{c: p.c, idx: uint32(i)}
	}
	return out
}

// Permissions returns every permission in declaration order.
func (p *Policy) Permissions() []Permission {
	out := make([]Permission, len(p.c.perms))
	for i := range out {
		out[i] = Permission{c: p.c, idx: uint32(i)}
	}
	return out
}

// PermissionsOf returns the permissions role grants, its own and included
// ones, in declaration order.
func (p *Policy) PermissionsOf(role Role) []Permission {
	if role.c != p.c {
		return nil
	}
	var out []Permission
	for i := range p.c.perms {
		if p.c.sets[role.idx].has(uint32(i)) {
			out = append(out, Permission{c: p.c, idx: uint32(i)})
		}
	}
	return out
}

// Includes reports whether every permission of lower is granted by upper,
// the relation a ladder promises.
func (p *Policy) Includes(upper, lower Role) bool {
	if upper.c != p.c || lower.c != p.c {
		return false
	}
	return p.c.sets[lower.idx].subsetOf(&p.c.sets[upper.idx])
}

// LowestRole returns the role with the fewest permissions that grants perm,
// or false when no role does.
func (p *Policy) LowestRole(perm Permission) (Role, bool) {
	if perm.c != p.c || p.c.lowest[perm.idx] < 0 {
		return Role{}, false
	}
	return Role{c: p.c, idx: uint32(p.c.lowest[perm.idx])}, true
}

// Owns reports whether perm was declared by this policy's registry.
func (p *Policy) Owns(perm Permission) bool { return perm.c == p.c && perm.c != nil }
