package examplepolicy_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/rampart-sdk/rampart/rbac"
	"github.com/rampart-sdk/rampart/rbac/examplepolicy"
	"github.com/rampart-sdk/rampart/rbac/rbactest"
	"github.com/stretchr/testify/require"
)

func TestSixRolesAboutSixtyPermissions(t *testing.T) {
	t.Parallel()
	ex, err := examplepolicy.New()
	require.NoError(t, err)
	require.Len(t, ex.Policy.Roles(), 6)
	require.GreaterOrEqual(t, len(ex.Policy.Permissions()), 55)
	require.LessOrEqual(t, len(ex.Policy.Permissions()), 70)

	// Every field of Permissions is set and distinct.
	seen := map[rbac.Permission]bool{}
	v := reflect.ValueOf(ex.Perm)
	for i := 0; i < v.NumField(); i++ {
		p := v.Field(i).Interface().(rbac.Permission)
		require.False(t, p.IsZero(), v.Type().Field(i).Name)
		require.False(t, seen[p], v.Type().Field(i).Name)
		seen[p] = true
	}
	require.Len(t, seen, len(ex.Policy.Permissions()), "every permission is a field")
}

func TestLadderIsStrict(t *testing.T) {
	t.Parallel()
	ex := newExample(t)
	pol := ex.Policy
	ladder := ex.Ladder()
	for i := 1; i < len(ladder); i++ {
		lo, hi := ladder[i-1], ladder[i]
		require.True(t, pol.Includes(hi, lo), "%s ⊇ %s", hi, lo)
		require.False(t, pol.Includes(lo, hi), "%s ⊋ %s: the step must add something", hi, lo)
		require.Greater(t, len(pol.PermissionsOf(hi)), len(pol.PermissionsOf(lo)))
	}
	// Transitively too.
	for i := range ladder {
		for j := i + 1; j < len(ladder); j++ {
			require.True(t, pol.Includes(ladder[j], ladder[i]))
			require.False(t, pol.Includes(ladder[i], ladder[j]))
		}
	}
}

func TestEngineerIsOwnerPlusTechnical(t *testing.T) {
	t.Parallel()
	ex := newExample(t)
	pol := ex.Policy
	technical := map[rbac.Permission]bool{}
	for _, p := range ex.Technical() {
		technical[p] = true
	}
	for _, p := range pol.Permissions() {
		want := pol.Can(ex.Role.Owner, p) || technical[p]
		require.Equal(t, want, pol.Can(ex.Role.Engineer, p), p.Name())
		if technical[p] {
			for _, r := range ex.Ladder() {
				require.False(t, pol.Can(r, p), "%s must not hold technical %s", r, p)
			}
		}
	}
	require.NotEmpty(t, technical)
}

func TestEveryPermissionIsGranted(t *testing.T) {
	t.Parallel()
	ex := newExample(t)
	for _, p := range ex.Policy.Permissions() {
		_, ok := ex.Policy.LowestRole(p)
		require.True(t, ok, p.Name())
	}
	low, _ := ex.Policy.LowestRole(ex.Perm.PayoutsApprove)
	require.Equal(t, ex.Role.FinancialAdmin, low)
	low, _ = ex.Policy.LowestRole(ex.Perm.DBMigrate)
	require.Equal(t, ex.Role.Engineer, low)
}

func TestRepresentativeGrants(t *testing.T) {
	t.Parallel()
	ex := newExample(t)
	p, r, pol := ex.Perm, ex.Role, ex.Policy
	cases := []struct {
		role rbac.Role
		perm rbac.Permission
		want bool
	}{
		{r.Viewer, p.InvoicesView, true}, {r.Viewer, p.TicketsReply, false},
		{r.Support, p.RefundsRequest, true}, {r.Support, p.RefundsApprove, false},
		{r.FinancialAdmin, p.PayoutsApprove, true}, {r.FinancialAdmin, p.MembersInvite, false},
		{r.Admin, p.APIKeysCreate, true}, {r.Admin, p.OrgDelete, false},
		{r.Owner, p.OrgDelete, true}, {r.Owner, p.InfraDeploy, false},
		{r.Engineer, p.InfraDeploy, true}, {r.Engineer, p.OrgDelete, true},
	}
	for _, c := range cases {
		require.Equal(t, c.want, pol.Can(c.role, c.perm), "%s %s", c.role, c.perm)
	}
}

// TestEveryPermissionEnforcedPerRoute registers one route per example
// permission and lets rbactest call each as nobody, as another tenant, as
// the largest role lacking it and as the lowest role holding it.
func TestEveryPermissionEnforcedPerRoute(t *testing.T) {
	t.Parallel()
	ex := newExample(t)
	r, err := rbac.NewRouter(ex.Policy)
	require.NoError(t, err)
	for _, p := range ex.Policy.Permissions() {
		r.HandleFunc("POST /orgs/{org}/actions/"+p.Name(), p, func(http.ResponseWriter, *http.Request) {
			panic("rbactest must use sentinels")
		})
	}
	r.HandleFunc("GET /healthz", rbac.Public("load balancer health check"), func(http.ResponseWriter, *http.Request) {})
	rbactest.CheckRouter(t, r, ex.Policy, rbactest.Options{})
	require.Len(t, r.Routes(), len(ex.Policy.Permissions())+1)
}

// newExample builds the example policy or fails the test.
func newExample(tb testing.TB) *examplepolicy.Example {
	tb.Helper()
	ex, err := examplepolicy.New()
	if err != nil {
		tb.Fatal(err)
	}
	return ex
}
