package main

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// TestIdempotencyKeysPruned: the scheduled jobs prune the Idempotency-Keys
// older than the retention, in every organisation, and only those: a retry
// just inside the window still gets the first answer and creates no second
// payout; once the window is over the key is gone, and the same request
// runs again, as a new one; a key whose request is still running when the
// jobs run past its window is kept. In memory and on PostgreSQL.
func TestIdempotencyKeysPruned(t *testing.T) {
	for _, b := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"memory", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return pgtest.New(t).URL }},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			a, ts, clk, ada, org := startApp(t, b.url(t))
			retention := a.cfg.IdempotencyRetention
			require.Equal(t, defaultIdempotencyRetention, retention)
			ada.enrolMFA(org)
			// An API client: its key does not expire while the clock runs.
			robot := newClient(t, ts, clk)
			robot.bearer = ada.call("POST", "/orgs/"+org+"/api-keys", map[string]any{"name": "payouts",
				"scopes": []string{"payouts.schedule"}}, http.StatusCreated)["key"].(string)
			body := map[string]any{"amount_cents": 5000, "currency": "EUR", "bank_account": "DE89370400440532013000"}
			path := "/orgs/" + org + "/payouts"

			// Another organisation's key, claimed at the same moment.
			eve := newClient(t, ts, clk)
			eveOrg := eve.call("POST", "/signup", map[string]string{"organisation": "Evil", "name": "Eve",
				"email": "eve@example.com", "password": "eve has a long passphrase"}, http.StatusOK)["org"].(string)
			status, _ := eve.doKey("POST", "/orgs/"+eveOrg+"/payouts", "eve-1", body)
			require.Equal(t, http.StatusCreated, status)

			status, first := robot.doKey("POST", path, "key-1", body)
			require.Equal(t, http.StatusCreated, status)
			require.Equal(t, 2, a.countIdempotencyKeys(t))
			_, entries := countPayouts(t, a, org) // on PostgreSQL, Eve's entry too

			// Just inside the window: the jobs keep the key, and a retry
			// gets the first answer and creates nothing.
			clk.Advance(retention - time.Minute)
			require.NoError(t, a.runJobs(ctx))
			require.Equal(t, 2, a.countIdempotencyKeys(t), "no key inside the retention is pruned")
			status, again := robot.doKey("POST", path, "key-1", body)
			require.Equal(t, http.StatusCreated, status)
			require.Equal(t, first, again, "the first answer, replayed")
			payouts, entriesNow := countPayouts(t, a, org)
			require.Equal(t, 1, payouts)
			require.Equal(t, entries, entriesNow, "no second audit entry")

			// Past the window: the jobs prune both organisations' keys,
			// and the same request is a new one.
			clk.Advance(2 * time.Minute)
			require.NoError(t, a.runJobs(ctx))
			require.Zero(t, a.countIdempotencyKeys(t), "every key past the retention is pruned, in every organisation")
			status, later := robot.doKey("POST", path, "key-1", body)
			require.Equal(t, http.StatusCreated, status)
			require.NotEqual(t, first["id"], later["id"])
			payouts, _ = countPayouts(t, a, org)
			require.Equal(t, 2, payouts)

			// A key whose request is still running is never pruned: one is
			// claimed now, as the retried key-1 was, and its request has
			// not completed when the jobs run past the window. They prune
			// key-1 and keep it; it completes, and a retry gets its answer.
			k := idemKey{org: org, principal: "apikey:in-flight", key: "key-2", hash: sha256.Sum256([]byte("POST /payouts")),
				at: clk.Now().UTC()}
			res := idemResult{status: http.StatusCreated, body: []byte(`{"id":"in-flight"}`)}
			a.whileInFlight(t, k, res, func() {
				clk.Advance(retention + time.Minute)
				require.NoError(t, a.runJobs(ctx))
			})
			require.Equal(t, 1, a.countIdempotencyKeys(t), "key-1 is pruned, the key in flight is not")
			prev, err := a.store.ClaimIdempotencyKey(ctx, k)
			require.NoError(t, err)
			require.NotNil(t, prev, "the key survived the prune")
			require.Equal(t, res, *prev)
			// Completed, it is pruned like any other once past the window.
			require.NoError(t, a.runJobs(ctx))
			require.Zero(t, a.countIdempotencyKeys(t))
		})
	}
}

// whileInFlight claims k as a request does, runs during while the key's
// request is still running (on PostgreSQL: its transaction has not
// committed), then completes it with res.
func (a *app) whileInFlight(t *testing.T, k idemKey, res idemResult, during func()) {
	t.Helper()
	ctx := context.Background()
	run := func(ctx context.Context, st appStore) error {
		prev, err := st.ClaimIdempotencyKey(ctx, k)
		if err != nil {
			return err
		}
		require.Nil(t, prev, "a new key")
		during()
		if a.pool == nil { // on PostgreSQL a second claim would wait for this one
			_, err := a.store.ClaimIdempotencyKey(ctx, k)
			require.ErrorIs(t, err, errIdempotencyInFlight, "the key is still claimed")
		}
		return st.CompleteIdempotencyKey(ctx, k, res)
	}
	if ts, ok := a.store.(txStore); ok && a.pool != nil {
		require.NoError(t, ts.inTx(ctx, k.org, func(ctx context.Context, st appStore, _ pgx.Tx) error { return run(ctx, st) }))
		return
	}
	require.NoError(t, run(ctx, a.store))
}

// countIdempotencyKeys counts the stored keys of every organisation (on
// PostgreSQL as the test's superuser, whom row security does not filter).
func (a *app) countIdempotencyKeys(t *testing.T) (n int) {
	t.Helper()
	if a.pool != nil {
		require.NoError(t, a.pool.QueryRow(context.Background(), `SELECT count(*) FROM app_idempotency_keys`).Scan(&n))
		return n
	}
	m := a.store.(*memStore)
	m.idem.mu.Lock()
	defer m.idem.mu.Unlock()
	return len(m.idem.keys)
}

// TestIdempotencyRetentionBounds: a retention outside one hour to 30 days
// is refused at startup, naming the range; 0 is the default, a day.
func TestIdempotencyRetentionBounds(t *testing.T) {
	t.Parallel()
	quiet := slog.New(slog.DiscardHandler)
	for _, d := range []time.Duration{-time.Hour, time.Minute, 59 * time.Minute, 31 * 24 * time.Hour} {
		_, err := newApp(context.Background(), config{IdempotencyRetention: d, Warn: io.Discard, Logger: quiet})
		require.ErrorIs(t, err, errIdempotencyRetention, "%s", d)
		require.ErrorContains(t, err, "want from 1h0m0s to 720h0m0s")
	}
	for _, d := range []time.Duration{0, time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour} {
		a, err := newApp(context.Background(), config{IdempotencyRetention: d, Warn: io.Discard, Logger: quiet})
		require.NoError(t, err, "%s", d)
		a.Close()
	}
}
