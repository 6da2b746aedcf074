package main

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/mfa"
)

// stepUpAge is how recent an MFA verification must be for payouts, the tax
// export and account deletion.
const stepUpAge = 15 * time.Minute

// stepUp guards a sensitive route: the session must have passed MFA within
// stepUpAge, else 401 with the mfa-step-up-required problem and the client
// calls /me/mfa/challenge. API keys never pass it: a key cannot answer a
// TOTP challenge, so sensitive operations need a person.
func (a *app) stepUp(h http.HandlerFunc) http.Handler {
	return a.requireMFA(h)
}

// sessionUser returns the signed-in user, refusing API keys: enrolment and
// challenges belong to a person's session.
func (a *app) sessionUser(w http.ResponseWriter, r *http.Request) (user, authn.Identity, bool) {
	id, _ := authn.IdentityFrom(r.Context())
	if id.Method != authn.MethodSession {
		writeProblem(w, http.StatusForbidden, "Forbidden", "this operation needs a signed-in user, not an API key")
		return user{}, id, false
	}
	u, err := a.currentUser(r)
	if err != nil {
		a.fail(w, r, err)
		return user{}, id, false
	}
	return u, id, true
}

// POST /orgs/{org}/me/mfa/enroll starts enrolment and returns the otpauth
// URI (for a QR code) and the secret, shown this once.
func (a *app) handleMFAEnroll(w http.ResponseWriter, r *http.Request) {
	u, _, ok := a.sessionUser(w, r)
	if !ok {
		return
	}
	setup, err := a.mfa.Begin(r.Context(), a.mfaAccount(u), u.ID)
	if errors.Is(err, mfa.ErrAlreadyEnrolled) {
		writeProblem(w, http.StatusConflict, "Conflict", "MFA is already enrolled; an administrator must reset it first")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"otpauth_uri": setup.URI(), "secret": setup.Secret()})
}

type codeRequest struct {
	Code string `json:"code"`
}

// POST /orgs/{org}/me/mfa/confirm confirms enrolment with a first code and
// returns the recovery codes, shown this once. The session counts as
// MFA-verified from now (mfa records the enrolment in the audit log).
func (a *app) handleMFAConfirm(w http.ResponseWriter, r *http.Request) {
	u, id, ok := a.sessionUser(w, r)
	var req codeRequest
	if !ok || !decode(w, r, &req) {
		return
	}
	codes, err := a.mfa.Confirm(r.Context(), a.mfaAccount(u), req.Code)
	if err != nil {
		mfaProblem(w, err)
		return
	}
	if err := a.sessions.MarkMFAVerified(r.Context(), id.SessionID, a.now()); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes.Codes()})
}

// POST /orgs/{org}/me/mfa/challenge is the step-up: a valid code marks the
// session MFA-verified now.
func (a *app) handleMFAChallenge(w http.ResponseWriter, r *http.Request) {
	u, id, ok := a.sessionUser(w, r)
	var req codeRequest
	if !ok || !decode(w, r, &req) {
		return
	}
	if err := a.mfa.Challenge(r.Context(), a.mfaAccount(u), req.Code, a.sessions, id.SessionID); err != nil {
		mfaProblem(w, err)
		return
	}
	if err := a.record(r, actMFAStepUp, "session:"+id.SessionID, nil); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// mfaProblem answers a failed code without saying which check failed.
func mfaProblem(w http.ResponseWriter, err error) {
	var tooMany *mfa.TooManyAttemptsError
	switch {
	case errors.As(err, &tooMany):
		w.Header().Set("Retry-After", strconv.Itoa(int(tooMany.RetryAfter.Seconds()+0.5)))
		writeProblem(w, http.StatusTooManyRequests, "Too many attempts", "wait before trying another code")
	case errors.Is(err, mfa.ErrNotEnrolled), errors.Is(err, mfa.ErrNotPending):
		writeProblem(w, http.StatusConflict, "Conflict", "no MFA enrolment in that state; start with /me/mfa/enroll")
	default:
		writeProblem(w, http.StatusUnauthorized, "Unauthorized", "the code is wrong or was already used")
	}
}
