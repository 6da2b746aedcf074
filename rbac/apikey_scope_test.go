package rbac_test

import (
	"testing"

	"github.com/rampart-sdk/rampart/rbac"
	"github.com/stretchr/testify/require"
)

// TestAPIKeyScopesOfAnotherPolicyAreIgnored: a key whose scope list mixes
// permissions of two policies keeps, in each policy, exactly its scopes of
// that policy, wherever the foreign ones appear in the list.
func TestAPIKeyScopesOfAnotherPolicyAreIgnored(t *testing.T) {
	t.Parallel()
	x, other := newTiny(t), newTiny(t)
	members := &roles{m: map[string]rbac.Role{"acme/alice": x.admin}}
	for _, tc := range []struct {
		name   string
		scopes []rbac.Permission
	}{
		{"foreign first", []rbac.Permission{other.approve, x.view, x.approve}},
		{"foreign middle", []rbac.Permission{x.view, other.approve, x.approve}},
		{"foreign last", []rbac.Permission{x.view, x.approve, other.view}},
		{"zero first", []rbac.Permission{{}, x.view, x.approve}},
		{"several foreign", []rbac.Permission{other.view, other.refund, x.view, other.tech, x.approve}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key := rbac.APIKey("k1", "acme", "alice", tc.scopes, members.lookup)
			for _, c := range []struct {
				perm rbac.Permission
				want error
			}{
				{x.view, nil},
				{x.approve, nil},
				{x.refund, rbac.ErrScopeLacksPermission},
				{x.tech, rbac.ErrScopeLacksPermission},
			} {
				d := x.pol.Decide(key, c.perm, "acme")
				if c.want == nil {
					require.NoError(t, d.Err(), "%s: %s", c.perm, d)
				} else {
					require.ErrorIs(t, d.Err(), c.want, "%s: %s", c.perm, d)
				}
			}
			// The foreign scopes never grant anything in x's policy, nor do
			// x's scopes in the other policy (alice has no role there).
			d := other.pol.Decide(key, other.approve, "acme")
			require.False(t, d.Allowed(), d.String())
		})
	}
}
