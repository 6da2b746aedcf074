package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/pgstore"
)

// privacyFixture builds a database with overdue requests and due subjects,
// as a host would have left them, using a clock 60 days in the past.
func privacyFixture(t *testing.T) string {
	t.Helper()
	db := pgtest.New(t)
	ctx := context.Background()
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	past := time.Now().Add(-60 * 24 * time.Hour).Truncate(time.Second)
	store, err := pgstore.New(db.Pool)
	require.NoError(t, err)
	clock := privacy.WithClock(func() time.Time { return past })
	requests, err := privacy.NewRequests(store, clock)
	require.NoError(t, err)
	m, err := privacy.NewLifecycle(store, clock)
	require.NoError(t, err)
	_, err = requests.Receive(ctx, privacy.Ref{Org: "acme", ID: "u1"}, privacy.KindAccess, true, "user:support")
	require.NoError(t, err)
	_, err = m.RequestDeletion(ctx, privacy.Ref{Org: "acme", ID: "u1"}, "user:u1", "")
	require.NoError(t, err)
	_, err = m.RequestDeletion(ctx, privacy.Ref{Org: "acme", ID: "u2"}, "user:u2", "")
	require.NoError(t, err)
	_, err = m.PlaceHold(ctx, privacy.Hold{Org: "acme", SubjectID: "u2", Reason: "litigation", Owner: "legal"}, "user:lawyer")
	require.NoError(t, err)
	return db.URL
}

func TestPrivacyCLI(t *testing.T) {
	t.Parallel()
	dsn := privacyFixture(t)

	code, out, stderr := runCLI(t, nil, "privacy", "requests", "overdue", "--dsn", dsn)
	require.Equal(t, exitFindings, code, stderr)
	require.Contains(t, out, "1 overdue request(s)")
	require.Contains(t, out, "access")

	code, out, _ = runCLI(t, map[string]string{"DATABASE_URL": dsn}, "privacy", "requests", "overdue", "--json")
	require.Equal(t, exitFindings, code)
	var reqs struct{ Overdue []privacy.Request }
	require.NoError(t, json.Unmarshal([]byte(out), &reqs))
	require.Len(t, reqs.Overdue, 1)
	require.Equal(t, "u1", reqs.Overdue[0].SubjectID)

	code, out, stderr = runCLI(t, nil, "privacy", "sweep", "--dsn", dsn, "--json")
	require.Equal(t, exitFindings, code, "u1 is due for a month: the host sweeper is not running")
	require.Contains(t, stderr, "host's privacy sweeper")
	var rep sweepReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Len(t, rep.DueErasure, 2)
	require.Equal(t, 1, rep.Held)
	require.Equal(t, 1, rep.Stale)

	code, out, _ = runCLI(t, nil, "privacy", "sweep", "--dsn", dsn, "--grace", "2000h")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "2 due for erasure")
	require.Contains(t, out, "does not erase")
	// The CLI never erases: the subjects are still due.
	code, _, _ = runCLI(t, nil, "privacy", "sweep", "--dsn", dsn)
	require.Equal(t, exitFindings, code)
}

func TestPrivacyCLIUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"privacy", "requests"}, exitUsage},
		{[]string{"privacy", "requests", "nope"}, exitUsage},
		{[]string{"privacy", "requests", "--help"}, exitOK},
		{[]string{"privacy", "requests", "overdue", "--help"}, exitOK},
		{[]string{"privacy", "requests", "overdue"}, exitUsage},
		{[]string{"privacy", "sweep"}, exitUsage},
		{[]string{"privacy", "sweep", "--bogus"}, exitUsage},
		{[]string{"privacy", "sweep", "--dsn", "postgres://nobody@127.0.0.1:1/x?connect_timeout=1"}, exitOperational},
		{[]string{"privacy", "verify-export"}, exitUsage},
		{[]string{"privacy", "verify-export", "/does/not/exist"}, exitOperational},
	} {
		code, _, _ := runCLI(t, nil, tc.args...)
		require.Equal(t, tc.code, code, "%v", tc.args)
	}
}

func TestPrivacyVerifyExport(t *testing.T) {
	t.Parallel()
	m, err := privacy.NewLifecycle(privacy.NewMemoryStore())
	require.NoError(t, err)
	var buf bytes.Buffer
	_, err = m.Export(context.Background(), &buf, privacy.Ref{Org: "acme", ID: "u1"}, "user:u1")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "export.json")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	code, out, _ := runCLI(t, nil, "privacy", "verify-export", path)
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "valid rampart.privacy.export/v2 export of subject u1")

	bad := bytes.Replace(buf.Bytes(), []byte(`"name":"consent"`), []byte(`"name":"other"`), 1)
	require.NoError(t, os.WriteFile(path, bad, 0o600))
	code, _, stderr := runCLI(t, nil, "privacy", "verify-export", path)
	require.Equal(t, exitFindings, code)
	require.Contains(t, stderr, "invalid export document")
}
