package compliance_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-sdk/rampart/compliance"
)

// The host wires each evidence slot of the shipped catalog to a check that
// reaches the package able to prove it; an unwired or failing slot turns
// its controls red.
func Example() {
	ctx := context.Background()
	now := func() time.Time { return time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) }
	m, err := compliance.NewMatrix(compliance.GDPRCatalog(), compliance.WithClock(now))
	if err != nil {
		panic(err)
	}
	ok := compliance.CheckErr(func(context.Context) error { return nil })
	for slot := range m.Slots() {
		_ = m.Fill(slot, ok)
	}
	// e.g. func(ctx) error { return mfaEnforcer.VerifyStaff(ctx) }
	_ = m.Fill(compliance.SlotStaffMFA, compliance.CheckErr(func(context.Context) error {
		return errors.New("2 staff accounts without MFA")
	}))
	r := m.Evaluate(ctx)
	fmt.Println(r.SummaryLine())
	fmt.Println(r.Failing()[0].Results[1].Details)
	// Output:
	// FAIL: 14/15 controls pass; 1 required control fails (gdpr-art-32-1-b)
	// 2 staff accounts without MFA
}

// A job wrapped by the monitor reports start and success; silence past its
// period and grace makes it overdue.
func ExampleMonitor_Wrap() {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)
	m := compliance.NewMonitor(compliance.NewMemoryStore(), compliance.MonitorClock(func() time.Time { return now }))
	_ = m.Register(ctx, compliance.JobSpec{Name: "privacy-sweeper", Period: 24 * time.Hour, Grace: time.Hour})
	sweep := m.Wrap("privacy-sweeper", func(context.Context) error { return nil })
	_ = sweep(ctx)
	fmt.Println(m.Check(ctx).Details)
	now = now.Add(26 * time.Hour)
	fmt.Println(m.Check(ctx).Pass)
	// Output:
	// 1 jobs reported success on time
	// false
}

func ExampleCheckDisclosure() {
	fmt.Println(compliance.CheckDisclosure("#ad These boots survived a winter. https://shop.example/boots?aff=7").Pass)
	fmt.Println(compliance.CheckDisclosure("These boots survived a winter. https://shop.example/boots?aff=7 #sp").Reason)
	// Output:
	// true
	// ambiguous disclosure "#sp": readers may not understand it as a paid relationship
}
