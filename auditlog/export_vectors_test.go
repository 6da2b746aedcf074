package auditlog_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
)

// exportVectorDir holds export test vectors: a verifier key, a checkpoint
// file and one filtered export in each format, which a re-implementation of
// ENCODING.md ("Export formats") must accept, and this package must write
// byte for byte. Regenerate with go test -run TestExportVectors -update.
const exportVectorDir = "testdata/export-v2"

func TestExportVectors(t *testing.T) {
	t.Parallel()
	// A deterministic key, so that the vectors are stable: the seed is
	// SHA-256 of a public string, not a secret.
	seed := sha256.Sum256([]byte("rampart auditlog export test vector key"))
	skey, vkey, err := note.GenerateKey(bytes.NewReader(seed[:]), "rampart-vector")
	require.NoError(t, err)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	v, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	verifiers := note.VerifierList(v)

	s := auditlog.NewMemoryStore()
	sink := &cpSink{}
	l, _ := auditlogtest.NewLog(t, s, auditlog.WithCheckpoints(signer, sink, 3, 0))
	ctx := context.Background()
	entries := []auditlog.Entry{
		{Org: "acme", Actor: "user:u1", Action: "test.created", Target: "doc:1", Payload: []byte(`{"url":"https://x.test/?a=1&b=<2>","ls":"a\u2028b\u2029c","é":"😀"}`)},
		{Org: "acme", Actor: "user:u1", Action: "test.created", Target: "doc:2", Request: auditlog.Request{IP: "192.0.2.1", UserAgent: "=HYPERLINK(\"x\")", RequestID: "'r1"}},
		{Org: "acme", Actor: "user:u1", Action: "test.job", Time: time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC), Payload: []byte(`{"n":-1,"nested":{"a":[1,"\u0000\"\\",null,true]}}`)},
		{Org: "acme", Actor: "user:u2", Action: "test.created", Target: "-x:@y"},
		{Org: "acme", Actor: "user:u1", Action: "test.created", Target: "doc:3", Payload: []byte(`{"old":"pruned"}`), Time: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Org: "acme", Actor: "user:u1", Action: "test.created", Target: "doc:4"},
	}
	for _, e := range entries {
		_, err := l.Append(ctx, e)
		require.NoError(t, err)
	}
	_, err = s.PrunePayloads(ctx, "org:acme", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	saved := sink.checkpoints(t, verifiers)
	require.Len(t, saved, 2)

	files := map[string][]byte{"audit.pub": []byte(vkey + "\n"), "checkpoints": sink.buf.Bytes()}
	for _, f := range allFormats {
		var buf bytes.Buffer
		_, err := auditlog.Export(ctx, s, &buf, auditlog.ExportOptions{Format: f, Filter: auditlog.Filter{Actor: "user:u1"},
			Signer: signer, VerifierKey: vkey, Checkpoints: saved[:1], Now: func() time.Time { return time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC) }})
		require.NoError(t, err)
		files["filtered."+string(f)] = buf.Bytes()
	}
	if *update {
		require.NoError(t, os.MkdirAll(exportVectorDir, 0o755))
		for name, b := range files {
			require.NoError(t, os.WriteFile(filepath.Join(exportVectorDir, name), b, 0o644))
		}
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(exportVectorDir, name))
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%s differs from the vector (run with -update if the change is intended)", name)
	}
	// The files verify on their own, against the saved checkpoints.
	cps, err := auditlog.ReadCheckpoints(files["checkpoints"], verifiers)
	require.NoError(t, err)
	for _, f := range allFormats {
		doc, err := auditlog.ParseExport(bytes.NewReader(files["filtered."+string(f)]))
		require.NoError(t, err)
		rep, err := auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: verifiers, Checkpoints: cps})
		require.NoError(t, err, f)
		require.Equal(t, 5, rep.Entries)
		require.Equal(t, uint64(1), rep.Chains[0].FilteredOut)
		require.Equal(t, 2, rep.SavedCheckpoints, "size 3 by its consistency proof, size 6 equal to the export's")
	}
	require.Contains(t, string(files["filtered.ndjson"]), `https://x.test/?a=1&b=<2>`)
	require.Contains(t, string(files["filtered.csv"]), `'=HYPERLINK`)
	require.Contains(t, string(files["filtered.csv"]), " 5 0-2,4-5\n")
	require.True(t, strings.Contains(string(files["filtered.ndjson"]), `"payload":null`), "a pruned payload")
}
