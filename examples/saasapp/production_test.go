package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// backends runs f on the memory stores and on PostgreSQL.
func backends(t *testing.T, f func(t *testing.T, databaseURL string)) {
	t.Run("memory", func(t *testing.T) { f(t, "") })
	t.Run("postgres", func(t *testing.T) { f(t, pgtest.New(t).URL) })
}

// TestListsArePaginated: every list route answers pages of at most 200 rows
// with a cursor; walking the cursors visits every row once, in order, and
// bad page parameters are refused rather than ignored.
func TestListsArePaginated(t *testing.T) {
	backends(t, func(t *testing.T, databaseURL string) {
		_, _, _, ada, org := startApp(t, databaseURL)
		const n = 7
		want := map[string]bool{}
		for i := range n {
			po := ada.call("POST", "/orgs/"+org+"/payouts", map[string]any{"amount_cents": 100 + i, "currency": "EUR",
				"bank_account": "DE89 3704 0044 0532 0130 00"}, http.StatusCreated)
			want[po["id"].(string)] = true
		}
		seen := map[string]bool{}
		path := "/orgs/" + org + "/payouts?limit=3"
		var pages []int
		for path != "" {
			status, body, hdr := ada.do("GET", path, nil)
			require.Equal(t, http.StatusOK, status, "%s", body)
			var res struct {
				Payouts []struct {
					ID string `json:"id"`
				} `json:"payouts"`
				Next string `json:"next_cursor"`
			}
			require.NoError(t, json.Unmarshal(body, &res))
			pages = append(pages, len(res.Payouts))
			for _, p := range res.Payouts {
				require.False(t, seen[p.ID], "a row appears on one page only")
				seen[p.ID] = true
			}
			path = ""
			if res.Next != "" {
				link := hdr.Get("Link")
				require.Contains(t, link, `rel="next"`)
				path = "/orgs/" + org + "/payouts?limit=3&cursor=" + url.QueryEscape(res.Next)
				require.Contains(t, link, url.QueryEscape(res.Next))
			} else {
				require.Empty(t, hdr.Get("Link"))
			}
		}
		require.Equal(t, []int{3, 3, 1}, pages)
		require.Equal(t, want, seen)

		// API keys page the same way (authn's own cursor).
		for range 3 {
			ada.call("POST", "/orgs/"+org+"/api-keys", map[string]any{"scopes": []string{"org.view"}}, http.StatusCreated)
		}
		first := ada.call("GET", "/orgs/"+org+"/api-keys?limit=2", nil, http.StatusOK)
		require.Len(t, first["api_keys"], 2)
		next := first["next_cursor"].(string)
		rest := ada.call("GET", "/orgs/"+org+"/api-keys?limit=2&cursor="+url.QueryEscape(next), nil, http.StatusOK)
		require.Len(t, rest["api_keys"], 1)
		require.Nil(t, rest["next_cursor"])

		for _, list := range []string{"payouts", "members", "integrations", "leads", "api-keys"} {
			for _, q := range []string{"limit=0", "limit=201", "limit=x", "cursor=%%%", "cursor=" + url.QueryEscape("bm90LWEtY3Vyc29y")} {
				status, body, _ := ada.do("GET", "/orgs/"+org+"/"+list+"?"+q, nil)
				require.Equal(t, http.StatusBadRequest, status, "%s?%s: %s", list, q, body)
			}
			status, body, _ := ada.do("GET", "/orgs/"+org+"/"+list+"?limit="+strconv.Itoa(maxPageSize), nil)
			require.Equal(t, http.StatusOK, status, "%s: %s", list, body)
		}
	})
}

// TestSessionRoutes: a user lists and ends their own sessions; an
// administrator ends a member's; nobody ends someone else's by guessing an
// ID, and an admin cannot log out the owner.
func TestSessionRoutes(t *testing.T) {
	backends(t, func(t *testing.T, databaseURL string) {
		_, ts, clk, ada, org := startApp(t, databaseURL)
		login := func(email, password string) *client {
			c := newClient(t, ts, clk)
			c.call("POST", "/login", map[string]string{"email": email, "password": password}, http.StatusOK)
			return c
		}
		laptop := login("ada@example.com", "correct horse battery staple")
		mine := ada.call("GET", "/orgs/"+org+"/me/sessions", nil, http.StatusOK)["sessions"].([]any)
		require.Len(t, mine, 2)
		var current, other string
		for _, s := range mine {
			s := s.(map[string]any)
			if s["current"].(bool) {
				current = s["id"].(string)
			} else {
				other = s["id"].(string)
			}
		}
		require.NotEmpty(t, current)
		require.NotEmpty(t, other)

		// Bob is an admin; he cannot end Ada's (the owner's) sessions, by her
		// user or by her session ID.
		bobID := ada.call("POST", "/orgs/"+org+"/members", map[string]string{"name": "Bob", "email": "bob@example.com",
			"role": "admin", "password": "bob's long passphrase"}, http.StatusCreated)["id"].(string)
		bob := login("bob@example.com", "bob's long passphrase")
		adaID := ada.call("GET", "/orgs/"+org+"/me", nil, http.StatusOK)["id"].(string)
		bob.call("DELETE", "/orgs/"+org+"/members/"+adaID+"/sessions", nil, http.StatusForbidden)
		bob.call("DELETE", "/orgs/"+org+"/me/sessions/"+other, nil, http.StatusNotFound)
		laptop.call("GET", "/orgs/"+org+"/me", nil, http.StatusOK)

		// Ada ends the laptop's session by ID, then every other one.
		ada.call("DELETE", "/orgs/"+org+"/me/sessions/"+other, nil, http.StatusNoContent)
		laptop.call("GET", "/orgs/"+org+"/me", nil, http.StatusUnauthorized)
		phone := login("ada@example.com", "correct horse battery staple")
		require.EqualValues(t, 1, ada.call("POST", "/orgs/"+org+"/me/sessions/revoke-others", nil, http.StatusOK)["revoked"])
		phone.call("GET", "/orgs/"+org+"/me", nil, http.StatusUnauthorized)
		ada.call("GET", "/orgs/"+org+"/me", nil, http.StatusOK)

		// Session lists page like every list: two at a time over Ada's three.
		login("ada@example.com", "correct horse battery staple")
		login("ada@example.com", "correct horse battery staple")
		first := ada.call("GET", "/orgs/"+org+"/me/sessions?limit=2", nil, http.StatusOK)
		require.Len(t, first["sessions"], 2)
		rest := ada.call("GET", "/orgs/"+org+"/me/sessions?limit=2&cursor="+url.QueryEscape(first["next_cursor"].(string)), nil, http.StatusOK)
		require.Len(t, rest["sessions"], 1)
		ada.call("GET", "/orgs/"+org+"/me/sessions?cursor=bm9wZQ", nil, http.StatusBadRequest)
		ada.call("GET", "/orgs/"+org+"/me/sessions?limit=201", nil, http.StatusBadRequest)

		// The owner sees and ends Bob's sessions.
		require.Len(t, ada.call("GET", "/orgs/"+org+"/members/"+bobID+"/sessions", nil, http.StatusOK)["sessions"], 1)
		require.EqualValues(t, 1, ada.call("DELETE", "/orgs/"+org+"/members/"+bobID+"/sessions", nil, http.StatusOK)["revoked"])
		bob.call("GET", "/orgs/"+org+"/me", nil, http.StatusUnauthorized)

		// An API key is not a session: the self-service session routes refuse it.
		robot := newClient(t, ts, clk)
		robot.bearer = ada.call("POST", "/orgs/"+org+"/api-keys", map[string]any{"scopes": []string{"org.view"}},
			http.StatusCreated)["key"].(string)
		robot.call("GET", "/orgs/"+org+"/me/sessions", nil, http.StatusForbidden)

		actions := auditActions(t, ada, org)
		require.Contains(t, actions, actSessionRevoked)
	})
}

// TestRetryableFailuresAnswer503: a database that drops the connection makes
// a handler answer 503 with Retry-After, as the authentication layer does;
// a bug still answers 500. The dropped connection is real: a backend this
// test terminates.
func TestRetryableFailuresAnswer503(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	conn, err := pgx.Connect(ctx, db.URL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var pid uint32
	require.NoError(t, conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
	_, err = db.Pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
	require.NoError(t, err)
	_, killed := conn.Exec(ctx, "SELECT 1")
	require.Error(t, killed)

	a := &app{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cases := []struct {
		name  string
		err   error
		want  int
		retry bool
	}{
		{"terminated backend", killed, http.StatusServiceUnavailable, true},
		{"wrapped terminated backend", fmt.Errorf("store: %w", killed), http.StatusServiceUnavailable, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, http.StatusServiceUnavailable, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, http.StatusServiceUnavailable, true},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, http.StatusServiceUnavailable, true},
		{"deadline", context.DeadlineExceeded, http.StatusServiceUnavailable, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, http.StatusInternalServerError, false},
		{"a bug", errors.New("nil map"), http.StatusInternalServerError, false},
		{"not found", errNotFound, http.StatusNotFound, false},
	}
	for _, tc := range cases {
		w := httptest.NewRecorder()
		a.fail(w, httptest.NewRequest("GET", "/orgs/o/payouts", nil), tc.err)
		require.Equal(t, tc.want, w.Code, tc.name)
		require.Equal(t, tc.retry, w.Header().Get("Retry-After") != "", tc.name)
		require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"), tc.name)
	}
}

// TestReadiness: /healthz is liveness and never touches the database;
// /readyz answers 503 with Retry-After while the database is unreachable.
func TestReadiness(t *testing.T) {
	a, ts, clk, _, _ := startApp(t, pgtest.New(t).URL)
	lb := newClient(t, ts, clk) // a load balancer sends no credentials
	lb.call("GET", "/readyz", nil, http.StatusNoContent)
	a.pool.Close() // the database is gone
	lb.call("GET", "/healthz", nil, http.StatusNoContent)
	status, _, hdr := lb.do("GET", "/readyz", nil)
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, retryAfter, hdr.Get("Retry-After"))
}
