package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/rbac"
)

// The app's own audit actions. auditlog refuses an action nobody registered,
// so a typo here fails the first request that uses it, in tests.
const (
	actOrgCreated           = "app.org.created"
	actLogin                = "app.session.login"
	actLogout               = "app.session.logout"
	actMFAStepUp            = "app.session.mfa_step_up"
	actMemberInvited        = "app.member.invited"
	actMemberRoleChanged    = "app.member.role_changed"
	actProfileUpdated       = "app.profile.updated"
	actTaxIDUpdated         = "app.tax_id.updated"
	actTaxExported          = "app.tax.exported"
	actPayoutCreated        = "app.payout.created"
	actPayoutApproved       = "app.payout.approved"
	actIntegrationConnected = "app.integration.connected"
	actAPIKeyCreated        = "app.api_key.created"
	actAPIKeyRevoked        = "app.api_key.revoked"
	actLeadCaptured         = "app.lead.captured"
	actSessionDataUpdated   = "app.session_data.updated"
	actConsentChanged       = "app.consent.changed"
)

var appActions = []auditlog.ActionType{
	{Name: actOrgCreated, Category: auditlog.CategoryAdmin, Description: "an organisation was created with its owner"},
	{Name: actLogin, Category: auditlog.CategorySecurity, Description: "a user logged in"},
	{Name: actLogout, Category: auditlog.CategorySecurity, Description: "a user logged out"},
	{Name: actMFAStepUp, Category: auditlog.CategorySecurity, Description: "a session passed an MFA step-up challenge"},
	{Name: actMemberInvited, Category: auditlog.CategoryAdmin, Description: "a member was added to the organisation"},
	{Name: actMemberRoleChanged, Category: auditlog.CategoryAdmin, Description: "a member's role changed"},
	{Name: actProfileUpdated, Category: auditlog.CategoryUser, Description: "a user changed their profile (fields named, values not)"},
	{Name: actTaxIDUpdated, Category: auditlog.CategoryData, Description: "a tax ID was set"},
	{Name: actTaxExported, Category: auditlog.CategoryData, Description: "the payees' tax IDs were exported"},
	{Name: actPayoutCreated, Category: auditlog.CategoryData, Description: "a payout was requested"},
	{Name: actPayoutApproved, Category: auditlog.CategoryData, Description: "a payout was approved"},
	{Name: actIntegrationConnected, Category: auditlog.CategoryAdmin, Description: "an OAuth integration was connected"},
	{Name: actAPIKeyCreated, Category: auditlog.CategorySecurity, Description: "an API key was created"},
	{Name: actAPIKeyRevoked, Category: auditlog.CategorySecurity, Description: "an API key was revoked"},
	{Name: actLeadCaptured, Category: auditlog.CategoryData, Description: "a visitor submitted the lead-capture form"},
	{Name: actSessionDataUpdated, Category: auditlog.CategoryUser, Description: "a session's stored data changed"},
	{Name: actConsentChanged, Category: auditlog.CategoryUser, Description: "a user granted or withdrew consent to a purpose"},
}

// wireAudit builds the log and registers every action any package may
// record: the app's own, and each package's AuditActions.
func (a *app) wireAudit(store auditlog.Store) error {
	a.auditStore = store
	opts := []auditlog.Option{auditlog.WithClock(a.now), auditlog.WithLogger(a.log)}
	if a.cfg.CheckpointFile != "" {
		// Signed checkpoints kept outside the database are what detect a
		// truncated or wholly recomputed chain: a DBA can rewrite rows, not
		// this file nor the signing key.
		signer, err := checkpointSigner(a.cfg.AuditSigningKey)
		if err != nil {
			return err
		}
		opts = append(opts, auditlog.WithCheckpoints(signer, auditlog.NewFileSink(a.cfg.CheckpointFile), 100, time.Minute))
	}
	a.audit = auditlog.New(store, opts...)
	types := append([]auditlog.ActionType(nil), appActions...)
	for _, group := range []struct {
		category auditlog.Category
		names    []string
	}{
		{auditlog.CategorySecurity, rbac.AuditActions()},
		{auditlog.CategorySecurity, authn.AuditActions()},
		{auditlog.CategorySecurity, mfa.AuditActions()},
		{auditlog.CategoryData, privacy.AuditActions()},
		{auditlog.CategoryCron, compliance.AuditActions()},
	} {
		for _, name := range group.names {
			types = append(types, auditlog.ActionType{Name: name, Category: group.category, Description: "recorded by rampart"})
		}
	}
	for i := range types {
		types[i].SchemaVersion = 1
	}
	return a.audit.Register(types...)
}

// checkpointSigner reads the signing key file ("rampart audit keygen" writes one).
func checkpointSigner(path string) (note.Signer, error) {
	if path == "" {
		return nil, errors.New("checkpoints need a signing key (-audit-signing-key)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	return signer, nil
}

// record appends an entry for the request's principal in its organisation's
// chain. Handlers call it after the change succeeded and fail the request
// if the entry cannot be written: an unaudited change is not acceptable.
func (a *app) record(r *http.Request, action, target string, payload map[string]any) error {
	p, _ := rbac.PrincipalFrom(r.Context())
	return a.audit.Record(r.Context(), p.Org(), p.Actor(), action, target, payload)
}

// verifyChain checks one organisation's chain end to end.
func (a *app) verifyChain(ctx context.Context, org string) (auditlog.VerifyResult, error) {
	return auditlog.Verify(ctx, a.auditStore, auditlog.ChainFor(org), auditlog.VerifyOptions{})
}

// verifyAllChains is the audit-verifier job: every chain, every entry.
func (a *app) verifyAllChains(ctx context.Context) error {
	chains, err := a.auditStore.Chains(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range chains {
		if _, err := auditlog.Verify(ctx, a.auditStore, c, auditlog.VerifyOptions{}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// auditEntry is how the audit route shows an entry.
type auditEntry struct {
	Seq    uint64         `json:"seq"`
	At     string         `json:"at"`
	Actor  string         `json:"actor"`
	Action string         `json:"action"`
	Target string         `json:"target,omitempty"`
	Hash   string         `json:"hash"`
	Data   map[string]any `json:"payload,omitempty"`
}

// GET /orgs/{org}/audit lists the organisation's chain, oldest first.
func (a *app) handleAuditList(w http.ResponseWriter, r *http.Request) {
	var out []auditEntry
	err := a.auditStore.Scan(r.Context(), auditlog.ChainFor(r.PathValue("org")), 0, func(e *auditlog.Entry) error {
		out = append(out, auditEntry{Seq: e.Seq, At: e.Time.UTC().Format("2006-01-02T15:04:05Z"), Actor: e.Actor,
			Action: e.Action, Target: e.Target, Hash: e.Hash.String(), Data: payloadMap(e.Payload)})
		return nil
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out})
}

// GET /orgs/{org}/audit/verify recomputes the chain's hashes and Merkle tree.
func (a *app) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	res, err := a.verifyChain(r.Context(), r.PathValue("org"))
	if err != nil {
		var ve *auditlog.VerifyError
		if errors.As(err, &ve) {
			writeJSON(w, http.StatusConflict, map[string]any{"ok": false, "error": ve.Error()})
			return
		}
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "chain": res.Chain, "size": res.Size, "root": res.Root.String()})
}
