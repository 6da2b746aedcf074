package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	privacypg "github.com/rampart-sdk/rampart/privacy/pgstore"
	"github.com/rampart-sdk/rampart/tenant"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

// appURL creates a login role for the application (no superuser, no
// BYPASSRLS, owner of nothing) on the database of ownerURL, and returns
// ownerURL with that role as its user: the DATABASE_APP_URL of a test. It
// returns "" for "" (memory stores). The role is dropped when the test ends,
// after the app (whose cleanup registers later) has closed its pool.
func appURL(t *testing.T, ownerURL string) string {
	t.Helper()
	if ownerURL == "" {
		return ""
	}
	ctx := context.Background()
	u, err := url.Parse(ownerURL)
	require.NoError(t, err)
	schema := u.Query().Get("search_path")
	var b [6]byte
	_, _ = crand.Read(b[:])
	role := "saasapp_app_" + hex.EncodeToString(b[:])
	owner, err := pgx.Connect(ctx, ownerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	stmt := "CREATE ROLE " + role + " LOGIN NOSUPERUSER NOBYPASSRLS"
	if schema != "" {
		stmt += "; GRANT USAGE ON SCHEMA " + pgx.Identifier{schema}.Sanitize() + " TO " + role
	}
	_, err = owner.Exec(ctx, stmt)
	require.NoError(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), ownerURL)
		if err != nil {
			t.Logf("drop role %s: %v", role, err)
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP OWNED BY "+role)
		if _, err := c.Exec(context.Background(), "DROP ROLE "+role); err != nil {
			t.Logf("drop role %s: %v", role, err)
		}
	})
	u.User = url.User(role)
	return u.String()
}

// startTenantApp starts the app on a fresh database, served as an
// application role, and returns it with the owner's database.
func startTenantApp(t *testing.T) (*app, *pgtest.DB, *httptest.Server, *clock) {
	t.Helper()
	db := pgtest.New(t)
	clk := newClock()
	a, err := newApp(context.Background(), config{DatabaseURL: db.URL, AppDatabaseURL: appURL(t, db.URL), Now: clk.Now,
		Warn: io.Discard, KeysFile: testKeysFile(t, db.URL), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	require.NotEmpty(t, a.appRole, "the app's tables are served as another role than their owner")
	ts := httptest.NewTLSServer(a)
	t.Cleanup(ts.Close)
	return a, db, ts, clk
}

// ids returns the "id" of every item of list in a list response.
func ids(resp map[string]any, list string) []string {
	var out []string
	items, _ := resp[list].([]any)
	for _, it := range items {
		out = append(out, it.(map[string]any)["id"].(string))
	}
	return out
}

// TestTenantListsNeverCross: two organisations fill every organisation-
// scoped table; each one's list routes return exactly its own rows. The
// store's queries carry no WHERE org: row-level security, binding the
// application role, does the filtering.
func TestTenantListsNeverCross(t *testing.T) {
	t.Parallel()
	_, _, ts, clk := startTenantApp(t)
	type tenantState struct {
		owner *client
		org   string
		mine  map[string][]string // list name -> ids created
	}
	var orgs []*tenantState
	for _, name := range []string{"acme", "globex"} {
		c := newClient(t, ts, clk)
		org := c.call("POST", "/signup", map[string]string{"organisation": name, "name": name + " owner",
			"email": "owner@" + name + ".example", "password": "a long enough passphrase"}, http.StatusOK)["org"].(string)
		c.enrolMFA(org)
		st := &tenantState{owner: c, org: org, mine: map[string][]string{}}
		for i := range 2 {
			st.mine["payouts"] = append(st.mine["payouts"], c.call("POST", "/orgs/"+org+"/payouts", map[string]any{"amount_cents": 100 + i,
				"currency": "EUR", "bank_account": "DE89370400440532013000"}, http.StatusCreated)["id"].(string))
			st.mine["integrations"] = append(st.mine["integrations"], c.call("POST", "/orgs/"+org+"/integrations",
				map[string]string{"provider": "github", "access_token": "gho_token"}, http.StatusCreated)["id"].(string))
			st.mine["leads"] = append(st.mine["leads"], newClient(t, ts, clk).call("POST", "/orgs/"+org+"/leads",
				map[string]string{"email": "lead@example.org"}, http.StatusAccepted)["id"].(string))
			st.mine["members"] = append(st.mine["members"], c.call("POST", "/orgs/"+org+"/members", map[string]string{
				"name": "member", "email": name + "-member" + strconv.Itoa(i) + "@example.com", "role": "viewer",
				"password": "a long enough passphrase"}, http.StatusCreated)["id"].(string))
		}
		orgs = append(orgs, st)
	}
	for _, st := range orgs {
		for _, list := range []string{"payouts", "integrations", "leads", "members"} {
			got := ids(st.owner.call("GET", "/orgs/"+st.org+"/"+list, nil, http.StatusOK), list)
			if list == "members" {
				require.Len(t, got, 3, "the owner and two members")
				require.Subset(t, got, st.mine[list])
			} else {
				require.ElementsMatch(t, st.mine[list], got, "%s of %s", list, st.org)
			}
			for _, other := range orgs {
				if other != st {
					for _, id := range other.mine[list] {
						require.NotContains(t, got, id, "%s of %s leaked into %s", list, other.org, st.org)
					}
				}
			}
		}
	}
}

// TestQueryWithoutOrgFilter: a query that names no organisation, run as
// the application role, returns only the bound organisation's rows; with no
// organisation bound it returns none; and a store call naming another
// organisation than the one rbac bound is refused.
func TestQueryWithoutOrgFilter(t *testing.T) {
	t.Parallel()
	a, _, _, _ := startTenantApp(t)
	ctx := context.Background()
	st := a.store.(*pgStore)
	now := a.now().UTC()
	for _, o := range []string{"org-a", "org-b"} {
		require.NoError(t, st.CreateOrg(ctx, org{ID: o, Name: o, CreatedAt: now},
			user{ID: "owner-" + o, Org: o, Role: "owner", State: userActive, CreatedAt: now}))
		for i := range 3 {
			require.NoError(t, st.AddPayout(ctx, payout{ID: o + "-p" + strconv.Itoa(i), Org: o, AmountCents: 1, Currency: "EUR",
				BankAccount: []byte{1}, Status: "pending", CreatedBy: "owner-" + o, CreatedAt: now}))
		}
	}

	// The store's own page query, as a handler runs it (rbac bound org-a).
	bound := tenant.With(ctx, "org-a")
	ps, err := st.Payouts(bound, "org-a", page{limit: 100})
	require.NoError(t, err)
	require.Len(t, ps, 3)
	for _, p := range ps {
		require.Equal(t, "org-a", p.Org)
	}

	// A query someone wrote without any WHERE at all.
	var orgsSeen []string
	require.NoError(t, tenantpg.Run(bound, st.db, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT p.org FROM app_payouts p JOIN app_users u ON u.id = p.created_by`)
		if err != nil {
			return err
		}
		orgsSeen, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}))
	require.Equal(t, []string{"org-a", "org-a", "org-a"}, orgsSeen)

	// The application role outside a tenant transaction sees nothing.
	var n int
	require.NoError(t, st.db.QueryRow(ctx, `SELECT count(*) FROM app_payouts`).Scan(&n))
	require.Zero(t, n, "no organisation set: zero rows, never all")

	// A handler bound to org-a cannot have the store act for org-b.
	_, err = st.Payouts(bound, "org-b", page{limit: 100})
	require.ErrorIs(t, err, errCrossTenant)
	require.ErrorIs(t, st.AddPayout(bound, payout{ID: "x", Org: "org-b", Currency: "EUR", BankAccount: []byte{1}, CreatedAt: now}), errCrossTenant)
	_, err = st.SessionData(ctx, "any")
	require.ErrorIs(t, err, tenant.ErrNoOrg)

	// Login finds a user of any organisation through the directory alone.
	require.NoError(t, st.AddUser(ctx, user{ID: "u-b", Org: "org-b", Role: "viewer", State: userActive, EmailIdx: []byte("idx-b"), CreatedAt: now}))
	u, err := st.UserByEmail(ctx, [][]byte{[]byte("nope"), []byte("idx-b")})
	require.NoError(t, err)
	require.Equal(t, "org-b", u.Org)
	_, err = st.UserByEmail(ctx, [][]byte{[]byte("nope")})
	require.ErrorIs(t, err, errNotFound)
	_, err = st.db.Exec(ctx, `SELECT * FROM app_login_directory`)
	require.Error(t, err, "the application role cannot read the directory, only look one email up")
	erased, err2 := st.EraseUser(ctx, "org-b", "u-b")
	require.NoError(t, err2)
	require.EqualValues(t, 1, erased)
	_, err = st.UserByEmail(ctx, [][]byte{[]byte("idx-b")})
	require.ErrorIs(t, err, errNotFound, "erasure removes the directory entry")
}

// TestSaasappTenantPosture: tenantpg.Check, as `rampart doctor
// --tenant-column org --app-role ROLE` runs it, passes on the app's schema:
// every app table with an org column, and every organisation-scoped table
// of rampart's own stores (each component's ProtectedTables, which the app
// protects at start), is under the policy, and the application role is no
// superuser, does not bypass row security, and owns none of them. The
// tables rampart leaves out by design (magic links, the login throttle, the
// audit outbox...) are not examined.
func TestSaasappTenantPosture(t *testing.T) {
	t.Parallel()
	a, db, _, _ := startTenantApp(t)
	fs, err := tenantpg.Check(context.Background(), db.Pool, "org", a.appRole)
	require.NoError(t, err)
	covered := isolatedTables()
	require.Contains(t, covered, "authn_sessions")
	require.Contains(t, covered, "auditlog_entries")
	seen := map[string]bool{}
	for _, f := range fs {
		table := strings.TrimPrefix(f.Table, db.Schema+".")
		if f.Table != "" && !slices.Contains(covered, table) {
			continue
		}
		seen[table] = true
		require.True(t, f.OK, "%s: %s (fix: %s)", f.Table, f.Check, f.Fix)
	}
	for _, table := range covered {
		require.True(t, seen[table], "Check examined %s", table)
	}
	require.True(t, seen[""], "Check examined the application role")
}

// TestRampartTablesBindTheServingRole: rampart's own stores serve the app
// as the application role, bound to each operation's organisation, so the
// database, not only their WHERE clauses, keeps organisations apart: the
// role outside a tenant transaction reads none of the sessions, API keys,
// MFA enrolments, privacy subjects, lifecycle events, requests and consent
// records that exist; bound to one organisation it reads that
// organisation's; and a store call of a request bound to one organisation
// that names another finds nothing of the other's.
func TestRampartTablesBindTheServingRole(t *testing.T) {
	t.Parallel()
	a, db, ts, clk := startTenantApp(t)
	ctx := context.Background()
	var orgs []string
	for _, name := range []string{"acme", "globex"} {
		c := newClient(t, ts, clk)
		org := c.call("POST", "/signup", map[string]string{"organisation": name, "name": name + " owner",
			"email": "owner@" + name + ".example", "password": "a long enough passphrase"}, http.StatusOK)["org"].(string)
		c.enrolMFA(org)
		c.call("POST", "/orgs/"+org+"/api-keys", map[string]any{"name": "ci", "scopes": []string{"payouts.view"}}, http.StatusCreated)
		// privacy's rows: a member consents to analytics, then deletes
		// their own account (an erasure request, a subject awaiting
		// erasure, its lifecycle event).
		email := "member@" + name + ".example"
		c.call("POST", "/orgs/"+org+"/members", map[string]string{"name": "member", "email": email, "role": "viewer",
			"password": "a long enough passphrase"}, http.StatusCreated)
		m := newClient(t, ts, clk)
		m.call("POST", "/login", map[string]string{"email": email, "password": "a long enough passphrase"}, http.StatusOK)
		m.call("POST", "/orgs/"+org+"/me/consent", map[string]any{"purpose": "analytics", "granted": true}, http.StatusOK)
		m.enrolMFA(org)
		m.call("DELETE", "/orgs/"+org+"/me", nil, http.StatusAccepted)
		orgs = append(orgs, org)
	}
	tables := []string{"authn_sessions", "authn_api_keys", "mfa_enrollments",
		"privacy_subjects", "privacy_events", "privacy_requests", "privacy_consent"}
	count := func(q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}, ctx context.Context, table string) (n int) {
		require.NoError(t, q.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n), table)
		return n
	}
	// Any other privacy table that got rows is checked too.
	for _, table := range privacypg.ProtectedTables() {
		if !slices.Contains(tables, table) && count(db.Pool, ctx, table) > 0 {
			tables = append(tables, table)
		}
	}
	for _, table := range tables {
		require.Positive(t, count(db.Pool, ctx, table), "%s has rows (as the owner)", table)
		require.Zero(t, count(a.appPool, ctx, table), "%s: the application role, unbound, reads none", table)
		var bound int
		require.NoError(t, tenantpg.Run(tenant.With(ctx, orgs[0]), a.appPool, func(ctx context.Context, tx pgx.Tx) error {
			bound = count(tx, ctx, table)
			var others int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE org <> $1`, orgs[0]).Scan(&others); err != nil {
				return err
			}
			require.Zero(t, others, "%s: bound to %s, no row of another organisation", table, orgs[0])
			return nil
		}))
		require.Positive(t, bound, "%s: bound to its organisation, the role reads its rows", table)
	}

	// A request bound to acme whose code names globex finds nothing of it.
	acme := tenant.With(ctx, orgs[0])
	keys, _, err := a.apiKeys.List(acme, orgs[1], "", 10)
	require.NoError(t, err)
	require.Empty(t, keys, "globex's API keys, asked for in acme's request")
	keys, _, err = a.apiKeys.List(tenant.With(ctx, orgs[1]), orgs[1], "", 10)
	require.NoError(t, err)
	require.Len(t, keys, 1)
}

// TestServingRoleMustNotBypassRLS: the app's queries name no organisation,
// so it refuses to serve them as a role row security does not bind (the
// test server's superuser), instead of serving every tenant's rows.
func TestServingRoleMustNotBypassRLS(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	_, err := newApp(context.Background(), config{DatabaseURL: db.URL, DevKeys: true, Warn: io.Discard,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.ErrorIs(t, err, errServesBypassingRLS)
	require.ErrorContains(t, err, "DATABASE_APP_URL")
}

// tenantEvidence returns the tenant-isolation results of a's compliance
// report for org.
func tenantEvidence(t *testing.T, a *app, org string) []compliance.EvidenceResult {
	t.Helper()
	r, err := a.complianceReport(context.Background(), org)
	require.NoError(t, err)
	var out []compliance.EvidenceResult
	for _, c := range r.Controls {
		for _, e := range c.Results {
			if e.Slot == compliance.SlotTenantIsolation {
				out = append(out, e)
			}
		}
	}
	require.NotEmpty(t, out, "the GDPR catalog has a tenant-isolation control")
	return out
}

// TestComplianceTenantIsolation: the report's tenant-isolation evidence is
// tenantpg.Check, live: it passes on the app's schema, fails with the fixing
// statement once row security stops being forced on one table, and on
// memory stores says it is no row-level security.
func TestComplianceTenantIsolation(t *testing.T) {
	t.Parallel()
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		a, db, _, _ := startTenantApp(t)
		for _, e := range tenantEvidence(t, a, "any") {
			require.True(t, e.Pass, e.Details)
			require.Contains(t, e.Details, "row-level security verified on app_users")
			require.Contains(t, e.Details, a.appRole)
		}
		_, err := db.Pool.Exec(context.Background(), `ALTER TABLE app_payouts NO FORCE ROW LEVEL SECURITY`)
		require.NoError(t, err)
		for _, e := range tenantEvidence(t, a, "any") {
			require.False(t, e.Pass)
			require.Contains(t, e.Details, "FORCE ROW LEVEL SECURITY;")
			require.Contains(t, e.Details, "app_payouts")
		}
	})
	// rampart's own tables are part of the evidence: a superuser who
	// disables row security on one turns the control red, and the details
	// give the statement that turns it back on.
	t.Run("postgres rampart's tables", func(t *testing.T) {
		t.Parallel()
		a, db, _, _ := startTenantApp(t)
		for _, e := range tenantEvidence(t, a, "any") {
			require.True(t, e.Pass, e.Details)
			for _, table := range []string{"authn_sessions", "mfa_enrollments", "privacy_subjects", "auditlog_entries"} {
				require.Contains(t, e.Details, table)
			}
		}
		_, err := db.Pool.Exec(context.Background(), `ALTER TABLE authn_sessions DISABLE ROW LEVEL SECURITY`)
		require.NoError(t, err)
		fix := "ALTER TABLE " + pgx.Identifier{db.Schema, "authn_sessions"}.Sanitize() + " ENABLE ROW LEVEL SECURITY;"
		for _, e := range tenantEvidence(t, a, "any") {
			require.False(t, e.Pass)
			require.Contains(t, e.Details, db.Schema+".authn_sessions: not \"row-level security is enabled\"")
			require.Contains(t, e.Details, fix)
			require.NotContains(t, e.Details, "mfa_enrollments", "only the failing table is named")
		}
		_, err = db.Pool.Exec(context.Background(), fix)
		require.NoError(t, err)
		for _, e := range tenantEvidence(t, a, "any") {
			require.True(t, e.Pass, "the fix statement restores the control: %s", e.Details)
		}
	})
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		a, err := newApp(context.Background(), config{Warn: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		require.NoError(t, err)
		t.Cleanup(a.Close)
		for _, e := range tenantEvidence(t, a, "any") {
			require.True(t, e.Pass)
			require.Contains(t, e.Details, "no row-level security")
		}
	})
}

// TestInstancesMigrateTogether: instances starting at the same moment all
// run the app's migration (policies, the login directory's trigger and
// functions, the grants) without tripping over each other.
func TestInstancesMigrateTogether(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	keys := testKeysFile(t, db.URL)
	appDB := appURL(t, db.URL)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			a, err := newApp(context.Background(), config{DatabaseURL: db.URL, AppDatabaseURL: appDB, KeysFile: keys,
				Warn: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err == nil {
				a.Close()
			}
			errs <- err
		}()
	}
	for range 3 {
		require.NoError(t, <-errs)
	}
}

// An instance that starts while another serves must not deadlock with a
// serving transaction that writes privacy's tables and then authn's, as
// deleteAccount does: the starting instance protects one component (one
// table, for the app's own) per transaction, so it never holds authn's
// tables while it waits for privacy's. The serving transaction takes its
// second lock only once the starting instance waits on its first.
func TestInstanceStartsWhileServing(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	cfg := config{DatabaseURL: db.URL, AppDatabaseURL: appURL(t, db.URL), KeysFile: testKeysFile(t, db.URL),
		Warn: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a, err := newApp(ctx, cfg)
	require.NoError(t, err)
	defer a.Close()

	serving, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = serving.Rollback(ctx) }()
	_, err = serving.Exec(ctx, `LOCK TABLE privacy_subjects IN ROW EXCLUSIVE MODE`)
	require.NoError(t, err)

	started := make(chan error, 1)
	go func() {
		b, err := newApp(ctx, cfg)
		if err == nil {
			b.Close()
		}
		started <- err
	}()
	require.Eventually(t, func() bool {
		var waiting bool
		err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE NOT granted AND relation = 'privacy_subjects'::regclass)`).Scan(&waiting)
		return err == nil && waiting
	}, time.Minute, 10*time.Millisecond, "the starting instance reaches privacy's Protect")

	_, err = serving.Exec(ctx, `LOCK TABLE authn_sessions IN ROW EXCLUSIVE MODE`)
	require.NoError(t, err, "the serving transaction is not the deadlock's victim")
	require.NoError(t, serving.Commit(ctx))
	require.NoError(t, <-started, "nor is the starting instance")
}

// A start cancelled while it waits for the migration lock fails with the
// context's error, runs no step, and leaves no lock behind on the pool's
// connections: the next start takes it at once.
func TestMigrationLockCancelledWhileWaiting(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	holder, err := db.Pool.Acquire(ctx)
	require.NoError(t, err)
	defer holder.Release()
	_, err = holder.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended('saasapp.migrate', 0))`)
	require.NoError(t, err)

	waiting, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err = migrationSteps(waiting, db.Pool, func(*pgxpool.Conn) error {
		t.Error("a step ran without the lock")
		return nil
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	noLockInPool := func(after string) {
		for _, c := range db.Pool.AcquireAllIdle(ctx) {
			var held int
			err := c.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'`).Scan(&held)
			c.Release()
			require.NoError(t, err)
			require.Zero(t, held, "after %s, a pooled connection kept an advisory lock", after)
		}
	}
	noLockInPool("a cancelled wait")

	_, err = holder.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended('saasapp.migrate', 0))`)
	require.NoError(t, err)
	ran := false
	require.NoError(t, migrationSteps(ctx, db.Pool, func(*pgxpool.Conn) error { ran = true; return nil }))
	require.True(t, ran, "the next start takes the lock")
	noLockInPool("a completed start")
}
