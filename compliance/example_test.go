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

func ExampleCheckDisclosure() {
	fmt.Println(compliance.CheckDisclosure("#ad These boots survived a winter. https://shop.example/boots?aff=7").Pass)
	fmt.Println(compliance.CheckDisclosure("These boots survived a winter. https://shop.example/boots?aff=7 #sp").Reason)
	// Output:
	// true
	// ambiguous disclosure "#sp": readers may not understand it as a paid relationship
}
