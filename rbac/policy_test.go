package rbac_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/rampart-sdk/rampart/rbac"
	"github.com/stretchr/testify/require"
)

// tiny is a three-rung policy used across the package's tests.
type tiny struct {
	pol                         *rbac.Policy
	view, refund, approve, tech rbac.Permission
	viewer, finance, admin, eng rbac.Role
}

func newTiny(t testing.TB) tiny {
	t.Helper()
	reg := rbac.NewRegistry()
	var x tiny
	x.view = reg.Permission("invoices.view", "View invoices")
	x.refund = reg.Permission("refunds.approve", "Approve refunds")
	x.approve = reg.Permission("payouts.approve", "Approve payouts")
	x.tech = reg.Permission("infra.deploy", "Deploy")
	x.viewer = reg.Role("viewer", "Read only").Grants(x.view)
	x.finance = reg.Role("financial_admin", "Money").Includes(x.viewer).Grants(x.refund)
	x.admin = reg.Role("admin", "Everything").Includes(x.finance).Grants(x.approve)
	x.eng = reg.Role("engineer", "Admin plus tech").Includes(x.admin).Grants(x.tech)
	reg.Ladder(x.viewer, x.finance, x.admin, x.eng)
	pol, err := reg.Build()
	require.NoError(t, err)
	x.pol = pol
	return x
}

func TestCanFollowsIncludes(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	cases := []struct {
		role rbac.Role
		perm rbac.Permission
		want bool
	}{
		{x.viewer, x.view, true}, {x.viewer, x.refund, false}, {x.viewer, x.approve, false},
		{x.finance, x.view, true}, {x.finance, x.refund, true}, {x.finance, x.approve, false},
		{x.admin, x.approve, true}, {x.admin, x.tech, false}, {x.eng, x.tech, true}, {x.eng, x.view, true},
		{rbac.Role{}, x.view, false}, {x.admin, rbac.Permission{}, false},
	}
	for _, c := range cases {
		require.Equal(t, c.want, x.pol.Can(c.role, c.perm), "%s %s", c.role, c.perm)
	}
	require.True(t, x.pol.Includes(x.eng, x.viewer))
	require.False(t, x.pol.Includes(x.viewer, x.eng))
	low, ok := x.pol.LowestRole(x.refund)
	require.True(t, ok)
	require.Equal(t, x.finance, low)
}

func TestForeignHandlesAreNeverGranted(t *testing.T) {
	t.Parallel()
	a, b := newTiny(t), newTiny(t)
	require.False(t, a.pol.Can(b.admin, b.approve), "handles of another policy must not match by index")
	require.False(t, a.pol.Can(a.admin, b.approve))
	d := a.pol.Decide(rbac.User("u1", "acme", a.admin), b.approve, "acme")
	require.ErrorIs(t, d.Err(), rbac.ErrUnknownPermission)
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	other := rbac.NewRegistry().Permission("elsewhere.thing", "from another registry")
	cases := []struct {
		name  string
		build func(reg *rbac.Registry)
		want  error
		text  string
	}{
		{"duplicated permission", func(reg *rbac.Registry) {
			reg.Permission("a.b", "")
			reg.Permission("a.b", "")
		}, rbac.ErrDuplicatePermission, `"a.b"`},
		{"invalid permission name", func(reg *rbac.Registry) { reg.Permission("Payouts.Approve", "") }, rbac.ErrInvalidName, "Payouts"},
		{"invalid role name", func(reg *rbac.Registry) { reg.Role("fin admin", "") }, rbac.ErrInvalidName, "fin admin"},
		{"duplicated role", func(reg *rbac.Registry) { reg.Role("a", ""); reg.Role("a", "") }, rbac.ErrDuplicateRole, `"a"`},
		{"unknown permission by name", func(reg *rbac.Registry) {
			reg.Permission("payouts.approve", "")
			reg.Role("admin", "").GrantsNamed("payouts.aprove")
		}, rbac.ErrUnknownPermission, "payouts.aprove"},
		{"permission of another registry", func(reg *rbac.Registry) { reg.Role("admin", "").Grants(other) }, rbac.ErrUnknownPermission, "elsewhere.thing"},
		{"unknown role include", func(reg *rbac.Registry) { reg.Role("admin", "").IncludesNamed("ghost") }, rbac.ErrUnknownRole, "ghost"},
		{"unknown role in ladder", func(reg *rbac.Registry) { reg.LadderNamed("ghost") }, rbac.ErrUnknownRole, "ghost"},
		{"include cycle", func(reg *rbac.Registry) {
			a := reg.Role("a", "")
			b := reg.Role("b", "").Includes(a)
			c := reg.Role("c", "").Includes(b)
			a.Includes(c)
		}, rbac.ErrIncludeCycle, "includes"},
		{"self include", func(reg *rbac.Registry) { a := reg.Role("a", ""); a.Includes(a) }, rbac.ErrIncludeCycle, `"a"`},
		{"ladder step adds nothing", func(reg *rbac.Registry) {
			p := reg.Permission("a.b", "")
			low := reg.Role("low", "").Grants(p)
			same := reg.Role("same", "").Includes(low)
			reg.Ladder(low, same)
		}, rbac.ErrLadderStepAddsNothing, `"same"`},
		{"hidden non-superset step", func(reg *rbac.Registry) {
			p1 := reg.Permission("tickets.reply", "")
			p2 := reg.Permission("refunds.approve", "")
			p3 := reg.Permission("payouts.approve", "")
			support := reg.Role("support", "").Grants(p1)
			// financial_admin looks bigger (two permissions) but lost tickets.reply.
			fin := reg.Role("financial_admin", "").Grants(p2, p3)
			reg.Ladder(support, fin)
		}, rbac.ErrLadderNotSuperset, `"tickets.reply"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			reg := rbac.NewRegistry()
			c.build(reg)
			pol, err := reg.Build()
			require.Nil(t, pol)
			require.ErrorIs(t, err, c.want)
			require.Contains(t, err.Error(), c.text)
			var be *rbac.BuildError
			require.ErrorAs(t, err, &be)
		})
	}
}

func TestBuildReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	reg := rbac.NewRegistry()
	reg.Permission("x", "")
	reg.Permission("x", "")
	reg.Role("r", "").GrantsNamed("nope")
	_, err := reg.Build()
	require.ErrorIs(t, err, rbac.ErrDuplicatePermission)
	require.ErrorIs(t, err, rbac.ErrUnknownPermission)
}

func TestRegistryFrozenAfterBuild(t *testing.T) {
	t.Parallel()
	reg := rbac.NewRegistry()
	r := reg.Role("r", "")
	_, err := reg.Build()
	require.NoError(t, err)
	require.Panics(t, func() { reg.Permission("late.perm", "") })
	require.Panics(t, func() { r.GrantsNamed("late.perm") })
	_, err = reg.Build()
	require.ErrorIs(t, err, rbac.ErrAlreadyBuilt)
}

func TestManyPermissions(t *testing.T) {
	t.Parallel()
	reg := rbac.NewRegistry()
	perms := make([]rbac.Permission, rbac.MaxPermissions)
	for i := range perms {
		perms[i] = reg.Permission(fmt.Sprintf("p.n%d", i), "")
	}
	evens := reg.Role("evens", "")
	for i := 0; i < len(perms); i += 2 {
		evens.Grants(perms[i])
	}
	all := reg.Role("all", "").Includes(evens).Grants(perms...)
	reg.Ladder(evens, all)
	pol, err := reg.Build()
	require.NoError(t, err)
	for i, p := range perms {
		require.Equal(t, i%2 == 0, pol.Can(evens, p), p.Name())
		require.True(t, pol.Can(all, p))
	}
	require.Len(t, pol.PermissionsOf(all), rbac.MaxPermissions)

	many := rbac.NewRegistry()
	for i := 0; i <= rbac.MaxRoles; i++ {
		many.Role(fmt.Sprintf("r%d", i), "")
	}
	_, err = many.Build()
	require.ErrorIs(t, err, rbac.ErrTooManyRoles)

	over := rbac.NewRegistry()
	for i := 0; i <= rbac.MaxPermissions; i++ {
		over.Permission(fmt.Sprintf("p.n%d", i), "")
	}
	_, err = over.Build()
	require.ErrorIs(t, err, rbac.ErrTooManyPermissions)
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "payouts.approve", "infra.logs.view", "financial_admin", "v2.items_x9"} {
		require.NoError(t, rbac.ValidateName(ok), ok)
	}
	for _, bad := range []string{"", ".a", "a.", "a..b", "A", "a b", "1a", "a._b", "a-b", "é", "a\x00", string(make([]byte, 65))} {
		require.ErrorIs(t, rbac.ValidateName(bad), rbac.ErrInvalidName, "%q", bad)
	}
}

// roles is a RoleLookup over a mutable membership table, like a host's.
type roles struct {
	mu sync.RWMutex
	m  map[string]rbac.Role
}

func (r *roles) set(user string, role rbac.Role) { r.mu.Lock(); r.m[user] = role; r.mu.Unlock() }
func (r *roles) remove(user string)              { r.mu.Lock(); delete(r.m, user); r.mu.Unlock() }
func (r *roles) lookup(org, user string) (rbac.Role, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	role, ok := r.m[org+"/"+user]
	return role, ok
}

func TestDecide(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	members := &roles{m: map[string]rbac.Role{"acme/alice": x.admin}}
	key := rbac.APIKey("k1", "acme", "alice", []rbac.Permission{x.view, x.approve}, members.lookup)
	cases := []struct {
		name string
		p    rbac.Principal
		perm rbac.Permission
		org  string
		err  error
		text string
	}{
		{"anonymous", rbac.Principal{}, x.view, "acme", rbac.ErrUnauthenticated, "not authenticated"},
		{"user without org", rbac.User("u", "", x.admin), x.view, "", rbac.ErrUnauthenticated, ""},
		{"user allowed", rbac.User("u", "acme", x.viewer), x.view, "acme", nil, "allowed"},
		{"cross tenant", rbac.User("u", "acme", x.admin), x.view, "globex", rbac.ErrWrongOrganisation, `of organisation "acme" asked for another organisation`},
		{"empty org target", rbac.User("u", "acme", x.admin), x.view, "", rbac.ErrWrongOrganisation, ""},
		{"role lacks", rbac.User("u", "acme", x.viewer), x.approve, "acme", rbac.ErrRoleLacksPermission, `lowest role granting it: "admin"`},
		{"zero role", rbac.User("u", "acme", rbac.Role{}), x.view, "acme", rbac.ErrRoleLacksPermission, ""},
		{"key allowed", key, x.approve, "acme", nil, ""},
		{"key scope lacks", key, x.refund, "acme", rbac.ErrScopeLacksPermission, "key scopes lack"},
		{"key cross tenant", key, x.view, "globex", rbac.ErrWrongOrganisation, ""},
		{"key scope beyond owner role", rbac.APIKey("k2", "acme", "bob", []rbac.Permission{x.tech}, func(string, string) (rbac.Role, bool) { return x.admin, true }),
			x.tech, "acme", rbac.ErrRoleLacksPermission, "owner's current role"},
		{"key without lookup", rbac.APIKey("k3", "acme", "bob", []rbac.Permission{x.view}, nil), x.view, "acme", rbac.ErrUnauthenticated, ""},
		{"system any org", rbac.System("cron/sweeper", x.finance), x.refund, "globex", nil, ""},
		{"system bounded by role", rbac.System("cron/sweeper", x.viewer), x.refund, "globex", rbac.ErrRoleLacksPermission, ""},
		{"zero permission", rbac.User("u", "acme", x.eng), rbac.Permission{}, "acme", rbac.ErrUnknownPermission, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := x.pol.Decide(c.p, c.perm, c.org)
			require.Equal(t, c.err == nil, d.Allowed(), d.String())
			if c.err == nil {
				require.NoError(t, d.Err())
			} else {
				require.ErrorIs(t, d.Err(), c.err)
			}
			// One way to ask: the error matches its cause's sentinel and no
			// other decision sentinel.
			for _, other := range decisionSentinels {
				if other != c.err {
					require.NotErrorIs(t, d.Err(), other)
				}
			}
			require.Contains(t, d.String(), c.text)
		})
	}
	require.False(t, rbac.Decision{}.Allowed(), "the zero Decision must deny")
}

// TestDemotedOwnerShrinksKeyAtOnce: the key was created while alice was
// admin; demoting her must take payouts.approve away from the key on the
// next decision, and removing her must kill it, without touching the key.
func TestDemotedOwnerShrinksKeyAtOnce(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	members := &roles{m: map[string]rbac.Role{"acme/alice": x.admin}}
	key := rbac.APIKey("k1", "acme", "alice", []rbac.Permission{x.view, x.approve}, members.lookup)
	require.True(t, x.pol.Decide(key, x.approve, "acme").Allowed())

	members.set("acme/alice", x.viewer)
	d := x.pol.Decide(key, x.approve, "acme")
	require.ErrorIs(t, d.Err(), rbac.ErrRoleLacksPermission)
	require.Equal(t, x.viewer, d.Role())
	require.True(t, x.pol.Decide(key, x.view, "acme").Allowed())

	members.remove("acme/alice")
	d = x.pol.Decide(key, x.view, "acme")
	require.ErrorIs(t, d.Err(), rbac.ErrRoleLacksPermission)
	require.Contains(t, d.String(), "no current role")
}

func TestConcurrentDecide(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	members := &roles{m: map[string]rbac.Role{"acme/alice": x.admin}}
	key := rbac.APIKey("k1", "acme", "alice", []rbac.Permission{x.approve}, members.lookup)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				switch g % 4 {
				case 0:
					if !x.pol.Decide(rbac.User("u", "acme", x.admin), x.approve, "acme").Allowed() {
						panic("admin denied")
					}
				case 1:
					if x.pol.Decide(rbac.User("u", "acme", x.admin), x.approve, "globex").Allowed() {
						panic("cross tenant allowed")
					}
				case 2:
					_ = x.pol.Decide(key, x.approve, "acme").String()
				case 3:
					if i%2 == 0 {
						members.set("acme/alice", x.viewer)
					} else {
						members.set("acme/alice", x.admin)
					}
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestDecideAllocations(t *testing.T) {
	x := newTiny(t)
	members := &roles{m: map[string]rbac.Role{"acme/alice": x.admin}}
	user := rbac.User("u", "acme", x.admin)
	key := rbac.APIKey("k1", "acme", "alice", []rbac.Permission{x.approve}, members.lookup)
	var sink bool
	require.Zero(t, testing.AllocsPerRun(100, func() { sink = x.pol.Can(x.admin, x.approve) }))
	require.Zero(t, testing.AllocsPerRun(100, func() { sink = x.pol.Decide(user, x.approve, "acme").Allowed() }))
	require.Zero(t, testing.AllocsPerRun(100, func() { sink = x.pol.Decide(key, x.approve, "acme").Allowed() }))
	require.Zero(t, testing.AllocsPerRun(100, func() { sink = x.pol.Decide(user, x.tech, "globex").Allowed() }), "a denial unread costs nothing")
	_ = sink
}

// decisionSentinels are the sentinels Decision.Err can match.
var decisionSentinels = []error{rbac.ErrUnauthenticated, rbac.ErrWrongOrganisation,
	rbac.ErrRoleLacksPermission, rbac.ErrScopeLacksPermission, rbac.ErrUnknownPermission}

func TestDeniedErrorIsErrorsAsable(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	err := x.pol.Decide(rbac.User("u", "acme", x.viewer), x.approve, "acme").Err()
	var de *rbac.DeniedError
	require.True(t, errors.As(err, &de))
	require.Equal(t, x.approve, de.Decision.Permission())
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
