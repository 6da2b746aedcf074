package rbac

import "context"

// Kind tells what sort of principal acts.
type Kind uint8

const (
	// Anonymous is the zero Kind: nobody authenticated.
	Anonymous Kind = iota
	// UserKind is a person with one role in one organisation.
	UserKind
	// APIKeyKind is a key acting for its owner, limited to its scopes.
	APIKeyKind
	// SystemKind is the host's own code (a cron job, a migration).
	SystemKind
)

// String returns "anonymous", "user", "apikey" or "system".
func (k Kind) String() string {
	switch k {
	case UserKind:
		return "user"
	case APIKeyKind:
		return "apikey"
	case SystemKind:
		return "system"
	}
	return "anonymous"
}

// RoleLookup returns the CURRENT role of user userID in organisation org, as
// the host's membership table says now. API keys resolve their owner's role
// through it at every decision, so demoting or removing the owner shrinks or
// kills the key at once. It must be safe for concurrent use and should not
// allocate (a map read under a lock, a cache).
type RoleLookup func(org, userID string) (Role, bool)

// Principal is who acts: a user, an API key or the system. It is a small
// immutable value (one pointer) built per request by the host's
// authentication (rampart's authn or any other); copying it is free and the
// zero Principal is anonymous, refused everywhere.
type Principal struct{ p *principal }

type principal struct {
	kind    Kind
	id      string
	org     string
	role    Role
	ownerID string
	lookup  RoleLookup
	// scopes holds an API key's scopes per policy they belong to: a decision
	// reads only the set of the deciding policy, so scopes of another policy
	// are ignored wherever they appear in the list.
	scopes []scopeSet
}

// scopeSet is an API key's scopes within one policy.
type scopeSet struct {
	c   *core
	set bitset
}

// scopesIn returns the key's scopes of policy c, or nil if it has none.
func (p *principal) scopesIn(c *core) *bitset {
	for i := range p.scopes {
		if p.scopes[i].c == c {
			return &p.scopes[i].set
		}
	}
	return nil
}

// User returns a user principal: userID holds role in organisation org.
// Empty IDs or a zero role make a principal that is refused.
func User(userID, org string, role Role) Principal {
	return Principal{&principal{kind: UserKind, id: userID, org: org, role: role}}
}

// APIKey returns an API key principal. The key may use a permission only if
// it is in scopes AND its owner's current role, read through current at each
// decision, grants it. Scopes of another policy (and zero Permissions) are
// ignored: a decision of policy P reads only the scopes of P, wherever they
// appear in the list.
func APIKey(keyID, org, ownerID string, scopes []Permission, current RoleLookup) Principal {
	p := &principal{kind: APIKeyKind, id: keyID, org: org, ownerID: ownerID, lookup: current}
	for _, s := range scopes {
		if s.c == nil {
			continue
		}
		set := p.scopesIn(s.c)
		if set == nil {
			p.scopes = append(p.scopes, scopeSet{c: s.c})
			set = &p.scopes[len(p.scopes)-1].set
		}
		set.add(s.idx)
	}
	return Principal{p}
}

// System returns the host's own actor, e.g. System("cron/privacy-sweeper",
// jobRole). It is the one principal that may act in any organisation; its
// role still bounds what it may do, so give each job the narrowest role.
func System(source string, role Role) Principal {
	return Principal{&principal{kind: SystemKind, id: source, role: role}}
}

// Caller is an authenticated caller as plain values, the way an
// authentication layer reports one: rampart's authn.Identity has these
// fields under the same names, and any other layer can fill them. It is
// the seam between authentication and rbac, which does not import authn.
type Caller struct {
	Org    string   // the organisation the credential belongs to
	UserID string   // the signed-in user, or the API key's owner
	KeyID  string   // the API key's ID; "" for a user's session
	Scopes []string // an API key's scopes, as permission names
}

// PrincipalFor turns an authenticated caller into the principal the policy
// decides on. role names the CURRENT role of c.UserID in c.Org, as the
// host's membership table says now (read it per request, so a demotion
// takes effect at once). Without a KeyID the caller is a User of that
// role; with one it is an APIKey owned by c.UserID whose scopes are the
// permissions of this policy that c.Scopes names (other names are dropped:
// the key simply cannot use them) and whose owner's role is role. A role
// name the policy does not declare grants nothing, and missing IDs make a
// principal that is refused everywhere. In authentication middleware:
//
//	id, _ := authn.IdentityFrom(ctx)
//	c := rbac.Caller{Org: id.Org, UserID: id.UserID, KeyID: id.KeyID, Scopes: id.Scopes}
//	ctx = rbac.WithPrincipal(ctx, policy.PrincipalFor(c, member.Role))
func (p *Policy) PrincipalFor(c Caller, role string) Principal {
	r, ok := p.Role(role)
	if c.KeyID == "" {
		return User(c.UserID, c.Org, r)
	}
	scopes := make([]Permission, 0, len(c.Scopes))
	for _, name := range c.Scopes {
		if perm, found := p.Permission(name); found {
			scopes = append(scopes, perm)
		}
	}
	org, owner := c.Org, c.UserID
	current := func(o, userID string) (Role, bool) { return r, ok && o == org && userID == owner }
	return APIKey(c.KeyID, c.Org, c.UserID, scopes, current)
}

var anonymous = &principal{}

func (p Principal) get() *principal {
	if p.p == nil {
		return anonymous
	}
	return p.p
}

// Kind returns the principal's kind.
func (p Principal) Kind() Kind { return p.get().kind }

// ID returns the user ID, key ID or system source.
func (p Principal) ID() string { return p.get().id }

// Org returns the principal's organisation ("" for the system actor).
func (p Principal) Org() string { return p.get().org }

// Role returns the user's or system actor's role; for an API key, the zero
// Role (its effective role is its owner's, looked up per decision).
func (p Principal) Role() Role { return p.get().role }

// OwnerID returns an API key's owner, else "".
func (p Principal) OwnerID() string { return p.get().ownerID }

// Actor returns the audit-log actor: "user:<id>", "apikey:<id>",
// "system:<source>", or "" for anonymous.
func (p Principal) Actor() string { return p.get().actor() }

func (p *principal) actor() string {
	switch p.kind {
	case UserKind:
		return "user:" + p.id
	case APIKeyKind:
		return "apikey:" + p.id
	case SystemKind:
		return "system:" + p.id
	}
	return ""
}

// authenticated reports whether the principal is complete enough to act.
func (p *principal) authenticated() bool {
	switch p.kind {
	case UserKind:
		return p.id != "" && p.org != ""
	case APIKeyKind:
		return p.id != "" && p.org != "" && p.ownerID != "" && p.lookup != nil
	case SystemKind:
		return p.id != ""
	}
	return false
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p, for the router's default principal
// source. Authentication middleware calls it once per request.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal WithPrincipal put in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
