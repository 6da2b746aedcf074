package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// run serves until its context ends, then stops the jobs and returns nil.
func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{Addr: "127.0.0.1:0", Warn: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// A listen error is returned, not hidden behind the running jobs.
func TestRunReportsListenError(t *testing.T) {
	err := run(context.Background(), config{Addr: "256.0.0.1:1", Warn: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.Error(t, err)
}
