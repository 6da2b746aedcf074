package monitor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance/monitor"
	"github.com/rampart-sdk/rampart/compliance/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgfault"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/internal/testclock"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPanickingPingClientDoesNotEndTheProcess: a host's HTTP client that
// panics while forwarding a heartbeat, in the Monitor's own goroutine, is
// logged without the secret URL (before, the test binary died) and the
// next ping is forwarded; on the memory store and on PostgreSQL.
func TestPanickingPingClientDoesNotEndTheProcess(t *testing.T) {
	t.Parallel()
	for name, newStore := range map[string]func(t *testing.T) monitor.Store{
		"memory":   func(*testing.T) monitor.Store { return monitor.NewMemoryStore() },
		"postgres": newPGStore,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testPanickingPingClient(t, newStore(t))
		})
	}
}

func newPGStore(t *testing.T) monitor.Store {
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
	return pgstore.New(db.Pool)
}

func testPanickingPingClient(t *testing.T, store monitor.Store) {
	ctx := context.Background()
	var calls, ok atomic.Int32
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if calls.Add(1) == 1 {
			panic("injected transport panic for " + r.URL.String())
		}
		ok.Add(1)
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	})}
	var logs syncBuffer
	m, err := monitor.New(store, monitor.WithClock(testclock.New(t0).Now),
		monitor.WithHTTPClient(client), monitor.WithForwarding(time.Second, 0, 4),
		monitor.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "j", Period: time.Hour, PingURL: monitor.NewSecretURL("https://hc.example/secret-uuid")}))
	require.NoError(t, m.Succeed(ctx, "j"))
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, m.Close(cctx))
	require.Contains(t, logs.String(), "heartbeat ping panicked")
	require.NotContains(t, logs.String(), "secret-uuid")
	require.NoError(t, m.Succeed(ctx, "j"))
	require.NoError(t, m.Close(cctx))
	require.Equal(t, int32(1), ok.Load(), "the next ping went out")
}

// TestFaultHeartbeatOnPostgres kills the backend at every statement of a
// heartbeat: no panic; a signal either is stored or fails with an error
// that says the connection was lost (never ErrUnknownJob for a registered
// job), and a lost signal never rewinds the job. Around a job (Wrap), the
// job's own outcome is returned whatever happened to its heartbeats.
func TestFaultHeartbeatOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	fp := pgfault.New(t, db.URL, 2)
	clk := testclock.New(t0)
	clean, err := monitor.New(pgstore.New(db.Pool), monitor.WithClock(clk.Now), monitor.WithLogger(quiet))
	require.NoError(t, err)
	faulty, err := monitor.New(pgstore.New(fp.Pool), monitor.WithClock(clk.Now), monitor.WithLogger(quiet))
	require.NoError(t, err)
	require.NoError(t, clean.Register(ctx, monitor.JobSpec{Name: "j", Period: time.Hour}))

	var lastStored time.Time
	fp.EachPoint(t, 20, func(ctx context.Context) error {
		clk.Advance(time.Minute)
		return faulty.Succeed(ctx, "j")
	}, func(o pgfault.Outcome) {
		st := state(t, clean, "j")
		if o.Err != nil {
			require.True(t, o.Killed, "an error without a kill: %v", o.Err)
			require.True(t, pgfault.ConnectionLost(o.Err), "point %d: %v", o.Point, o.Err)
			require.NotErrorIs(t, o.Err, monitor.ErrUnknownJob)
		} else {
			require.NotNil(t, st.LastSuccess, "point %d: a stored success", o.Point)
			require.True(t, st.LastSuccess.Equal(clk.Now()), "point %d: a stored success", o.Point)
		}
		if st.LastSuccess != nil {
			require.False(t, st.LastSuccess.Before(lastStored), "point %d: the job was rewound", o.Point)
			lastStored = *st.LastSuccess
		}
	})

	jobErr := errors.New("the job's own failure")
	fp.EachPoint(t, 20, func(ctx context.Context) error {
		clk.Advance(time.Minute)
		err := faulty.Wrap("j", func(context.Context) error { return jobErr })(ctx)
		if !errors.Is(err, jobErr) {
			return fmt.Errorf("Wrap changed the job's outcome: %v", err)
		}
		return nil
	}, func(o pgfault.Outcome) {
		require.NoError(t, o.Err, "point %d", o.Point)
	})
}
