package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/internal/pgfault"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// flowsApp is an app on PostgreSQL whose own tables are served through a
// pool the test kills backends of, with Ada (owner, MFA enrolled and
// fresh), Bob (financial admin, MFA enrolled) and Carol (viewer) in Acme.
type flowsApp struct {
	a          *app
	db         *pgtest.DB
	ts         *httptest.Server
	clk        *clock
	fp         *pgfault.Pool // the pool a.store runs on
	ada, bob   *client
	org, carol string
}

func startFlowsApp(t *testing.T) *flowsApp {
	t.Helper()
	f := &flowsApp{db: pgtest.New(t), clk: newClock()}
	appDB := appURL(t, f.db.URL)
	a, err := newApp(context.Background(), config{DatabaseURL: f.db.URL, AppDatabaseURL: appDB, Now: f.clk.Now,
		Warn: io.Discard, KeysFile: testKeysFile(t, f.db.URL), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	f.a = a
	f.fp = pgfault.New(t, appDB, 4)
	a.store = &pgStore{db: f.fp.Pool}
	f.ts = httptest.NewTLSServer(a)
	t.Cleanup(f.ts.Close)

	f.ada = newClient(t, f.ts, f.clk)
	f.org = f.ada.call("POST", "/signup", map[string]string{"organisation": "Acme", "name": "Ada",
		"email": "ada@example.com", "password": "correct horse battery staple"}, http.StatusOK)["org"].(string)
	f.ada.enrolMFA(f.org)
	f.ada.call("POST", "/orgs/"+f.org+"/members", map[string]string{"name": "Bob", "email": "bob@example.com",
		"role": "financial_admin", "password": "bob's long passphrase"}, http.StatusCreated)
	f.bob = newClient(t, f.ts, f.clk)
	f.bob.call("POST", "/login", map[string]string{"email": "bob@example.com", "password": "bob's long passphrase"}, http.StatusOK)
	f.bob.enrolMFA(f.org)
	f.carol = f.ada.call("POST", "/orgs/"+f.org+"/members", map[string]string{"name": "Carol", "email": "carol@example.com",
		"role": "viewer", "password": "carol's long passphrase"}, http.StatusCreated)["id"].(string)
	return f
}

// entries counts the audit entries of action on target, sealed or still in
// the outbox, in one snapshot (the relay moves rows from one to the other
// in one transaction).
func (f *flowsApp) entries(t *testing.T, action, target string) int {
	t.Helper()
	var n int
	require.NoError(t, f.db.Pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM auditlog_outbox WHERE action = $1 AND target = $2) +
		(SELECT count(*) FROM auditlog_entries WHERE action = $1 AND target = $2)`, action, target).Scan(&n))
	return n
}

// drained waits until the relay has sealed every outbox row, and verifies
// the organisation's chain.
func (f *flowsApp) drained(t *testing.T) {
	t.Helper()
	o := f.a.auditStore.(auditlog.Outbox)
	require.Eventually(t, func() bool {
		st, err := o.OutboxStatus(context.Background())
		return err == nil && st.Drained()
	}, time.Minute, 5*time.Millisecond)
	_, err := f.a.verifyChain(context.Background(), f.org)
	require.NoError(t, err)
}

// twoXX reports whether status is a success.
func twoXX(status int) bool { return status >= 200 && status < 300 }

// TestFlowsBackendKilled: the backend serving the app's tables is killed
// at each statement of the payout approval and of the role change (and of
// the authentication reads before them): afterwards the app's row changed
// and exactly one entry records it, or neither; a 2xx is only ever
// answered for an action that committed with its entry.
func TestFlowsBackendKilled(t *testing.T) {
	f := startFlowsApp(t)
	ctx := context.Background()

	t.Run("payout approval", func(t *testing.T) {
		var ids []string
		for i := range 40 {
			po := f.bob.call("POST", "/orgs/"+f.org+"/payouts", map[string]any{"amount_cents": 100 + i, "currency": "EUR",
				"bank_account": "DE89370400440532013000"}, http.StatusCreated)
			ids = append(ids, po["id"].(string))
		}
		next := 0
		var id string
		var status int
		points := f.fp.EachPoint(t, len(ids), func(context.Context) error {
			id, next = ids[next], next+1
			status, _, _ = f.ada.do("POST", "/orgs/"+f.org+"/payouts/"+id+"/approve", nil)
			if !twoXX(status) {
				return fmt.Errorf("status %d", status)
			}
			return nil
		}, func(o pgfault.Outcome) {
			var st string
			require.NoError(t, f.db.Pool.QueryRow(ctx, `SELECT status FROM app_payouts WHERE id = $1`, id).Scan(&st))
			n := f.entries(t, actPayoutApproved, "payout:"+id)
			if twoXX(status) {
				require.Equal(t, "approved", st, "point %d: 2xx for an approval that did not commit", o.Point)
			}
			if st == "approved" {
				require.Equal(t, 1, n, "point %d: approved with %d entries", o.Point, n)
			} else {
				require.Zero(t, n, "point %d: an entry for an approval that rolled back", o.Point)
			}
			if o.Killed && !twoXX(status) {
				require.Equal(t, http.StatusServiceUnavailable, status, "point %d: a lost connection is a 503 the client may retry", o.Point)
			} else {
				require.Equal(t, http.StatusOK, status)
			}
		})
		t.Logf("%d kill points", points)
		require.GreaterOrEqual(t, points, 5, "BEGIN, the payout, the approval, the outbox row, COMMIT at least")
	})

	t.Run("role change", func(t *testing.T) {
		var (
			status, changes int
			target          string
		)
		role := func() string {
			var r string
			require.NoError(t, f.db.Pool.QueryRow(ctx, `SELECT role FROM app_users WHERE id = $1`, f.carol).Scan(&r))
			return r
		}
		points := f.fp.EachPoint(t, 40, func(context.Context) error {
			target = map[string]string{"viewer": "support", "support": "viewer"}[role()]
			status, _, _ = f.ada.do("PUT", "/orgs/"+f.org+"/members/"+f.carol+"/role", map[string]string{"role": target})
			if !twoXX(status) {
				return fmt.Errorf("status %d", status)
			}
			return nil
		}, func(o pgfault.Outcome) {
			committed := role() == target
			if committed {
				changes++
			}
			if twoXX(status) {
				require.True(t, committed, "point %d: 2xx for a role change that did not commit", o.Point)
			}
			require.Equal(t, changes, f.entries(t, actMemberRoleChanged, "user:"+f.carol),
				"point %d: one entry per committed change, none for a rolled-back one", o.Point)
			if o.Killed && !twoXX(status) {
				require.Equal(t, http.StatusServiceUnavailable, status, "point %d: a lost connection is a 503 the client may retry", o.Point)
			} else {
				require.Equal(t, http.StatusNoContent, status)
			}
		})
		t.Logf("%d kill points, %d changes committed", points, changes)
	})
	f.drained(t)
}
