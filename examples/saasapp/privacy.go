package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/rbac"
)

// purposeAnalytics is the one processing that relies on consent: product
// analytics events are stored only for users who said yes.
const purposeAnalytics = "analytics"

// sweeperActor is who the erasure sweeper acts as in the audit log.
const sweeperActor = "system:cron/" + privacy.SweepJob

// wirePrivacy builds the GDPR lifecycle: the data domains the sweeper erases
// (in this order) and exports, the consent purposes and the records of
// processing that the compliance report checks.
func (a *app) wirePrivacy(store privacy.Store) error {
	var err error
	if a.privacy, err = privacy.NewLifecycle(store, privacy.WithClock(a.now), privacy.WithCooldown(a.cfg.Cooldown),
		privacy.WithRecorder(a.audit), privacy.WithHeartbeat(a.monitor)); err != nil {
		return err
	}
	if a.requests, err = privacy.NewRequests(store, privacy.WithClock(a.now), privacy.WithRecorder(a.audit)); err != nil {
		return err
	}
	if a.consent, err = privacy.NewConsent(store, privacy.WithClock(a.now)); err != nil {
		return err
	}
	domains := []privacy.Domain{
		{Name: "profile", Eraser: privacy.EraserFunc(a.eraseProfile), Exporter: privacy.ExporterFunc(a.exportProfile)},
		{Name: "sessions", Eraser: privacy.EraserFunc(a.eraseSessions), Exporter: privacy.ExporterFunc(a.exportSessions)},
		{Name: "mfa", Eraser: privacy.EraserFunc(a.eraseMFA)},
		{Name: "api_keys", Eraser: privacy.EraserFunc(a.eraseAPIKeys), Exporter: privacy.ExporterFunc(a.exportAPIKeys)},
		{Name: "analytics", Eraser: privacy.EraserFunc(a.eraseAnalytics), Exporter: privacy.ExporterFunc(a.exportAnalytics)},
	}
	for _, d := range domains {
		if err := a.privacy.RegisterDomain(d); err != nil {
			return err
		}
	}
	if err := a.consent.RegisterPurpose(privacy.Purpose{Name: purposeAnalytics, Version: 1,
		Description: "Product analytics: which features you use, to improve them"}); err != nil {
		return err
	}
	a.records = &compliance.ProcessingRecords{Controller: "SaaS Example Ltd", Contact: "privacy@example.com"}
	for _, act := range []compliance.ProcessingActivity{
		{Name: "accounts", Purpose: "Provide the service to members of customer organisations",
			LegalBasis: "contract (Art. 6(1)(b))", DataSubjects: []string{"members"},
			DataCategories: []string{"name", "email", "postal address", "password hash", "sessions", "MFA secret"},
			Retention:      "until account deletion plus a 30-day cooldown", Security: "per-column AES-256-GCM keys, crypto-shredded address"},
		{Name: "payouts", Purpose: "Pay out customer balances", LegalBasis: "contract (Art. 6(1)(b))",
			DataCategories: []string{"bank account", "tax ID"}, Retention: "as long as the organisation exists",
			Security: "sealed columns, MFA step-up, four-eyes approval"},
		{Name: "leads", Purpose: "Answer prospects who asked to be contacted", LegalBasis: "consent (Art. 6(1)(a))",
			DataCategories: []string{"contact details typed into the form"}, Retention: "12 months"},
		{Name: "analytics", Purpose: "Improve the product", LegalBasis: "consent (Art. 6(1)(a))",
			DataCategories: []string{"feature usage events"}, Retention: "pseudonymised at erasure"},
	} {
		if err := a.records.Add(act); err != nil {
			return err
		}
	}
	// A copy made after every domain is registered: the sweeper erases them.
	a.sweeper = a.privacy
	if a.pg != nil && a.pg.sweep != nil {
		a.sweeper = a.privacy.WithStore(a.pg.sweep)
	}
	return nil
}

// The erasers run in the sweeper, once the cooldown is over. Each must be
// idempotent: a sweep that dies halfway calls it again.

// eraseProfile destroys the user's data key (the address, in every copy
// and backup, becomes unreadable) and clears the other personal columns.
func (a *app) eraseProfile(ctx context.Context, req privacy.EraseRequest) (privacy.Result, error) {
	if err := a.keys.subjects.Destroy(ctx, req.SubjectID); err != nil {
		return privacy.Result{}, err
	}
	n, err := a.store.EraseUser(ctx, req.Org, req.SubjectID)
	return privacy.Result{Records: n}, err
}

func (a *app) eraseSessions(ctx context.Context, req privacy.EraseRequest) (privacy.Result, error) {
	n, err := a.sessions.RevokeAll(ctx, req.Org, req.SubjectID)
	if err != nil {
		return privacy.Result{}, err
	}
	m, err := a.store.DeleteSessionData(ctx, req.Org, req.SubjectID)
	return privacy.Result{Records: int64(n) + m}, err
}

func (a *app) eraseMFA(ctx context.Context, req privacy.EraseRequest) (privacy.Result, error) {
	acct := a.mfaAccount(user{ID: req.SubjectID, Org: req.Org})
	st, err := a.mfa.Status(ctx, acct)
	if err != nil || (!st.Enrolled && !st.Pending) {
		return privacy.Result{}, err
	}
	return privacy.Result{Records: 1}, a.mfa.Reset(ctx, sweeperActor, acct, "erasure")
}

func (a *app) eraseAPIKeys(ctx context.Context, req privacy.EraseRequest) (privacy.Result, error) {
	var n int64
	err := a.eachAPIKey(ctx, req.Org, func(k authn.APIKey) error {
		if k.Owner != req.SubjectID || !k.RevokedAt.IsZero() {
			return nil
		}
		if err := a.apiKeys.Revoke(ctx, req.Org, k.ID); err != nil && !errors.Is(err, authn.ErrNotFound) {
			return err
		}
		n++
		return nil
	})
	return privacy.Result{Records: n}, err
}

// eachAPIKey calls f with every key of org, a page at a time.
func (a *app) eachAPIKey(ctx context.Context, org string, f func(authn.APIKey) error) error {
	cursor := ""
	for {
		ks, next, err := a.apiKeys.List(ctx, org, cursor, authn.MaxListLimit)
		if err != nil {
			return err
		}
		for _, k := range ks {
			if err := f(k); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// eraseAnalytics replaces the user by a keyed pseudonym: the counts stay
// right, the person is gone.
func (a *app) eraseAnalytics(ctx context.Context, req privacy.EraseRequest) (privacy.Result, error) {
	n, err := a.store.RenameSubject(ctx, req.Org, req.SubjectID, privacy.PseudonymOf(a.keys.pseudonym, req.SubjectID))
	return privacy.Result{Records: n}, err
}

// The exporters yield the subject's records, decrypted, for the right of
// access.

func (a *app) exportProfile(ctx context.Context, org, subjectID string, yield func(any) error) error {
	u, err := a.store.User(ctx, org, subjectID)
	if errors.Is(err, errNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return yield(a.profile(ctx, u))
}

func (a *app) exportSessions(ctx context.Context, org, subjectID string, yield func(any) error) error {
	cursor := ""
	for {
		ss, next, err := a.sessions.List(ctx, org, subjectID, cursor, authn.MaxListLimit)
		if err != nil {
			return err
		}
		for _, s := range ss {
			if err := yield(s); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

func (a *app) exportAPIKeys(ctx context.Context, org, subjectID string, yield func(any) error) error {
	return a.eachAPIKey(ctx, org, func(k authn.APIKey) error {
		if k.Owner != subjectID {
			return nil
		}
		return yield(k)
	})
}

func (a *app) exportAnalytics(ctx context.Context, org, subjectID string, yield func(any) error) error {
	es, err := a.store.Events(ctx, org, subjectID)
	for _, e := range es {
		if err := yield(map[string]any{"event": e.Name, "at": e.At}); err != nil {
			return err
		}
	}
	return err
}

// requestDeletion soft-deletes a user: they are logged out everywhere and
// treated as gone, and the sweeper erases them when the cooldown ends. On
// PostgreSQL it is one transaction (deleteAccount).
func (a *app) requestDeletion(r *http.Request, org, userID, reason string) (privacy.Subject, error) {
	p, _ := rbac.PrincipalFrom(r.Context())
	return a.deleteAccount(r.Context(), org, userID, p.Actor(), reason)
}

// deletionAnswer writes the outcome of requestDeletion.
func (a *app) deletionAnswer(w http.ResponseWriter, r *http.Request, userID string, sub privacy.Subject, err error) {
	if errors.Is(err, privacy.ErrInvalidTransition) {
		writeProblem(w, http.StatusConflict, "Conflict", "the account is already being deleted")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"user": userID, "state": sub.State, "erase_after": sub.EraseAfter})
}

// DELETE /orgs/{org}/me deletes one's own account (step-up required). It is
// an erasure request (GDPR Art. 17) from a verified requester (a session
// that just passed MFA), answered at once: the account is gone from now on
// and its data is erased when the cooldown ends, which the answer states.
// Answering at the soft delete keeps the one-month deadline even when the
// cooldown (30 days) is longer than the month (February).
func (a *app) handleDeleteMe(w http.ResponseWriter, r *http.Request) {
	id, _ := authn.IdentityFrom(r.Context())
	actor := "user:" + id.UserID
	req, err := a.requests.Receive(r.Context(), privacy.Ref{Org: id.Org, ID: id.UserID}, privacy.KindErasure, true, actor)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	sub, err := a.requestDeletion(r, id.Org, id.UserID, "self-service account deletion")
	status, resolution := privacy.RequestCompleted, "account deleted; personal data erased after "+sub.EraseAfter.UTC().Format(time.RFC3339)
	if err != nil {
		status, resolution = privacy.RequestRejected, "the deletion could not be scheduled; ask again"
	}
	if _, cerr := a.requests.Close(r.Context(), privacy.Ref{Org: id.Org, ID: req.ID}, status, actor, resolution); err == nil {
		err = cerr
	}
	a.deletionAnswer(w, r, id.UserID, sub, err)
}

// DELETE /orgs/{org}/members/{user} removes a member and their data (step-up
// required).
func (a *app) handleDeleteMember(w http.ResponseWriter, r *http.Request) {
	org, target := r.PathValue("org"), r.PathValue("user")
	if _, err := a.store.User(r.Context(), org, target); err != nil {
		a.fail(w, r, err)
		return
	}
	sub, err := a.requestDeletion(r, org, target, "removed by an administrator")
	a.deletionAnswer(w, r, target, sub, err)
}

// POST /orgs/{org}/members/{user}/restore undoes a deletion during the cooldown.
func (a *app) handleRestoreMember(w http.ResponseWriter, r *http.Request) {
	p, _ := rbac.PrincipalFrom(r.Context())
	org, target := r.PathValue("org"), r.PathValue("user")
	sub, err := a.privacy.Restore(r.Context(), privacy.Ref{Org: org, ID: target}, p.Actor(), "restored by an administrator")
	switch {
	case errors.Is(err, privacy.ErrCooldownElapsed), sub.State == privacy.StateErased:
		writeProblem(w, http.StatusGone, "Gone", "the cooldown is over; the account is erased or about to be")
		return
	case errors.Is(err, privacy.ErrInvalidTransition):
		writeProblem(w, http.StatusConflict, "Conflict", "the account is not awaiting deletion")
		return
	}
	if err == nil {
		err = a.store.SetState(r.Context(), org, target, userActive)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": target, "state": userActive})
}

// GET /orgs/{org}/members/{user}/privacy shows a member's lifecycle state.
func (a *app) handlePrivacyStatus(w http.ResponseWriter, r *http.Request) {
	sub, err := a.privacy.Status(r.Context(), privacy.Ref{Org: r.PathValue("org"), ID: r.PathValue("user")})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": sub.State, "erase_after": sub.EraseAfter, "erased_at": sub.ErasedAt})
}

// exportHandler is privacy's own handler: the subject comes from the
// session, never from the URL, so nobody downloads someone else's data.
func (a *app) exportHandler() http.Handler {
	return privacy.ExportHandler(a.privacy, func(r *http.Request) (privacy.Ref, bool) {
		id, ok := authn.IdentityFrom(r.Context())
		return privacy.Ref{Org: id.Org, ID: id.UserID}, ok && id.Method == authn.MethodSession
	})
}

// POST /orgs/{org}/me/consent records a consent decision, audited.
func (a *app) handleConsent(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Purpose string `json:"purpose"`
		Granted bool   `json:"granted"`
	}
	if !decode(w, r, &req) {
		return
	}
	id, _ := authn.IdentityFrom(r.Context())
	decide := a.consent.Withdraw
	if req.Granted {
		decide = a.consent.Grant
	}
	c, err := decide(r.Context(), id.Org, "subject:"+id.UserID, req.Purpose, "api")
	if errors.Is(err, privacy.ErrInvalid) {
		writeProblem(w, http.StatusBadRequest, "Bad request", "unknown purpose")
		return
	}
	if err == nil {
		err = a.record(r, actConsentChanged, "subject:"+id.UserID, map[string]any{"purpose": c.Purpose, "granted": c.Granted, "version": c.Version})
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// POST /orgs/{org}/me/events records a product analytics event, only with
// consent: without it the event is dropped and the answer says so.
func (a *app) handleEvent(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if !decode(w, r, &req) {
		return
	}
	id, _ := authn.IdentityFrom(r.Context())
	ok, err := a.consent.Allowed(r.Context(), id.Org, "subject:"+id.UserID, purposeAnalytics)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"recorded": false, "reason": "no analytics consent"})
		return
	}
	if err := a.store.AddEvent(r.Context(), analyticsEvent{Org: id.Org, Subject: id.UserID, Name: req.Name, At: a.now().UTC()}); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"recorded": true})
}
