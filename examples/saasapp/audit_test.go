package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/rampart-sdk/rampart/auditlog"
)

// With -checkpoints, each chain's signed checkpoints land in a file outside
// the database, and the chain verifies against them.
func TestAuditCheckpointsOutsideTheDatabase(t *testing.T) {
	dir := t.TempDir()
	skey, vkey, err := auditlog.NewSigningKey("saasapp-test")
	require.NoError(t, err)
	keyFile, cpFile := filepath.Join(dir, "audit.key"), filepath.Join(dir, "checkpoints.txt")
	require.NoError(t, os.WriteFile(keyFile, []byte(skey+"\n"), 0o600))

	clk := newClock()
	a, err := newApp(context.Background(), config{Now: clk.Now, Warn: io.Discard, CheckpointFile: cpFile,
		AuditSigningKey: keyFile, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	ts := httptest.NewTLSServer(a)
	t.Cleanup(ts.Close)
	ada := newClient(t, ts, clk)
	org := ada.call("POST", "/signup", map[string]string{"organisation": "Acme", "name": "Ada",
		"email": "ada@example.com", "password": "correct horse battery staple"}, http.StatusOK)["org"].(string)
	clk.Advance(2 * time.Minute)
	ada.call("PUT", "/orgs/"+org+"/me", map[string]string{"name": "Ada L."}, http.StatusNoContent)

	data, err := os.ReadFile(cpFile)
	require.NoError(t, err)
	v, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	cps, err := auditlog.ReadCheckpoints(data, note.VerifierList(v))
	require.NoError(t, err)
	require.NotEmpty(t, cps)
	res, err := auditlog.Verify(context.Background(), a.auditStore, auditlog.ChainFor(org), auditlog.VerifyOptions{Checkpoints: cps})
	require.NoError(t, err)
	require.Positive(t, res.Checkpoints)

	// Without a signing key, checkpoints are refused at startup.
	_, err = newApp(context.Background(), config{Warn: io.Discard, CheckpointFile: cpFile})
	require.Error(t, err)
}
