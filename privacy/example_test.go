package privacy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/rampart-sdk/rampart/privacy"
)

// Example walks one subject through the lifecycle: deletion request, a
// restore inside the cooldown, a new request, and the sweep that erases it
// once the cooldown has elapsed.
func Example() {
	ctx := context.Background()
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	l, err := privacy.NewLifecycle(privacy.NewMemoryStore(), privacy.WithClock(func() time.Time { return now }))
	if err != nil {
		panic(err)
	}

	users := map[string]string{"u1": "alice@example.com"}
	_ = l.RegisterDomain(privacy.Domain{Name: "users", Eraser: privacy.EraserFunc(
		func(ctx context.Context, req privacy.EraseRequest) (privacy.Result, error) {
			delete(users, req.SubjectID) // idempotent
			return privacy.Result{Records: 1}, nil
		})})

	alice := privacy.Ref{Org: "acme", ID: "u1"}
	s, _ := l.RequestDeletion(ctx, alice, "user:u1", "closing my account")
	fmt.Println(s.State, "until", s.EraseAfter.Format("2006-01-02"))
	s, _ = l.Restore(ctx, alice, "user:u1", "changed my mind")
	fmt.Println(s.State)
	_, _ = l.RequestDeletion(ctx, alice, "user:u1", "closing for good")

	now = now.Add(31 * 24 * time.Hour)
	_, err = l.Restore(ctx, alice, "user:u1", "too late")
	fmt.Println(err)
	rep, _ := l.Sweep(ctx, privacy.SweepOptions{})
	s, _ = l.Status(ctx, alice)
	fmt.Println("erased:", rep.Erased, s.State, len(users))
	// Output:
	// deletion_requested until 2026-02-04
	// active
	// privacy: cooldown elapsed, restore refused: cooldown ended 2026-02-04T09:00:00Z
	// erased: 1 erased 0
}

// ExampleConsentGate gates an analytics snippet on the visitor's consent:
// nothing is emitted before the opt-in, and nothing after a withdrawal.
func ExampleConsentGate() {
	ctx := context.Background()
	c, err := privacy.NewConsent(privacy.NewMemoryStore())
	if err != nil {
		panic(err)
	}
	_ = c.RegisterPurpose(privacy.Purpose{Name: "analytics", Version: 1})
	gate := privacy.NewConsentGate(c, func(r *http.Request) (org, who string, ok bool) {
		return "acme", "visitor:" + r.Header.Get("X-Visitor-ID"), r.Header.Get("X-Visitor-ID") != ""
	})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Visitor-ID", "v-42")

	fmt.Println("before:", gate.Allowed(r, "analytics"))
	_, _ = c.Grant(ctx, "acme", "visitor:v-42", "analytics", "banner")
	fmt.Println("granted:", gate.Allowed(r, "analytics"))
	_, _ = c.Withdraw(ctx, "acme", "visitor:v-42", "analytics", "settings")
	fmt.Println("withdrawn:", gate.Allowed(r, "analytics"))
	// Output:
	// before: false
	// granted: true
	// withdrawn: false
}
