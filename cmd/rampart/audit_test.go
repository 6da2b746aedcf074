package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// auditFixture seeds a database with two chains and saved checkpoints, and
// writes the key pair to files.
func auditFixture(t *testing.T) (db *pgtest.DB, dir string) {
	t.Helper()
	ctx := context.Background()
	db = pgtest.New(t)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	dir = t.TempDir()
	code, stdout, stderr := runCLI(t, nil, "audit", "keygen", "--name", "cli-test", "--out", filepath.Join(dir, "audit"))
	require.Equal(t, exitOK, code, stderr)
	skey, err := os.ReadFile(filepath.Join(dir, "audit.key"))
	require.NoError(t, err)
	require.NotContains(t, stdout, "PRIVATE")
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	require.NoError(t, err)
	l, err := auditlog.New(pgstore.New(db.Pool), auditlog.WithCheckpoints(signer, auditlog.NewFileSink(filepath.Join(dir, "checkpoints")), 4, 0))
	require.NoError(t, err)
	require.NoError(t, l.Register(auditlog.ActionType{Name: "doc.read", Category: auditlog.CategoryUser, SchemaVersion: 1}))
	for i := range 10 {
		require.NoError(t, l.Record(ctx, []string{"acme", "globex"}[i%2], fmt.Sprintf("user:u%d", i%3), "doc.read", "doc:1", map[string]any{"i": i}))
	}
	return db, dir
}

func TestAuditVerifyDSN(t *testing.T) {
	t.Parallel()
	db, dir := auditFixture(t)
	args := []string{"audit", "verify", "--dsn", db.URL, "--checkpoints", filepath.Join(dir, "checkpoints"), "--public-key", filepath.Join(dir, "audit.pub")}
	code, stdout, stderr := runCLI(t, nil, args...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "ok      org:acme: 5 entries")

	code, stdout, _ = runCLI(t, map[string]string{"DATABASE_URL": db.URL}, "audit", "verify", "--chain", "org:globex", "--json")
	require.Equal(t, exitOK, code)
	var rep verifyReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.True(t, rep.OK)
	require.Len(t, rep.Chains, 1)

	// A superuser edits an entry behind the triggers' back.
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	for _, q := range []string{
		`ALTER TABLE auditlog_entries DISABLE TRIGGER auditlog_entries_immutable`,
		`UPDATE auditlog_entries SET actor = 'user:nobody' WHERE chain = 'org:acme' AND seq = 3`,
		`ALTER TABLE auditlog_entries ENABLE ALWAYS TRIGGER auditlog_entries_immutable`,
	} {
		_, err := tx.Exec(ctx, q)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit(ctx))
	code, stdout, _ = runCLI(t, nil, append(args, "--json")...)
	require.Equal(t, exitFindings, code)
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.False(t, rep.OK)
	require.Equal(t, "org:acme", rep.Chains[0].Chain)
	require.Equal(t, &failureReport{Seq: 3, Reason: "hash mismatch", Detail: "stored hash is not the hash of the entry"}, rep.Chains[0].Failure)
	require.True(t, rep.Chains[1].OK)
}

func TestAuditExportAndVerifyFile(t *testing.T) {
	t.Parallel()
	db, dir := auditFixture(t)
	for _, format := range []string{"csv", "json", "ndjson"} {
		out := filepath.Join(dir, "export."+format)
		code, _, stderr := runCLI(t, map[string]string{"RAMPART_AUDIT_SIGNING_KEY": filepath.Join(dir, "audit.key")},
			"audit", "export", "--dsn", db.URL, "--format", format, "--org", "acme", "--actor", "user:u0", "--out", out)
		require.Equal(t, exitOK, code, stderr)
		require.Contains(t, stderr, "exported 2 entries")
		code, stdout, stderr := runCLI(t, nil, "audit", "verify", "--file", out, "--public-key", filepath.Join(dir, "audit.pub"))
		require.Equal(t, exitOK, code, stderr)
		require.Contains(t, stdout, "2 entries")

		data, err := os.ReadFile(out)
		require.NoError(t, err)
		// Edit the first entry's actor (the header's filter names it first).
		marker := `"type":"entry"`
		if format == "csv" {
			marker = "\nentry,"
		}
		at := strings.Index(string(data), marker)
		require.Positive(t, at)
		tampered := filepath.Join(dir, "tampered."+format)
		require.NoError(t, os.WriteFile(tampered, []byte(string(data[:at])+strings.Replace(string(data[at:]), "user:u0", "user:u2", 1)), 0o600))
		code, stdout, _ = runCLI(t, nil, "audit", "verify", "--file", tampered, "--public-key", filepath.Join(dir, "audit.pub"), "--json")
		require.Equal(t, exitFindings, code, format)
		var rep verifyReport
		require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
		require.False(t, rep.OK)
		require.Equal(t, "hash mismatch", rep.Failure.Reason)
	}
	// A filtered export checked against the saved checkpoints needs the
	// consistency proofs that export --checkpoints includes.
	keys := []string{"--public-key", filepath.Join(dir, "audit.pub")}
	saved := append([]string{"--checkpoints", filepath.Join(dir, "checkpoints")}, keys...)
	for _, withProofs := range []bool{false, true} {
		out := filepath.Join(dir, fmt.Sprintf("proofs-%v.ndjson", withProofs))
		args := []string{"audit", "export", "--dsn", db.URL, "--signing-key", filepath.Join(dir, "audit.key"), "--actor", "user:u1", "--out", out}
		if withProofs {
			args = append(args, saved...)
		}
		code, _, stderr := runCLI(t, nil, args...)
		require.Equal(t, exitOK, code, stderr)
		code, stdout, _ := runCLI(t, nil, append([]string{"audit", "verify", "--file", out}, saved...)...)
		if withProofs {
			require.Equal(t, exitOK, code, stdout)
			require.Contains(t, stdout, "2 saved checkpoints matched")
		} else {
			require.Equal(t, exitFindings, code, stdout)
			require.Contains(t, stdout, "checkpoint not provable")
		}
	}
	// Without --public-key the export's own key is used, with a warning.
	code, _, stderr := runCLI(t, nil, "audit", "export", "--dsn", db.URL, "--signing-key", filepath.Join(dir, "audit.key"),
		"--public-key", filepath.Join(dir, "audit.pub"), "--out", filepath.Join(dir, "hint.ndjson"))
	require.Equal(t, exitOK, code, stderr)
	code, _, stderr = runCLI(t, nil, "audit", "verify", "--file", filepath.Join(dir, "hint.ndjson"))
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "warning")
}

func TestAuditUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"audit", "verify"},
		{"audit", "verify", "--checkpoints", "x"},
		{"audit", "export", "--dsn", "postgres://x", "--format", "xml", "--signing-key", "k"},
		{"audit", "export", "--dsn", "postgres://x"},
		{"audit", "export", "--dsn", "postgres://x", "--signing-key", "k", "--from", "yesterday"},
		{"audit", "keygen"},
		{"audit", "verify", "extra"},
	} {
		code, _, _ := runCLI(t, nil, args...)
		require.Equal(t, exitUsage, code, "%v", args)
	}
	code, _, _ := runCLI(t, nil, "audit", "verify", "--file", "/nonexistent/export")
	require.Equal(t, exitOperational, code)
}

func TestAuditProgressLine(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	p := progress(&buf, "org:acme", time.Now().Add(-2*time.Second))
	p(65536, 131072)
	require.Contains(t, buf.String(), "verifying org:acme: 65536/131072 entries")
	require.Contains(t, buf.String(), "ETA")
}
