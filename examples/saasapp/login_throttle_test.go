package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLoginThrottled: wrong passwords from one client are answered 401
// until the (login, address) bucket is full, then 429 with Retry-After as
// problem+json, even with the right password; an unknown email gets the
// same answers.
func TestLoginThrottled(t *testing.T) {
	t.Parallel()
	clk := newClock()
	a, err := newApp(context.Background(), config{Now: clk.Now, Warn: io.Discard,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	ts := httptest.NewTLSServer(a)
	t.Cleanup(ts.Close)

	ada := newClient(t, ts, clk)
	ada.call("POST", "/signup", map[string]string{"organisation": "Acme", "name": "Ada",
		"email": "ada@example.com", "password": "correct horse battery staple"}, http.StatusOK)

	for _, email := range []string{"ada@example.com", "nobody@example.com"} {
		c := newClient(t, ts, clk)
		for range 5 {
			c.call("POST", "/login", map[string]string{"email": email, "password": "wrong guess"}, http.StatusUnauthorized)
		}
		status, body, h := c.do("POST", "/login", map[string]string{"email": email, "password": "correct horse battery staple"})
		require.Equal(t, http.StatusTooManyRequests, status, "%s", body)
		require.Equal(t, "application/problem+json", h.Get("Content-Type"))
		secs, err := strconv.Atoi(h.Get("Retry-After"))
		require.NoError(t, err)
		require.Equal(t, 15*60, secs)
		var p map[string]any
		require.NoError(t, json.Unmarshal(body, &p))
		require.EqualValues(t, http.StatusTooManyRequests, p["status"])
	}
}
