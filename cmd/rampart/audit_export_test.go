package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
)

type bufSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *bufSink) SaveCheckpoint(_ context.Context, _ string, msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(msg)
	return nil
}

// offlineAudit is a memory log of random entries with its key pair and
// saved checkpoints written to files, for exports verified by the CLI.
type offlineAudit struct {
	dir, pub, notes string
	store           auditlog.Store
	signer          note.Signer
	saved           []auditlog.Checkpoint
}

func newOfflineAudit(t *testing.T, seed uint64, n int) *offlineAudit {
	t.Helper()
	dir := t.TempDir()
	skey, vkey, err := auditlog.NewSigningKey("cli-offline")
	require.NoError(t, err)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	v, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	store := auditlog.NewMemoryStore()
	sink := &bufSink{}
	l, _ := auditlogtest.NewLog(t, store, auditlog.WithCheckpoints(signer, sink, 5, 0))
	r := rand.New(rand.NewPCG(seed, 7))
	for range n {
		e, err := auditlogtest.RandomEntry(r, []string{"acme", "globex"}, []string{"test.created", "test.job"})
		require.NoError(t, err)
		_, err = l.Append(context.Background(), e)
		require.NoError(t, err)
	}
	o := &offlineAudit{dir: dir, pub: filepath.Join(dir, "audit.pub"), notes: filepath.Join(dir, "audit.notes"), store: store, signer: signer}
	require.NoError(t, os.WriteFile(o.pub, []byte(vkey+"\n"), 0o600))
	require.NoError(t, os.WriteFile(o.notes, sink.buf.Bytes(), 0o600))
	o.saved, err = auditlog.ReadCheckpoints(sink.buf.Bytes(), note.VerifierList(v))
	require.NoError(t, err)
	return o
}

func (o *offlineAudit) export(t *testing.T, name string, f auditlog.Format, filter auditlog.Filter, proofs bool) string {
	t.Helper()
	var buf bytes.Buffer
	opts := auditlog.ExportOptions{Format: f, Filter: filter, Signer: o.signer}
	if proofs {
		opts.Checkpoints = o.saved
	}
	_, err := auditlog.Export(context.Background(), o.store, &buf, opts)
	require.NoError(t, err)
	path := filepath.Join(o.dir, name)
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	return path
}

// Random payloads (all of Unicode, every escape, formula prefixes) through
// every export format verify with `rampart audit verify --file`, with and
// without the saved checkpoints.
func TestAuditVerifyFileRandomExports(t *testing.T) {
	t.Parallel()
	for seed := range uint64(3) {
		o := newOfflineAudit(t, seed, 24)
		require.NotEmpty(t, o.saved)
		actor := auditlogtest.Entries(t, o.store, "org:acme")[0].Actor
		for _, f := range []auditlog.Format{auditlog.FormatCSV, auditlog.FormatJSON, auditlog.FormatNDJSON} {
			for i, filter := range []auditlog.Filter{{}, {Org: "globex"}, {Actor: actor}} {
				path := o.export(t, fmt.Sprintf("%d-%d.%s", seed, i, f), f, filter, true)
				code, stdout, stderr := runCLI(t, nil, "audit", "verify", "--file", path, "--public-key", o.pub)
				require.Equal(t, exitOK, code, "%s %+v: %s %s", f, filter, stdout, stderr)
				code, stdout, stderr = runCLI(t, nil, "audit", "verify", "--file", path, "--public-key", o.pub, "--checkpoints", o.notes, "--json")
				require.Equal(t, exitOK, code, "%s %+v: %s %s", f, filter, stdout, stderr)
				var rep verifyReport
				require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
				require.True(t, rep.OK)
				require.NotEmpty(t, rep.ExportChains)
			}
		}
	}
}

// What a tampered export looks like from the CLI: a removed entry, a
// filtered export without proofs checked against saved checkpoints, a
// truncated chain, an old version.
func TestAuditVerifyFileFindings(t *testing.T) {
	t.Parallel()
	o := newOfflineAudit(t, 42, 12)
	path := o.export(t, "all.ndjson", auditlog.FormatNDJSON, auditlog.Filter{}, false)
	code, stdout, _ := runCLI(t, nil, "audit", "verify", "--file", path, "--public-key", o.pub, "--checkpoints", o.notes)
	require.Equal(t, exitOK, code, stdout)
	require.Contains(t, stdout, "unfiltered")
	require.Contains(t, stdout, "saved checkpoints matched")

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(data), "\n")
	removed := filepath.Join(o.dir, "removed.ndjson")
	require.NoError(t, os.WriteFile(removed, []byte(strings.Join(append(lines[:5:5], lines[6:]...), "")), 0o600))
	code, stdout, _ = runCLI(t, nil, "audit", "verify", "--file", removed, "--public-key", o.pub)
	require.Equal(t, exitFindings, code)
	require.Contains(t, stdout, "BROKEN")
	require.Contains(t, stdout, "missing entry")

	// An organisation's whole chain is recomputed; an actor's entries
	// need the consistency proofs of `audit export --checkpoints`.
	code, stdout, _ = runCLI(t, nil, "audit", "verify", "--file", o.export(t, "acme.csv", auditlog.FormatCSV, auditlog.Filter{Org: "acme"}, false),
		"--public-key", o.pub, "--checkpoints", o.notes)
	require.Equal(t, exitOK, code, stdout)
	require.Contains(t, stdout, `--org "acme"`)
	actor := auditlogtest.Entries(t, o.store, "org:acme")[0].Actor
	filtered := o.export(t, "filtered.csv", auditlog.FormatCSV, auditlog.Filter{Actor: actor}, false)
	code, stdout, _ = runCLI(t, nil, "audit", "verify", "--file", filtered, "--public-key", o.pub)
	require.Equal(t, exitOK, code, stdout)
	code, stdout, _ = runCLI(t, nil, "audit", "verify", "--file", filtered, "--public-key", o.pub, "--checkpoints", o.notes, "--json")
	require.Equal(t, exitFindings, code, stdout)
	var rep verifyReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Equal(t, string(auditlog.ReasonUnprovenCheckpoint), rep.Failure.Reason)

	// The same key, a chain cut back to its first 3 entries.
	short := newOfflineAudit(t, 42, 3)
	short.signer = o.signer
	truncated := short.export(t, "short.json", auditlog.FormatJSON, auditlog.Filter{}, false)
	code, stdout, _ = runCLI(t, nil, "audit", "verify", "--file", truncated, "--public-key", o.pub)
	require.Equal(t, exitOK, code, stdout)
	code, stdout, _ = runCLI(t, nil, "audit", "verify", "--file", truncated, "--public-key", o.pub, "--checkpoints", o.notes)
	require.Equal(t, exitFindings, code, stdout)
	require.Contains(t, stdout, "truncated")

	// Re-signed with another key.
	code, _, stderr := runCLI(t, nil, "audit", "verify", "--file", truncated, "--public-key", short.pub)
	require.Equal(t, exitFindings, code)
	require.Contains(t, stderr, "bad checkpoint")

	old := filepath.Join(o.dir, "v1.ndjson")
	require.NoError(t, os.WriteFile(old, []byte(strings.ReplaceAll(string(data), auditlog.ExportFormatID, "rampart.auditlog.export.v1")), 0o600))
	code, _, stderr = runCLI(t, nil, "audit", "verify", "--file", old, "--public-key", o.pub)
	require.Equal(t, exitFindings, code)
	require.Contains(t, stderr, "unsupported export version")

	// Saved checkpoints are trusted evidence: they need the pinned key.
	code, _, _ = runCLI(t, nil, "audit", "verify", "--file", path, "--checkpoints", o.notes)
	require.Equal(t, exitUsage, code)
}
