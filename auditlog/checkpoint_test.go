package auditlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
	"github.com/rampart-sdk/rampart/internal/testclock"
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
	l, _ := newLog(t, auditlog.WithCheckpoints(signer, nil, 0, 0))
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

// TestRunCheckpointsRefusesWhatItCannotSave: with no sink every checkpoint
// RunCheckpoints signed would be dropped, so it refuses to start, as it does
// without a signer or with a non-positive interval.
func TestRunCheckpointsRefusesWhatItCannotSave(t *testing.T) {
	t.Parallel()
	signer, _ := auditlogtest.NewSigner(t, "ticker")
	var sink memSink
	for name, tc := range map[string]struct {
		opts     []auditlog.Option
		interval time.Duration
	}{
		"no signer":     {nil, time.Second},
		"no sink":       {[]auditlog.Option{auditlog.WithCheckpoints(signer, nil, 0, 0)}, time.Second},
		"zero interval": {[]auditlog.Option{auditlog.WithCheckpoints(signer, &sink, 0, 0)}, 0},
	} {
		t.Run(name, func(t *testing.T) {
			l, _ := newLog(t, tc.opts...)
			require.ErrorIs(t, l.RunCheckpoints(context.Background(), tc.interval), auditlog.ErrInvalidConfig)
		})
	}
}

// stuckSink holds every save until unstuck is closed, then saves it.
type stuckSink struct {
	memSink
	unstuck chan struct{}
	calls   atomic.Int32
}

func (s *stuckSink) SaveCheckpoint(ctx context.Context, chain string, msg []byte) error {
	s.calls.Add(1)
	select {
	case <-s.unstuck:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.memSink.SaveCheckpoint(ctx, chain, msg)
}

// TestStuckSinkCannotHoldAppends: a sink that stops answering holds back
// the append that made a checkpoint due for a second at most, and later
// appends not at all; once it answers again, the newest checkpoint that
// fell due meanwhile reaches it. Appends used to wait for the sink for as
// long as a commit may take (30s by default), each one.
func TestStuckSinkCannotHoldAppends(t *testing.T) {
	t.Parallel()
	signer, v := auditlogtest.NewSigner(t, "stuck")
	sink := &stuckSink{unstuck: make(chan struct{})}
	l, _ := newLog(t, auditlog.WithCheckpoints(signer, sink, 1, 0), auditlog.WithMaxBatch(1), auditlog.WithCommitTimeout(time.Minute))
	// An append handed to the store waits for its outcome whatever its
	// context, so the old behaviour shows as appends that do not finish.
	appended := make(chan error, 1)
	go func() {
		for i := range 10 {
			if err := l.Record(context.Background(), "acme", "user:1", "user.login", "", map[string]any{"i": i}); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	select {
	case err := <-appended:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("appends held back by a stuck checkpoint sink")
	}
	require.EqualValues(t, 1, sink.calls.Load(), "one save in flight, the later ones waiting behind it")
	close(sink.unstuck)
	var cps []auditlog.Checkpoint
	require.Eventually(t, func() bool {
		var err error
		cps, err = auditlog.ReadCheckpoints(sink.bytes(), note.VerifierList(v))
		return err == nil && len(cps) == 2
	}, 5*time.Second, time.Millisecond)
	require.EqualValues(t, 1, cps[0].Size)
	require.EqualValues(t, 10, cps[1].Size, "the newest due, not each one")
}

// failingSink fails every save while fail is set.
type failingSink struct {
	memSink
	fail  atomic.Bool
	calls atomic.Int32
}

func (s *failingSink) SaveCheckpoint(ctx context.Context, chain string, msg []byte) error {
	s.calls.Add(1)
	if s.fail.Load() {
		return errors.New("sink unavailable")
	}
	return s.memSink.SaveCheckpoint(ctx, chain, msg)
}

// TestFailingSinkBacksOff: while the sink fails, a checkpoint is retried
// once per backoff (1s, then 2s, ...), not once per append, in the
// background; once the sink works again, checkpoints resume and appends
// wait for them again.
func TestFailingSinkBacksOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := testclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	signer, v := auditlogtest.NewSigner(t, "failing")
	sink := &failingSink{}
	sink.fail.Store(true)
	l, err := auditlog.New(auditlog.NewMemoryStore(), auditlog.WithClock(clock.Now), auditlog.WithMaxBatch(1),
		auditlog.WithCheckpoints(signer, sink, 1, 0), auditlog.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	require.NoError(t, l.Register(testActions...))
	record := func(n int) {
		t.Helper()
		for range n {
			require.NoError(t, l.Record(ctx, "acme", "user:1", "user.login", "", nil))
		}
	}
	calls := func(n int32) {
		t.Helper()
		require.Eventually(t, func() bool { return sink.calls.Load() == n }, 5*time.Second, time.Millisecond)
	}

	record(5)
	require.EqualValues(t, 1, sink.calls.Load(), "no retry before the backoff")
	clock.Advance(time.Second)
	record(3)
	calls(2)
	clock.Advance(time.Second) // the backoff is 2s now
	record(3)
	require.EqualValues(t, 2, sink.calls.Load())

	sink.fail.Store(false)
	clock.Advance(time.Second)
	record(1)
	calls(3)
	require.Eventually(t, func() bool {
		cps, err := auditlog.ReadCheckpoints(sink.bytes(), note.VerifierList(v))
		return err == nil && len(cps) == 1 && cps[0].Size == 12
	}, 5*time.Second, time.Millisecond)
	record(1) // working again: saved before the append returns
	cps, err := auditlog.ReadCheckpoints(sink.bytes(), note.VerifierList(v))
	require.NoError(t, err)
	require.Len(t, cps, 2)
	require.EqualValues(t, 13, cps[1].Size)
}
