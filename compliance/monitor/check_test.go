package monitor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/compliance/monitor"
	"github.com/rampart-sdk/rampart/internal/testclock"
)

func pass(context.Context) compliance.CheckResult {
	return compliance.CheckResult{Pass: true, Details: "ok"}
}

// fullMatrix returns the GDPR+CCPA matrix with every slot passing.
func fullMatrix(t *testing.T) *compliance.Matrix {
	t.Helper()
	m, err := compliance.NewMatrix(append(compliance.GDPRCatalog(), compliance.CCPACatalog()...),
		compliance.WithClock(func() time.Time { return t0 }))
	require.NoError(t, err)
	for slot := range m.Slots() {
		require.NoError(t, m.Fill(slot, pass))
	}
	return m
}

func control(r *compliance.Report, id string) compliance.ControlResult {
	for _, c := range r.Controls {
		if c.ID == id {
			return c
		}
	}
	return compliance.ControlResult{}
}

func TestOverdueJobFailsMatrix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := testclock.New(t0)
	m := newMonitor(t, clk)
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "privacy-sweeper", Period: time.Hour}))
	mx := fullMatrix(t)
	require.NoError(t, mx.Fill(compliance.SlotJobsHealthy, m.Check))
	require.True(t, mx.Evaluate(ctx).Pass)
	clk.Advance(2 * time.Hour)
	r := mx.Evaluate(ctx)
	require.False(t, r.Pass)
	require.Equal(t, compliance.StatusFail, control(r, "gdpr-art-32-1-d").Status)
}

func TestAllOfAndJobCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := testclock.New(t0)
	mon := newMonitor(t, clk)
	require.NoError(t, mon.Register(ctx, monitor.JobSpec{Name: "privacy-sweeper", Period: time.Hour}))
	overdueRequests := 0
	check := compliance.AllOf(mon.JobCheck("privacy-sweeper"), compliance.CheckErr(func(context.Context) error {
		if overdueRequests > 0 {
			return fmt.Errorf("%d subject requests overdue", overdueRequests)
		}
		return nil
	}))
	require.True(t, check(ctx).Pass)
	overdueRequests = 2
	r := check(ctx)
	require.False(t, r.Pass)
	require.Contains(t, r.Details, "2 subject requests overdue")
	overdueRequests = 0
	clk.Advance(2 * time.Hour)
	require.False(t, check(ctx).Pass)
	require.False(t, mon.JobCheck("nope")(ctx).Pass)
	require.False(t, compliance.AllOf()(ctx).Pass)
}
