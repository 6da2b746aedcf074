package monitor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance/monitor"
	"github.com/rampart-sdk/rampart/internal/testclock"
)

type fakeClock = testclock.Clock

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newMonitor(t *testing.T, clk *fakeClock, opts ...monitor.Option) *monitor.Monitor {
	t.Helper()
	m, err := monitor.New(monitor.NewMemoryStore(), append([]monitor.Option{monitor.WithClock(clk.Now), monitor.WithLogger(quiet)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Close(ctx)
	})
	return m
}

func state(t *testing.T, m *monitor.Monitor, job string) monitor.JobStatus {
	t.Helper()
	sts, err := m.Status(context.Background())
	require.NoError(t, err)
	for _, s := range sts {
		if s.Name == job {
			return s
		}
	}
	t.Fatalf("no job %s", job)
	return monitor.JobStatus{}
}

// TestJobThatNeverReportsGoesOverdue: registered, then silence.
func TestJobThatNeverReportsGoesOverdue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := testclock.New(t0)
	m := newMonitor(t, clk)
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "nightly-erasure", Period: 24 * time.Hour, Grace: time.Hour}))
	require.Equal(t, monitor.JobOK, state(t, m, "nightly-erasure").State)
	require.True(t, m.Check(ctx).Pass)

	clk.Advance(25 * time.Hour)
	require.Equal(t, monitor.JobOK, state(t, m, "nightly-erasure").State, "exactly period+grace is still on time")
	clk.Advance(time.Second)
	st := state(t, m, "nightly-erasure")
	require.Equal(t, monitor.JobOverdue, st.State)
	require.True(t, st.Overdue)
	res := m.Check(ctx)
	require.False(t, res.Pass)
	require.Contains(t, res.Details, "nightly-erasure overdue")

	// Re-registering at a restart must not reset the switch.
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "nightly-erasure", Period: 24 * time.Hour, Grace: time.Hour}))
	require.Equal(t, monitor.JobOverdue, state(t, m, "nightly-erasure").State)

	// Success resets it.
	require.NoError(t, m.Succeed(ctx, "nightly-erasure"))
	require.Equal(t, monitor.JobOK, state(t, m, "nightly-erasure").State)
	require.True(t, m.Check(ctx).Pass)
}

func TestJobStartedNeverFinishedIsStuck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := testclock.New(t0)
	m := newMonitor(t, clk)
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "sweeper", Period: time.Hour, Grace: 10 * time.Minute, MaxRuntime: 5 * time.Minute}))
	require.NoError(t, m.Start(ctx, "sweeper"))
	clk.Advance(4 * time.Minute)
	require.Equal(t, monitor.JobRunning, state(t, m, "sweeper").State)
	clk.Advance(2 * time.Minute)
	st := state(t, m, "sweeper")
	require.Equal(t, monitor.JobStuck, st.State)
	require.True(t, st.Overdue)
	require.False(t, m.Check(ctx).Pass)

	// Default max runtime is the grace.
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "b", Period: time.Hour, Grace: 10 * time.Minute}))
	require.NoError(t, m.Start(ctx, "b"))
	clk.Advance(11 * time.Minute)
	require.Equal(t, monitor.JobStuck, state(t, m, "b").State)
}

func TestJobFailureThenOverdue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := testclock.New(t0)
	m := newMonitor(t, clk)
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "j", Period: time.Hour, Grace: time.Minute}))
	require.NoError(t, m.Start(ctx, "j"))
	require.NoError(t, m.Fail(ctx, "j", errors.New("upstream 500")))
	st := state(t, m, "j")
	require.Equal(t, monitor.JobFailed, st.State)
	require.Equal(t, "upstream 500", st.LastCause)
	require.False(t, st.Overdue)
	// Failing repeatedly never resets the switch: only success does.
	clk.Advance(50 * time.Minute)
	require.NoError(t, m.Fail(ctx, "j", errors.New("again")))
	clk.Advance(20 * time.Minute)
	require.Equal(t, monitor.JobOverdue, state(t, m, "j").State)
}

func TestUnknownJobIsAnError(t *testing.T) {
	t.Parallel()
	m := newMonitor(t, testclock.New(t0))
	require.ErrorIs(t, m.Start(context.Background(), "typo"), monitor.ErrUnknownJob)
	require.ErrorIs(t, m.Register(context.Background(), monitor.JobSpec{Name: "x"}), monitor.ErrInvalidJob)
	require.ErrorIs(t, m.Register(context.Background(), monitor.JobSpec{Name: "x", Period: time.Hour, PingURL: monitor.NewSecretURL("ftp://x")}), monitor.ErrInvalidJob)
	res := m.Check(context.Background())
	require.False(t, res.Pass, "a monitor watching nothing proves nothing")
}

func TestWrap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := testclock.New(t0)
	m := newMonitor(t, clk)
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "ok", Period: time.Hour}))
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "bad", Period: time.Hour}))
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "panics", Period: time.Hour}))

	require.NoError(t, m.Wrap("ok", func(context.Context) error { clk.Advance(time.Second); return nil })(ctx))
	st := state(t, m, "ok")
	require.NotNil(t, st.LastSuccess)
	require.Equal(t, t0.Add(time.Second), *st.LastSuccess)
	require.Equal(t, t0, *st.LastStart)

	boom := errors.New("boom")
	require.ErrorIs(t, m.Wrap("bad", func(context.Context) error { return boom })(ctx), boom)
	require.Equal(t, monitor.JobFailed, state(t, m, "bad").State)

	require.Panics(t, func() { _ = m.Wrap("panics", func(context.Context) error { panic("x") })(ctx) })
	require.Equal(t, monitor.JobFailed, state(t, m, "panics").State)

	// An unregistered job still runs: bookkeeping never changes the outcome.
	ran := false
	require.NoError(t, m.Wrap("unregistered", func(context.Context) error { ran = true; return nil })(ctx))
	require.True(t, ran)
}

func TestForwardingPaths(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	m := newMonitor(t, testclock.New(t0))
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "j", Period: time.Hour, PingURL: monitor.NewSecretURL(srv.URL + "/ping/abc/")}))
	require.NoError(t, m.Start(ctx, "j"))
	require.NoError(t, m.Fail(ctx, "j", errors.New("disk full")))
	require.NoError(t, m.Succeed(ctx, "j"))
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, m.Close(cctx))
	mu.Lock()
	defer mu.Unlock()
	require.ElementsMatch(t, []string{"POST /ping/abc/start ", "POST /ping/abc/fail disk full", "POST /ping/abc "}, got)
}

// TestHangingEndpointDoesNotDelayJob: the healthchecks endpoint accepts the
// connection and never answers. The job must finish long before a single
// ping could time out, and its result must be unaffected.
func TestHangingEndpointDoesNotDelayJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	release := make(chan struct{})
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()

	m := newMonitor(t, testclock.New(t0), monitor.WithForwarding(10*time.Second, 2, 4))
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "j", Period: time.Hour, PingURL: monitor.NewSecretURL(srv.URL)}))
	boom := errors.New("job failed on its own")
	done := make(chan error, 1)
	go func() { done <- m.Wrap("j", func(context.Context) error { return boom })(ctx) }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, boom, "forwarding must not change the job's result")
	case <-time.After(5 * time.Second): // well under one 10s ping timeout
		t.Fatal("the job waited for the hanging endpoint")
	}
	require.Equal(t, monitor.JobFailed, state(t, m, "j").State)
	close(release)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, m.Close(cctx))
	require.Equal(t, int32(2), hits.Load())
}

// TestHangingEndpointPingsGiveUp: pings are bounded by timeout x attempts,
// and a flood of signals is dropped beyond the in-flight limit rather than
// queued without bound.
func TestHangingEndpointPingsGiveUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-r.Context().Done()
	}))
	defer srv.Close()

	m := newMonitor(t, testclock.New(t0), monitor.WithForwarding(100*time.Millisecond, 1, 4))
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "j", Period: time.Hour, PingURL: monitor.NewSecretURL(srv.URL)}))
	require.NoError(t, m.Wrap("j", func(context.Context) error { return nil })(ctx))
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, m.Close(cctx), "pings must give up")
	require.Equal(t, int32(4), hits.Load(), "2 signals x 2 attempts")

	for i := 0; i < 20; i++ {
		require.NoError(t, m.Succeed(ctx, "j"))
	}
	require.NoError(t, m.Close(cctx))
	require.LessOrEqual(t, hits.Load()-4, int32(4*2), "at most 4 in flight, 2 attempts each")
}

func TestStatusHandler(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := testclock.New(t0)
	m := newMonitor(t, clk)
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "a", Period: time.Hour, Grace: time.Minute, PingURL: monitor.NewSecretURL("https://hc.example/secret-uuid")}))
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "b", Period: 24 * time.Hour}))
	require.NoError(t, m.Succeed(ctx, "a"))

	get := func() (int, map[string]any, string) {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jobs", nil))
		var body map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		return rec.Code, body, rec.Body.String()
	}
	empty := httptest.NewRecorder()
	newMonitor(t, clk).Handler().ServeHTTP(empty, httptest.NewRequest(http.MethodGet, "/jobs", nil))
	require.Equal(t, http.StatusServiceUnavailable, empty.Code, "no job registered: the switch watches nothing")
	require.Contains(t, empty.Body.String(), `"healthy":false`)

	code, body, raw := get()
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, true, body["healthy"])
	require.Len(t, body["jobs"], 2)
	require.NotContains(t, raw, "secret-uuid", "ping urls embed a secret")

	clk.Advance(2 * time.Hour)
	code, body, _ = get()
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, float64(1), body["overdue"])
	jobs := body["jobs"].([]any)
	require.Equal(t, "overdue", jobs[0].(map[string]any)["state"])
	require.Equal(t, "ok", jobs[1].(map[string]any)["state"])
}

// TestPingURLNeverLeaks: the ping URL is a credential; it must not appear
// when a spec is printed or serialised, nor in forwarding failure logs.
func TestPingURLNeverLeaks(t *testing.T) {
	t.Parallel()
	const secret = "0b6e3a1c-5f0e-4d7b-9c55-secret-check"
	spec := monitor.JobSpec{Name: "j", Period: time.Hour, PingURL: monitor.NewSecretURL("http://127.0.0.1:1/" + secret)}
	js, err := json.Marshal(spec)
	require.NoError(t, err)
	rec := monitor.JobRecord{JobSpec: spec}
	// fmt cannot call SecretURL's methods in an unexported field of a host's
	// struct: it walks the JobSpec there.
	type host struct{ job monitor.JobSpec }
	for _, s := range []string{fmt.Sprintf("%v", spec), fmt.Sprintf("%+v", spec), fmt.Sprintf("%#v", spec), fmt.Sprint(spec.PingURL),
		fmt.Sprintf("%+v", rec), string(js), fmt.Sprintf("%+v %s %x", host{spec}, host{spec}, &host{spec}),
		fmt.Sprintf("%d %x %X %q %s", spec.PingURL, spec.PingURL, spec.PingURL, spec.PingURL, spec.PingURL)} {
		require.NotContains(t, s, secret)
	}
	var logs bytes.Buffer
	m, err := monitor.New(monitor.NewMemoryStore(), monitor.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		monitor.WithForwarding(time.Second, 0, 1))
	require.NoError(t, err)
	require.NoError(t, m.Register(context.Background(), spec))
	require.NoError(t, m.Succeed(context.Background(), "j")) // port 1: connection refused
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, m.Close(ctx))
	slog.New(slog.NewTextHandler(&logs, nil)).Info("spec", "url", spec.PingURL, "spec", spec)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("spec", "url", spec.PingURL, "spec", spec)
	require.Contains(t, logs.String(), "heartbeat ping failed")
	require.NotContains(t, logs.String(), secret)
}
