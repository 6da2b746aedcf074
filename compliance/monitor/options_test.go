package monitor_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance/monitor"
	"github.com/rampart-sdk/rampart/compliance/monitor/monitortest"
)

func TestMemoryStoreConformance(t *testing.T) {
	t.Parallel()
	monitortest.TestStore(t, func(*testing.T) monitor.Store { return monitor.NewMemoryStore() })
}

// TestNewValidatesOptions: an option out of range fails New with
// ErrInvalidConfig instead of silently keeping the default.
func TestNewValidatesOptions(t *testing.T) {
	t.Parallel()
	_, err := monitor.New(nil)
	require.ErrorIs(t, err, monitor.ErrInvalidConfig, "nil store")
	for name, opt := range map[string]monitor.Option{
		"nil clock":         monitor.WithClock(nil),
		"nil client":        monitor.WithHTTPClient(nil),
		"nil logger":        monitor.WithLogger(nil),
		"zero timeout":      monitor.WithForwarding(0, 2, 32),
		"hour timeout":      monitor.WithForwarding(time.Hour, 2, 32),
		"negative retries":  monitor.WithForwarding(time.Second, -1, 32),
		"too many retries":  monitor.WithForwarding(time.Second, 11, 32),
		"zero inflight":     monitor.WithForwarding(time.Second, 2, 0),
		"too many inflight": monitor.WithForwarding(time.Second, 2, 1025),
		"nil option":        nil,
	} {
		_, err := monitor.New(monitor.NewMemoryStore(), opt)
		require.ErrorIs(t, err, monitor.ErrInvalidConfig, name)
	}
	_, err = monitor.New(monitor.NewMemoryStore(), monitor.WithForwarding(100*time.Millisecond, 0, 1),
		monitor.WithForwarding(2*time.Minute, 10, 1024))
	require.NoError(t, err, "the bounds are allowed")
}
