package monitor_test

import (
	"bytes"
	"context"
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
// next ping is forwarded.
func TestPanickingPingClientDoesNotEndTheProcess(t *testing.T) {
	t.Parallel()
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
	m, err := monitor.New(monitor.NewMemoryStore(), monitor.WithClock(testclock.New(t0).Now),
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
