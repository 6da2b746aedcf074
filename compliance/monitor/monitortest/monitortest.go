// Package monitortest is the conformance suite of monitor.Store: the memory
// store and compliance/pgstore both pass it, and a host can run it against
// an adapter of its own, like testing/fstest.TestFS.
package monitortest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance/monitor"
)

var t0 = time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC)

// TestStore runs every conformance test against stores made by newStore
// (a fresh, empty store per call).
func TestStore(t *testing.T, newStore func(t *testing.T) monitor.Store) {
	t.Run("Jobs", func(t *testing.T) { testJobs(t, newStore(t)) })
}

func testJobs(t *testing.T, s monitor.Store) {
	ctx := context.Background()
	jobs, err := s.Jobs(ctx)
	require.NoError(t, err)
	require.Empty(t, jobs)
	require.ErrorIs(t, s.RecordSignal(ctx, "nope", monitor.SignalStart, t0, ""), monitor.ErrUnknownJob)

	spec := monitor.JobSpec{Name: "sweeper", Period: time.Hour, Grace: 10 * time.Minute, MaxRuntime: 5 * time.Minute}
	require.NoError(t, s.RegisterJob(ctx, spec, t0))
	spec.Grace = 20 * time.Minute
	require.NoError(t, s.RegisterJob(ctx, spec, t0.Add(time.Hour))) // keeps the first registration time
	require.NoError(t, s.RegisterJob(ctx, monitor.JobSpec{Name: "backup", Period: 24 * time.Hour}, t0))

	require.NoError(t, s.RecordSignal(ctx, "sweeper", monitor.SignalStart, t0.Add(time.Minute), ""))
	require.NoError(t, s.RecordSignal(ctx, "sweeper", monitor.SignalFail, t0.Add(2*time.Minute), "db down"))
	require.NoError(t, s.RecordSignal(ctx, "sweeper", monitor.SignalSuccess, t0.Add(3*time.Minute), ""))

	jobs, err = s.Jobs(ctx)
	require.NoError(t, err)
	require.Len(t, jobs, 2)
	require.Equal(t, "backup", jobs[0].Name)
	require.True(t, jobs[0].LastStart.IsZero())
	require.True(t, jobs[0].LastSuccess.IsZero())
	sw := jobs[1]
	require.Equal(t, "sweeper", sw.Name)
	require.Equal(t, 20*time.Minute, sw.Grace)
	require.Equal(t, 5*time.Minute, sw.MaxRuntime)
	require.True(t, sw.RegisteredAt.Equal(t0), sw.RegisteredAt)
	require.True(t, sw.LastStart.Equal(t0.Add(time.Minute)))
	require.True(t, sw.LastFailure.Equal(t0.Add(2*time.Minute)))
	require.True(t, sw.LastSuccess.Equal(t0.Add(3*time.Minute)))
	require.Equal(t, "db down", sw.LastCause)

	// A delayed signal from a slow instance must not rewind the job.
	require.NoError(t, s.RecordSignal(ctx, "sweeper", monitor.SignalSuccess, t0.Add(time.Minute), ""))
	require.NoError(t, s.RecordSignal(ctx, "sweeper", monitor.SignalFail, t0.Add(time.Minute), "stale"))
	jobs, err = s.Jobs(ctx)
	require.NoError(t, err)
	require.True(t, jobs[1].LastSuccess.Equal(t0.Add(3*time.Minute)))
	require.True(t, jobs[1].LastFailure.Equal(t0.Add(2*time.Minute)))
	require.Equal(t, "db down", jobs[1].LastCause)
}
