package main

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/rampart-sdk/rampart/mfa"
)

// mfaChapter: TOTP enrolment, a replay refused, single-use recovery codes and
// a step-up check on a sensitive route.
func mfaChapter() chapter {
	return chapter{title: "mfa: TOTP that cannot be replayed, recovery codes, step-up", run: func(ctx context.Context, s *story) error {
		// The TOTP secret is sealed by the keyring field of its own scope
		// (contract: Seal/Open bound to the row), never stored in clear.
		secrets := s.ring.Field("mfa_enrollments", "secret")
		m, err := mfa.New("Acme", mfa.NewMemoryStore(), secrets, mfa.WithClock(s.clock), mfa.WithRecorder(s.audit))
		if err != nil {
			return err
		}
		ada := mfa.Account{Org: "org_acme", User: "u_ada", Kind: mfa.KindStaff}

		if _, err := m.CheckLogin(ctx, ada); errors.Is(err, mfa.ErrEnrollmentRequired) {
			s.say("login as staff without MFA: %v", err)
		}
		setup, err := m.Begin(ctx, ada, "ada@acme.example")
		if err != nil {
			return err
		}
		s.say("enrolment started, scan this (secret redacted): %v", setup)
		png, err := setup.PNG(256)
		if err != nil {
			return err
		}
		s.say("QR code: %d-byte PNG", len(png))

		// Play the authenticator app.
		secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(setup.Secret())
		if err != nil {
			return err
		}
		app := func() string {
			code, _ := mfa.TOTP(secret, s.clock(), mfa.SHA1, 6)
			return code
		}
		codes, err := m.Confirm(ctx, ada, app())
		if err != nil {
			return err
		}
		s.say("confirmed with the app's code; %d recovery codes shown once (%v)", len(codes.Codes()), codes)

		s.advance(time.Minute)
		code := app()
		if err := m.Verify(ctx, ada, code); err != nil {
			return err
		}
		s.say("login with the current code: accepted")
		if err := m.Verify(ctx, ada, code); !errors.Is(err, mfa.ErrCodeReused) {
			return fmt.Errorf("replay was not refused: %v", err)
		}
		s.say("the same code replayed: %v", mfa.ErrCodeReused)

		rc := codes.Codes()[0]
		if err := m.UseRecoveryCode(ctx, ada, rc); err != nil {
			return err
		}
		left, err := m.RecoveryCodesLeft(ctx, ada)
		if err != nil {
			return err
		}
		s.say("recovery code used once: accepted, %d left", left)
		err = m.UseRecoveryCode(ctx, ada, rc)
		if !errors.Is(err, mfa.ErrInvalidCode) {
			return fmt.Errorf("recovery code reuse was not refused: %v", err)
		}
		s.say("the same recovery code again: %v", err)

		// Step-up: payouts need an MFA verification within 15 minutes.
		sessions := &mfaSessions{at: map[string]time.Time{"sess_1": s.clock()}}
		stepUp, err := mfa.RequireRecent(15*time.Minute, sessions.fresh, mfa.WithClock(s.clock))
		if err != nil {
			return err
		}
		payouts := stepUp(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "payout scheduled") }))
		s.advance(20 * time.Minute)
		rec := httptest.NewRecorder()
		payouts.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/payouts", nil))
		var p struct{ Type string }
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			return err
		}
		s.say("20 minutes later, POST /payouts: %d %s", rec.Code, p.Type)
		if err := m.Challenge(ctx, ada, app(), sessions, "sess_1"); err != nil {
			return err
		}
		rec = httptest.NewRecorder()
		payouts.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/payouts", nil))
		s.say("after the step-up challenge: %d %s", rec.Code, rec.Body.String())
		if rec.Code != http.StatusOK {
			return errors.New("step-up did not refresh the session")
		}
		return nil
	}}
}

// mfaSessions stands in for authn's sessions (MarkMFAVerified) and the
// host's request identity (fresh).
type mfaSessions struct{ at map[string]time.Time }

func (s *mfaSessions) MarkMFAVerified(_ context.Context, id string, at time.Time) error {
	s.at[id] = at
	return nil
}

func (s *mfaSessions) fresh(*http.Request) (string, time.Time, bool) {
	return "sess_1", s.at["sess_1"], true
}
