package monitor_test

import (
	"context"
	"fmt"
	"time"

	"github.com/rampart-sdk/rampart/compliance/monitor"
)

// A job wrapped by the monitor reports start and success; silence past its
// period and grace makes it overdue.
func Example() {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)
	m, err := monitor.New(monitor.NewMemoryStore(), monitor.WithClock(func() time.Time { return now }))
	if err != nil {
		panic(err)
	}
	_ = m.Register(ctx, monitor.JobSpec{Name: "privacy-sweeper", Period: 24 * time.Hour, Grace: time.Hour})
	sweep := m.Wrap("privacy-sweeper", func(context.Context) error { return nil })
	_ = sweep(ctx)
	fmt.Println(m.Check(ctx).Details)
	now = now.Add(26 * time.Hour)
	fmt.Println(m.Check(ctx).Pass)
	// Output:
	// 1 jobs reported success on time
	// false
}
