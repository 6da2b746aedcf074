package mfa_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/mfa/mfatest"
)

// Enrol a user, confirm with the code their app shows, log in once, and see
// the replay refused.
func Example() {
	ctx := context.Background()
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }

	// In production the sealer is a keyring field and the store is pgstore.
	m, err := mfa.New("Acme", mfa.NewMemoryStore(), mfatest.NewSealer(), mfa.WithClock(clock))
	if err != nil {
		panic(err)
	}
	ada := mfa.Account{Org: "org_1", User: "u_ada", Kind: mfa.KindStaff}

	_, err = m.CheckLogin(ctx, ada)
	fmt.Println("before enrolment:", errors.Is(err, mfa.ErrEnrollmentRequired))

	setup, _ := m.Begin(ctx, ada, "ada@example.com") // show setup.PNG(256) to the user
	app := func() string {                           // the user's authenticator app
		secret := mustSecret(setup.Secret())
		code, _ := mfa.TOTP(secret, now, mfa.SHA1, 6)
		return code
	}
	codes, err := m.Confirm(ctx, ada, app())
	fmt.Println("confirmed:", err == nil, "recovery codes:", len(codes.Codes()))

	now = now.Add(time.Minute)
	code := app()
	fmt.Println("login:", m.Verify(ctx, ada, code))
	fmt.Println("replay:", m.Verify(ctx, ada, code))
	// Output:
	// before enrolment: true
	// confirmed: true recovery codes: 10
	// login: <nil>
	// replay: mfa: invalid code (mfa: code already used)
}

// Guard a sensitive route: a session whose last MFA verification is older
// than 15 minutes gets a 401 problem telling the client to re-challenge.
func ExampleRequireRecent() {
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	verifiedAt := now.Add(-20 * time.Minute) // from the session, e.g. authn's identity
	fresh := func(*http.Request) (string, time.Time, bool) { return "sess_1", verifiedAt, true }
	stepUp, err := mfa.RequireRecent(15*time.Minute, fresh, mfa.WithClock(func() time.Time { return now }))
	if err != nil {
		panic(err) // a wiring mistake: stop at startup
	}
	payouts := stepUp(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "payout scheduled") }))

	rec := httptest.NewRecorder()
	payouts.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/payouts", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Print(rec.Body.String())

	verifiedAt = now // after m.Challenge marked the session
	rec = httptest.NewRecorder()
	payouts.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/payouts", nil))
	fmt.Println(rec.Code, rec.Body.String())
	// Output:
	// 401 application/problem+json
	// {"type":"https://rampart.dev/problems/mfa-step-up-required","title":"Multi-factor re-authentication required","status":401,"detail":"This operation requires a multi-factor verification within the last 15m0s.","max_age_seconds":900}
	// 200 payout scheduled
}
