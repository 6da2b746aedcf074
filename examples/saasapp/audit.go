package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
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
	actSessionRevoked       = "app.session.revoked"
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
	{Name: actSessionRevoked, Category: auditlog.CategorySecurity, Description: "sessions were ended by their user or an administrator"},
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
	audit, err := auditlog.New(store, opts...)
	if err != nil {
		return err
	}
	a.audit = audit
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

// fullVerifyEvery is how often the audit-verifier job re-reads every chain
// from its first entry: one run in 24, a day with the hourly schedule. The
// runs in between verify incrementally (auditlog.VerifyFrom).
const fullVerifyEvery = 24

// verifiedChains is what the audit-verifier job remembers between runs: per
// chain, the checkpoint of its last successful verification. It is kept in
// the process, not in the database, since a checkpoint the database held
// could be replaced by whoever rewrote the chain; a restarted process starts
// with a full verification.
type verifiedChains struct {
	mu   sync.Mutex
	runs uint64
	last map[string]auditlog.Checkpoint
}

// startRun reports whether this run must verify every chain in full.
func (v *verifiedChains) startRun() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	full := v.runs%fullVerifyEvery == 0
	v.runs++
	return full
}

func (v *verifiedChains) get(chain string) auditlog.Checkpoint {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.last[chain]
}

func (v *verifiedChains) set(cp auditlog.Checkpoint) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.last == nil {
		v.last = map[string]auditlog.Checkpoint{}
	}
	if cp.Size >= v.last[cp.Chain].Size {
		v.last[cp.Chain] = cp
	}
}

// verifyAllChains is the audit-verifier job: every chain, from the
// checkpoint its last run verified (a consistency proof to the new head and
// then only the new entries), and every fullVerifyEvery runs from the first
// entry, which also re-reads rows edited in place before the checkpoint.
// A chain that fails keeps its last good checkpoint, so it keeps failing
// until someone looks.
func (a *app) verifyAllChains(ctx context.Context) error {
	full := a.verified.startRun()
	chains, err := a.auditStore.Chains(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range chains {
		var last auditlog.Checkpoint
		if !full {
			last = a.verified.get(c)
		}
		res, err := auditlog.VerifyFrom(ctx, a.auditStore, c, last, auditlog.VerifyOptions{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a.verified.set(res.Checkpoint())
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

// GET /orgs/{org}/audit?after=&limit=&action=&actor= lists the
// organisation's chain a page at a time, oldest first: the entries after
// sequence number "after" (from the first when absent), at most "limit" of
// them (default auditlog.DefaultPageSize; above auditlog.MaxPageSize is a
// 400, not a silently shorter page). When more entries match, the answer
// carries the next page's URL in "next" and in a Link header (rel="next").
// Each request costs one page, however long the chain.
func (a *app) handleAuditList(w http.ResponseWriter, r *http.Request) {
	org := r.PathValue("org")
	qv := r.URL.Query()
	var q auditlog.Query
	if s := qv.Get("after"); s != "" {
		after, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			writeProblem(w, http.StatusBadRequest, "Bad request", "after must be the sequence number of an entry")
			return
		}
		q.From = after + 1
	}
	limit := 0
	if s := qv.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > auditlog.MaxPageSize {
			writeProblem(w, http.StatusBadRequest, "Bad request", fmt.Sprintf("limit must be between 1 and %d", auditlog.MaxPageSize))
			return
		}
		limit = n
	}
	q.Action, q.Actor = qv.Get("action"), qv.Get("actor")
	page, err := auditlog.ReadPage(r.Context(), a.auditStore, auditlog.ChainFor(org), q, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]auditEntry, 0, len(page.Entries))
	for i := range page.Entries {
		e := &page.Entries[i]
		out = append(out, auditEntry{Seq: e.Seq, At: e.Time.UTC().Format("2006-01-02T15:04:05Z"), Actor: e.Actor,
			Action: e.Action, Target: e.Target, Hash: e.Hash.String(), Data: payloadMap(e.Payload)})
	}
	body := map[string]any{"entries": out}
	if page.More {
		next := url.Values{"after": {strconv.FormatUint(page.Next-1, 10)}}
		if limit != 0 {
			next.Set("limit", strconv.Itoa(limit))
		}
		for _, k := range []string{"action", "actor"} {
			if v := qv.Get(k); v != "" {
				next.Set(k, v)
			}
		}
		link := (&url.URL{Path: "/orgs/" + org + "/audit", RawQuery: next.Encode()}).String()
		w.Header().Set("Link", "<"+link+`>; rel="next"`)
		body["next"] = link
	}
	writeJSON(w, http.StatusOK, body)
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
