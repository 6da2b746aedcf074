package rbac_test

import (
	"errors"
	"testing"

	"github.com/rampart-sdk/rampart/rbac"
	"github.com/stretchr/testify/require"
)

// TestPrincipalFor walks the identity seam: a caller as plain values (what
// authn.Identity carries) and the member's current role name become the
// principal every decision is made on, with the same outcome as building
// User or APIKey by hand.
func TestPrincipalFor(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	session := rbac.Caller{Org: "acme", UserID: "alice"}
	key := rbac.Caller{Org: "acme", UserID: "alice", KeyID: "k1", Scopes: []string{"invoices.view", "payouts.approve", "no.such", ""}}
	cases := []struct {
		name   string
		caller rbac.Caller
		role   string
		perm   rbac.Permission
		org    string
		want   error // nil: allowed
	}{
		{"session, role grants", session, "admin", x.approve, "acme", nil},
		{"session, role lacks", session, "viewer", x.approve, "acme", rbac.ErrRoleLacksPermission},
		{"session, other organisation", session, "admin", x.approve, "globex", rbac.ErrWrongOrganisation},
		{"session, undeclared role", session, "root", x.view, "acme", rbac.ErrRoleLacksPermission},
		{"session, no user", rbac.Caller{Org: "acme"}, "admin", x.view, "acme", rbac.ErrUnauthenticated},
		{"session, no organisation", rbac.Caller{UserID: "alice"}, "admin", x.view, "", rbac.ErrUnauthenticated},
		{"key, scope and role grant", key, "admin", x.approve, "acme", nil},
		{"key, scope grants, owner's role lacks", key, "viewer", x.approve, "acme", rbac.ErrRoleLacksPermission},
		{"key, role grants, scope lacks", key, "admin", x.refund, "acme", rbac.ErrScopeLacksPermission},
		{"key, unknown scope names dropped", key, "engineer", x.tech, "acme", rbac.ErrScopeLacksPermission},
		{"key, owner's role undeclared", key, "root", x.view, "acme", rbac.ErrRoleLacksPermission},
		{"key, other organisation", key, "admin", x.view, "globex", rbac.ErrWrongOrganisation},
		{"key, no owner", rbac.Caller{Org: "acme", KeyID: "k1", Scopes: key.Scopes}, "admin", x.view, "acme", rbac.ErrUnauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := x.pol.PrincipalFor(tc.caller, tc.role)
			err := x.pol.Decide(p, tc.perm, tc.org).Err()
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}

	// The principal says who acted, for the audit log.
	u := x.pol.PrincipalFor(session, "admin")
	require.Equal(t, rbac.UserKind, u.Kind())
	require.Equal(t, "user:alice", u.Actor())
	require.Equal(t, x.admin, u.Role())
	k := x.pol.PrincipalFor(key, "admin")
	require.Equal(t, rbac.APIKeyKind, k.Kind())
	require.Equal(t, "apikey:k1", k.Actor())
	require.Equal(t, "alice", k.OwnerID())
	require.Equal(t, "acme", k.Org())

	// A later change to the caller's scope slice does not widen the key.
	scopes := []string{"invoices.view"}
	k = x.pol.PrincipalFor(rbac.Caller{Org: "acme", UserID: "alice", KeyID: "k2", Scopes: scopes}, "admin")
	scopes[0] = "payouts.approve"
	require.True(t, errors.Is(x.pol.Decide(k, x.approve, "acme").Err(), rbac.ErrScopeLacksPermission))
}

// TestPrincipalForMatchesHandBuilt: the seam builds the same principal a
// host would build by hand, decision for decision.
func TestPrincipalForMatchesHandBuilt(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	for _, role := range []rbac.Role{x.viewer, x.finance, x.admin, x.eng} {
		current := func(org, user string) (rbac.Role, bool) { return role, org == "acme" && user == "alice" }
		pairs := [][2]rbac.Principal{
			{x.pol.PrincipalFor(rbac.Caller{Org: "acme", UserID: "alice"}, role.Name()), rbac.User("alice", "acme", role)},
			{x.pol.PrincipalFor(rbac.Caller{Org: "acme", UserID: "alice", KeyID: "k", Scopes: []string{"refunds.approve", "infra.deploy"}}, role.Name()),
				rbac.APIKey("k", "acme", "alice", []rbac.Permission{x.refund, x.tech}, current)},
		}
		for _, pair := range pairs {
			for _, perm := range x.pol.Permissions() {
				for _, org := range []string{"acme", "globex"} {
					got, want := x.pol.Decide(pair[0], perm, org), x.pol.Decide(pair[1], perm, org)
					require.Equal(t, want.Allowed(), got.Allowed(), "%s %s %s", role, perm, org)
					require.Equal(t, want.String(), got.String())
				}
			}
		}
	}
}
