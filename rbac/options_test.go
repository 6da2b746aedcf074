package rbac_test

import (
	"net/http"
	"testing"

	"github.com/rampart-sdk/rampart/rbac"
	"github.com/stretchr/testify/require"
)

// TestInvalidConfig: a nil policy, a nil option and every option given a
// nil or out-of-range value are refused by both constructors with
// ErrInvalidConfig naming what is wrong, instead of silently keeping the
// default.
func TestInvalidConfig(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	cases := []struct {
		name string
		opt  rbac.Option
		want string
	}{
		{"nil option", nil, "option 0 is nil"},
		{"nil principal func", rbac.WithPrincipalFunc(nil), "WithPrincipalFunc"},
		{"nil extractor", rbac.WithOrgExtractor(nil), "WithOrgExtractor"},
		{"empty wildcard", rbac.WithOrgPathValue(""), "WithOrgPathValue"},
		{"wildcard with a brace", rbac.WithOrgPathValue("org}"), "WithOrgPathValue"},
		{"wildcard starting with a digit", rbac.WithOrgPathValue("1org"), "WithOrgPathValue"},
		{"wildcard with a dot", rbac.WithOrgPathValue("org.id"), "WithOrgPathValue"},
		{"nil bind", rbac.WithAuthorizedOrg(nil), "WithAuthorizedOrg"},
		{"nil recorder", rbac.WithRecorder(nil), "WithRecorder"},
		{"nil logger", rbac.WithLogger(nil), "WithLogger"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := rbac.NewRouter(x.pol, tc.opt)
			require.ErrorIs(t, err, rbac.ErrInvalidConfig)
			require.ErrorContains(t, err, tc.want)
			require.Nil(t, r)
			g, err := rbac.NewGuard(x.pol, tc.opt)
			require.ErrorIs(t, err, rbac.ErrInvalidConfig)
			require.ErrorContains(t, err, tc.want)
			require.Nil(t, g)
		})
	}

	_, err := rbac.NewRouter(nil)
	require.ErrorIs(t, err, rbac.ErrInvalidConfig)
	require.ErrorContains(t, err, "NewRouter: nil policy")
	_, err = rbac.NewGuard(nil)
	require.ErrorIs(t, err, rbac.ErrInvalidConfig)
	require.ErrorContains(t, err, "NewGuard: nil policy")

	// A valid option after an invalid one does not hide it.
	_, err = rbac.NewRouter(x.pol, rbac.WithRecorder(nil), rbac.WithLogger(discardLogger()))
	require.ErrorIs(t, err, rbac.ErrInvalidConfig)

	// Valid wildcard names are accepted, as ServeMux accepts them.
	for _, name := range []string{"org", "_", "tenant_id", "org2", "Org"} {
		r := newRouter(t, x.pol, rbac.WithOrgPathValue(name))
		r.HandleFunc("GET /orgs/{"+name+"}/x", x.approve, reached)
		require.True(t, r.Routes()[0].TenantScoped, name)
		newGuard(t, x.pol, rbac.WithOrgPathValue(name))
	}

	// Every option is an Option, which both constructors take.
	opts := []rbac.Option{
		rbac.WithPrincipalFunc(func(*http.Request) (rbac.Principal, bool) { return rbac.Principal{}, false }),
		rbac.WithOrgPathValue("tenant"),
		rbac.WithRecorder(&fakeRecorder{}),
		rbac.WithLogger(discardLogger()),
	}
	newRouter(t, x.pol, opts[0], opts[1], opts[2], opts[3])
	newGuard(t, x.pol, opts[0], opts[1], opts[2], opts[3])
}
