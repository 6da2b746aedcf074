package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
	auditpg "github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/internal/pgfault"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/tenant"
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
// at each statement of the payout approval, of the payout creation and of
// the role change (and of the authentication reads before them):
// afterwards the app's row changed and exactly one entry records it, or
// neither; a 2xx is only ever answered for an action that committed with
// its entry, a failure is a 503; and a payout retried with its
// Idempotency-Key after the failure exists once, with one entry.
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

	t.Run("payout creation retried with its key", func(t *testing.T) {
		run := 0
		var status int
		var amount int
		points := f.fp.EachPoint(t, 40, func(context.Context) error {
			run++
			amount = 7000 + run
			status, _ = f.bob.doKey("POST", "/orgs/"+f.org+"/payouts", "retry-"+strconv.Itoa(run),
				map[string]any{"amount_cents": amount, "currency": "EUR", "bank_account": "DE89370400440532013000"})
			if !twoXX(status) {
				return fmt.Errorf("status %d", status)
			}
			return nil
		}, func(o pgfault.Outcome) {
			if !twoXX(status) {
				require.Equal(t, http.StatusServiceUnavailable, status, "point %d", o.Point)
			}
			// The client retries with the same key until it gets an answer:
			// whatever the first attempt left behind, there is one payout.
			var res map[string]any
			for range 3 {
				if status, res = f.bob.doKey("POST", "/orgs/"+f.org+"/payouts", "retry-"+strconv.Itoa(run),
					map[string]any{"amount_cents": amount, "currency": "EUR", "bank_account": "DE89370400440532013000"}); status == http.StatusCreated {
					break
				}
			}
			require.Equal(t, http.StatusCreated, status, "point %d: the retry succeeds", o.Point)
			var ids []string
			rows, err := f.db.Pool.Query(ctx, `SELECT id FROM app_payouts WHERE amount_cents = $1`, amount)
			require.NoError(t, err)
			for rows.Next() {
				var id string
				require.NoError(t, rows.Scan(&id))
				ids = append(ids, id)
			}
			require.NoError(t, rows.Err())
			require.Equal(t, []string{res["id"].(string)}, ids, "point %d: one payout, the one answered", o.Point)
			require.Equal(t, 1, f.entries(t, actPayoutCreated, "payout:"+ids[0]), "point %d: one entry", o.Point)
		})
		t.Logf("%d kill points", points)
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

// doKey sends a JSON request with an Idempotency-Key.
func (c *client) doKey(method, path, key string, body any) (int, map[string]any) {
	c.t.Helper()
	b, err := json.Marshal(body)
	require.NoError(c.t, err)
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(b))
	require.NoError(c.t, err)
	if key != "" {
		req.Header.Set(idempotencyHeader, key)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	res, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

// countPayouts counts org's payouts and their payout.created entries.
func countPayouts(t *testing.T, a *app, org string) (payouts, entries int) {
	t.Helper()
	err := allPages(func(p page) ([]payout, error) { return a.store.Payouts(tenant.With(context.Background(), org), org, p) },
		payoutPos, func(payout) error { payouts++; return nil })
	require.NoError(t, err)
	if a.pool != nil {
		require.NoError(t, a.pool.QueryRow(context.Background(), `SELECT
			(SELECT count(*) FROM auditlog_outbox WHERE action = $1) +
			(SELECT count(*) FROM auditlog_entries WHERE action = $1)`, actPayoutCreated).Scan(&entries))
		return payouts, entries
	}
	require.NoError(t, a.auditStore.Scan(context.Background(), auditlog.ChainFor(org), 0, func(e *auditlog.Entry) error {
		if e.Action == actPayoutCreated {
			entries++
		}
		return nil
	}))
	return payouts, entries
}

// TestIdempotencyKey: a request retried with its Idempotency-Key (the
// first answer was lost) gets the first answer and creates nothing; the
// same key with another body or on another route is 422; keys are per
// principal; 64 concurrent requests with one key create one payout. In
// memory and on PostgreSQL.
func TestIdempotencyKey(t *testing.T) {
	for _, b := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"memory", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return pgtest.New(t).URL }},
	} {
		t.Run(b.name, func(t *testing.T) {
			a, ts, clk, ada, org := startApp(t, b.url(t))
			ada.enrolMFA(org)
			body := map[string]any{"amount_cents": 5000, "currency": "EUR", "bank_account": "DE89370400440532013000"}
			path := "/orgs/" + org + "/payouts"

			status, first := ada.doKey("POST", path, "key-1", body)
			require.Equal(t, http.StatusCreated, status)
			// The answer was lost; the client retries, with a body
			// formatted otherwise (keys in another order are the same JSON).
			status, again := ada.doKey("POST", path, "key-1", map[string]any{"bank_account": "DE89370400440532013000", "currency": "EUR", "amount_cents": 5000})
			require.Equal(t, http.StatusCreated, status)
			require.Equal(t, first, again, "the first answer, replayed")
			payouts, entries := countPayouts(t, a, org)
			require.Equal(t, 1, payouts)
			require.Equal(t, 1, entries)

			cases := []struct {
				name   string
				method string
				path   string
				key    string
				body   any
				want   int
			}{
				{"same key, other amount", "POST", path, "key-1", map[string]any{"amount_cents": 5001, "currency": "EUR", "bank_account": "DE89370400440532013000"}, http.StatusUnprocessableEntity},
				{"same key, other route", "POST", path + "/" + first["id"].(string) + "/approve", "key-1", nil, http.StatusUnprocessableEntity},
				{"a new key", "POST", path, "key-2", body, http.StatusCreated},
				{"no key", "POST", path, "", body, http.StatusCreated},
				{"no key again", "POST", path, "", body, http.StatusCreated},
				{"key too long", "POST", path, strings.Repeat("k", maxIdempotencyKey+1), body, http.StatusBadRequest},
			}
			for _, tc := range cases {
				status, res := ada.doKey(tc.method, tc.path, tc.key, tc.body)
				require.Equal(t, tc.want, status, "%s: %v", tc.name, res)
			}
			payouts, entries = countPayouts(t, a, org)
			require.Equal(t, 4, payouts, "key-1, key-2 and the two without a key")
			require.Equal(t, 4, entries)

			// Keys are per principal: Bob's key-1 is his own.
			ada.call("POST", "/orgs/"+org+"/members", map[string]string{"name": "Bob", "email": "bob@example.com",
				"role": "financial_admin", "password": "bob's long passphrase"}, http.StatusCreated)
			bob := newClient(t, ts, clk)
			bob.call("POST", "/login", map[string]string{"email": "bob@example.com", "password": "bob's long passphrase"}, http.StatusOK)
			status, bobs := bob.doKey("POST", path, "key-1", body)
			require.Equal(t, http.StatusCreated, status)
			require.NotEqual(t, first["id"], bobs["id"])

			// Approval with a key: the retry replays the approval, it is
			// not a 409 "already approved".
			approve := path + "/" + bobs["id"].(string) + "/approve"
			status, ok1 := ada.doKey("POST", approve, "approve-1", nil)
			require.Equal(t, http.StatusOK, status, "%v", ok1)
			status, ok2 := ada.doKey("POST", approve, "approve-1", nil)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, ok1, ok2)
			status, _ = ada.doKey("POST", approve, "approve-2", nil)
			require.Equal(t, http.StatusConflict, status, "a new key is a new approval, refused")

			// 64 clients at once with one key: one payout. On PostgreSQL
			// the others wait for the first and get its answer; in memory
			// they are told to retry (409) while it runs.
			before, beforeEntries := countPayouts(t, a, org)
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				seen = map[int]int{}
				ids  = map[any]bool{}
			)
			// One client, a bounded number of connections (as a browser or
			// an SDK has): unbounded, the transport leaves dials half done.
			tr := ts.Client().Transport.(*http.Transport).Clone()
			tr.MaxConnsPerHost = 16
			t.Cleanup(tr.CloseIdleConnections)
			many := *ada
			many.http = &http.Client{Transport: tr, Jar: ada.http.Jar}
			for range 64 {
				wg.Go(func() {
					status, res := many.doKey("POST", path, "key-concurrent", body)
					mu.Lock()
					defer mu.Unlock()
					seen[status]++
					if status == http.StatusCreated {
						ids[res["id"]] = true
					}
				})
			}
			wg.Wait()
			require.Len(t, ids, 1, "every 201 is the same payout: %v", seen)
			if a.pool != nil {
				require.Equal(t, map[int]int{http.StatusCreated: 64}, seen)
			} else {
				require.Equal(t, 64, seen[http.StatusCreated]+seen[http.StatusConflict], "%v", seen)
			}
			after, afterEntries := countPayouts(t, a, org)
			require.Equal(t, before+1, after)
			require.Equal(t, beforeEntries+1, afterEntries)
		})
	}
}

// TestDenialsBackendKilled: rbac's denials are recorded through the audit
// outbox on a pool whose backends are killed at random while 16 clients
// are denied 40 times each: every 403 answered has exactly one entry once
// the relay drained, a denial that could not be recorded was answered 503
// (at most one entry: its INSERT may have committed before the connection
// broke), and nothing else was answered.
func TestDenialsBackendKilled(t *testing.T) {
	db := pgtest.New(t)
	clk := newClock()
	a, err := newApp(context.Background(), config{DatabaseURL: db.URL, AppDatabaseURL: appURL(t, db.URL), Now: clk.Now,
		Warn: io.Discard, KeysFile: testKeysFile(t, db.URL), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	fp := pgfault.New(t, db.URL, 4)
	a.denials = auditpg.NewOutboxRecorder(fp.Pool, a.audit)
	a.handler, err = a.routes() // before the server starts serving it
	require.NoError(t, err)
	ts := httptest.NewTLSServer(a)
	t.Cleanup(ts.Close)
	acme := newClient(t, ts, clk).call("POST", "/signup", map[string]string{"organisation": "Acme", "name": "Ada",
		"email": "ada@example.com", "password": "correct horse battery staple"}, http.StatusOK)["org"].(string)

	eve := newClient(t, ts, clk)
	evil := eve.call("POST", "/signup", map[string]string{"organisation": "Evil", "name": "Eve",
		"email": "eve@example.com", "password": "eve's long passphrase"}, http.StatusOK)["org"].(string)

	stop := fp.KillRandomly(5*time.Millisecond, 30*time.Millisecond)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		status = map[string]int{} // path: the answer
	)
	for c := range 16 {
		wg.Go(func() {
			for i := range 40 {
				path := "/orgs/" + acme + "/payouts/po-" + strconv.Itoa(c) + "-" + strconv.Itoa(i) + "/approve"
				code, _, _ := eve.do("POST", path, nil)
				mu.Lock()
				status[path] = code
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d backends killed", stop())

	o := a.auditStore.(auditlog.Outbox)
	require.Eventually(t, func() bool {
		st, err := o.OutboxStatus(context.Background())
		return err == nil && st.Drained()
	}, time.Minute, 5*time.Millisecond)
	recorded := map[string]int{}
	_, err = a.verifyChain(context.Background(), evil)
	require.NoError(t, err)
	require.NoError(t, a.auditStore.Scan(context.Background(), auditlog.ChainFor(evil), 0, func(e *auditlog.Entry) error {
		if e.Action == "rbac.access_denied" {
			recorded[payloadMap(e.Payload)["path"].(string)]++
		}
		return nil
	}))
	answered := map[int]int{}
	for path, code := range status {
		answered[code]++
		switch code {
		case http.StatusForbidden:
			require.Equal(t, 1, recorded[path], "%s answered 403: exactly one entry", path)
		case http.StatusServiceUnavailable:
			require.LessOrEqual(t, recorded[path], 1, "%s answered 503: at most one entry", path)
		default:
			t.Fatalf("%s answered %d", path, code)
		}
	}
	t.Logf("answers: %v", answered)
	require.Positive(t, answered[http.StatusForbidden])
}

// TestComplianceReportReadsOutbox: the audit control's live evidence
// includes the outbox: with the relay stopped, an entry that waits longer
// than OutboxMaxAge fails the control, saying how many wait and for how
// long; once a relay drained it, the evidence passes again.
func TestComplianceReportReadsOutbox(t *testing.T) {
	db := pgtest.New(t)
	clk := newClock()
	a, err := newApp(context.Background(), config{DatabaseURL: db.URL, AppDatabaseURL: appURL(t, db.URL), Now: clk.Now,
		Warn: io.Discard, KeysFile: testKeysFile(t, db.URL), Logger: slog.New(slog.DiscardHandler), OutboxMaxAge: 50 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	ts := httptest.NewTLSServer(a)
	t.Cleanup(ts.Close)
	ada := newClient(t, ts, clk)
	org := ada.call("POST", "/signup", map[string]string{"organisation": "Acme", "name": "Ada",
		"email": "ada@example.com", "password": "correct horse battery staple"}, http.StatusOK)["org"].(string)
	carol := ada.call("POST", "/orgs/"+org+"/members", map[string]string{"name": "Carol", "email": "carol@example.com",
		"role": "viewer", "password": "carol's long passphrase"}, http.StatusCreated)["id"].(string)

	evidence := func() compliance.EvidenceResult {
		t.Helper()
		rep, err := a.complianceReport(context.Background(), org)
		require.NoError(t, err)
		for _, c := range rep.Controls {
			for _, r := range c.Results {
				if r.Slot == compliance.SlotAuditChainVerifies {
					return r
				}
			}
		}
		t.Fatal("no audit chain evidence in the report")
		return compliance.EvidenceResult{}
	}
	require.True(t, evidence().Pass, evidence().Details)

	a.stopRelay()
	ada.call("PUT", "/orgs/"+org+"/members/"+carol+"/role", map[string]string{"role": "support"}, http.StatusNoContent)
	time.Sleep(100 * time.Millisecond)
	ev := evidence()
	require.False(t, ev.Pass)
	require.Contains(t, ev.Details, "1 waiting, the oldest for ")
	require.Contains(t, ev.Details, "longer than 50ms")

	a.startRelay()
	require.Eventually(t, func() bool { return evidence().Pass }, time.Minute, 10*time.Millisecond)
	require.Contains(t, auditActions(t, ada, org), actMemberRoleChanged)
}
