package auditlog_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

func TestCheckpointSinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	signer, v := auditlogtest.NewSigner(t, "sinks")

	var (
		mu       sync.Mutex
		received []byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Rampart-Audit-Chain") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		received = append(received, b...)
		mu.Unlock()
	}))
	defer srv.Close()
	var out bytes.Buffer
	path := filepath.Join(t.TempDir(), "cps")
	sinks := map[string]auditlog.CheckpointSink{
		"http":   auditlog.NewHTTPSink(srv.URL, nil),
		"writer": auditlog.NewWriterSink(&out),
		"file":   auditlog.NewFileSink(path),
	}
	for name, sink := range sinks {
		l, _ := newLog(t, auditlog.WithCheckpoints(signer, sink, 3, 0), auditlog.WithMaxBatch(1))
		for range 7 {
			require.NoError(t, l.Record(ctx, "acme", "user:1", "user.login", "", nil))
		}
		_, msg, err := l.Checkpoint(ctx, "org:acme")
		require.NoError(t, err, name)
		cp, err := auditlog.OpenCheckpoint(msg, note.VerifierList(v))
		require.NoError(t, err)
		require.EqualValues(t, 7, cp.Size)
	}
	fileData, err := os.ReadFile(path)
	require.NoError(t, err)
	for name, data := range map[string][]byte{"http": received, "writer": out.Bytes(), "file": fileData} {
		cps, err := auditlog.ReadCheckpoints(data, note.VerifierList(v))
		require.NoError(t, err, name)
		require.Len(t, cps, 3, name) // at 3, 6, and the explicit one at 7
	}
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	defer failing.Close()
	require.Error(t, auditlog.NewHTTPSink(failing.URL, nil).SaveCheckpoint(ctx, "global", []byte("x")))
}

func TestCheckpointParse(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "x\n", "rampart.auditlog/global\n01\nAAAA\ntime x\n", "rampart.auditlog/a b\n1\n" + strings.Repeat("A", 43) + "=\ntime 2026-01-01T00:00:00.000000Z\n"} {
		_, err := auditlog.ParseCheckpoint(bad)
		require.ErrorIs(t, err, auditlog.ErrBadCheckpoint, "%q", bad)
	}
}

// TestNoKeyMaterialInOutput: printing a Log in any verb never shows the
// signing key.
func TestNoKeyMaterialInOutput(t *testing.T) {
	t.Parallel()
	skey, _, err := auditlog.NewSigningKey("secret-test")
	require.NoError(t, err)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	l, _ := newLog(t, auditlog.WithCheckpoints(signer, nil, 1, 0))
	// PRIVATE+KEY+<name>+<hash>+<key>: the key is standard base64, which
	// may itself contain '+', so split off the first four fields only.
	fields := strings.SplitN(skey, "+", 5)
	require.Len(t, fields, 5)
	secret := fields[4]
	require.GreaterOrEqual(t, len(secret), 40)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		require.NotContains(t, fmt.Sprintf(verb, l), secret)
	}
}

func TestRunCheckpoints(t *testing.T) {
	t.Parallel()
	signer, v := auditlogtest.NewSigner(t, "ticker")
	var sink memSink
	l, _ := newLog(t, auditlog.WithCheckpoints(signer, &sink, 0, 0))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.RunCheckpoints(ctx, 5*time.Millisecond) }()
	for range 3 {
		require.NoError(t, l.Record(ctx, "acme", "user:1", "user.login", "", nil))
	}
	require.Eventually(t, func() bool {
		cps, err := auditlog.ReadCheckpoints(sink.bytes(), note.VerifierList(v))
		return err == nil && len(cps) > 0 && cps[len(cps)-1].Size == 3
	}, 5*time.Second, 5*time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	n := len(auditlog.SplitNotes(sink.bytes()))
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, n, len(auditlog.SplitNotes(sink.bytes())), "no checkpoint after cancel")
}
