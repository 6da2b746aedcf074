package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/compliance/monitor"
	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/privacy"
)

// Scheduled jobs. Each reports to the job monitor, a dead-man switch:
// a job that stops succeeding turns the compliance report red, whether it
// failed loudly or silently stopped being scheduled.
const (
	jobSessionSweeper    = "session-sweeper"
	jobAuditVerifier     = "audit-verifier"
	jobIdempotencyPruner = "idempotency-pruner"
)

var jobSpecs = []monitor.JobSpec{
	{Name: privacy.SweepJob, Period: time.Hour, Grace: 30 * time.Minute, MaxRuntime: 20 * time.Minute},
	{Name: jobSessionSweeper, Period: time.Hour, Grace: 30 * time.Minute},
	{Name: jobAuditVerifier, Period: time.Hour, Grace: 30 * time.Minute, MaxRuntime: 20 * time.Minute},
	{Name: jobIdempotencyPruner, Period: time.Hour, Grace: 30 * time.Minute},
}

func (a *app) wireJobs(ctx context.Context, store monitor.Store) error {
	var err error
	if a.monitor, err = monitor.New(store, monitor.WithClock(a.now), monitor.WithLogger(a.log)); err != nil {
		return err
	}
	for _, s := range jobSpecs {
		if err := a.monitor.Register(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// runJobs runs every scheduled job once. The privacy sweeper reports its
// own heartbeat (privacy.WithHeartbeat); the others are wrapped here.
func (a *app) runJobs(ctx context.Context) error {
	_, sweepErr := a.sweeper.Sweep(ctx, privacy.SweepOptions{})
	sessions := a.monitor.Wrap(jobSessionSweeper, func(ctx context.Context) error {
		_, err := a.sessions.Sweep(ctx)
		return err
	})
	verify := a.monitor.Wrap(jobAuditVerifier, a.verifyAllChains)
	prune := a.monitor.Wrap(jobIdempotencyPruner, a.pruneIdempotencyKeys)
	return errors.Join(sweepErr, sessions(ctx), verify(ctx), prune(ctx))
}

// schedule runs the jobs now and then every interval until ctx ends. With
// several instances every one runs them: the sweeper leases subjects in the
// database, so two sweeps never erase the same subject twice.
func (a *app) schedule(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := a.runJobs(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("scheduled jobs", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// complianceReport re-proves the GDPR controls for one organisation: each
// evidence slot of compliance's catalog is filled by a check that asks the
// package able to prove it, now.
func (a *app) complianceReport(ctx context.Context, org string) (*compliance.Report, error) {
	m, err := compliance.NewMatrix(compliance.GDPRCatalog(), compliance.WithClock(a.now),
		compliance.WithTitle("SaaS Example: GDPR controls of "+org))
	if err != nil {
		return nil, err
	}
	auditCheck := compliance.CheckErr(func(ctx context.Context) error {
		_, err := a.verifyChain(ctx, org)
		return err
	})
	if o, ok := a.auditStore.(compliance.Outbox); ok {
		// A chain that verifies proves nothing about the actions still
		// waiting in the outbox: the relay must keep up too.
		auditCheck = compliance.AllOf(auditCheck, compliance.OutboxCheck(o, a.cfg.OutboxMaxAge))
	}
	fill := map[string]compliance.Check{
		compliance.SlotAuditChainVerifies:      auditCheck,
		compliance.SlotKeyringGuardrail:        compliance.CheckErr(a.checkKeyring),
		compliance.SlotRoutesDeclarePermission: compliance.CheckErr(a.checkRoutes),
		compliance.SlotStaffMFA: compliance.CheckErr(func(ctx context.Context) error {
			return a.checkStaffMFA(ctx, org)
		}),
		compliance.SlotErasureSweeper: compliance.AllOf(a.monitor.JobCheck(privacy.SweepJob),
			compliance.CheckErr(func(ctx context.Context) error { return a.checkRequestsOnTime(ctx, org) })),
		compliance.SlotRecordsOfProcessing: compliance.CheckErr(func(context.Context) error {
			if len(a.records.Activities) == 0 {
				return errors.New("no records of processing")
			}
			return nil // ProcessingRecords.Add refused any activity lacking what Art. 30 requires
		}),
		compliance.SlotConsentGate: compliance.CheckErr(func(context.Context) error {
			if _, ok := a.consent.Purposes()[purposeAnalytics]; !ok {
				return errors.New("the analytics purpose is not registered, so the events route drops everything")
			}
			return nil
		}),
		compliance.SlotRetentionPolicies: compliance.CheckErr(func(context.Context) error {
			for _, act := range a.records.Activities {
				if act.Retention == "" {
					return fmt.Errorf("activity %q has no retention", act.Name)
				}
			}
			return nil
		}),
		compliance.SlotJobsHealthy:     a.monitor.Check,
		compliance.SlotTenantIsolation: a.checkTenantIsolation,
	}
	for slot, check := range fill {
		if err := m.Fill(slot, check); err != nil {
			return nil, err
		}
	}
	return m.Evaluate(ctx), nil
}

// checkKeyring runs the keyring guardrail: the registry against the declared
// columns and, on PostgreSQL, every stored ciphertext's key ID.
func (a *app) checkKeyring(ctx context.Context) error {
	rep, err := keyring.Check(ctx, a.keyDoc, keyring.CheckOptions{Columns: codeColumns(a.keyDoc), Counter: a.counter})
	if err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("%d findings, first: %s", len(rep.Findings), rep.Findings[0].Message)
	}
	return nil
}

// checkRoutes re-reads the route table: rbac already refuses a route
// without access, so this proves the table has no public route beyond the
// reviewed ones, and that every protected route is tenant-scoped.
func (a *app) checkRoutes(context.Context) error {
	for _, rt := range a.router.Routes() {
		if rt.Public() {
			if !reviewedPublic[rt.Pattern] {
				return fmt.Errorf("route %q is public without review", rt.Pattern)
			}
			continue
		}
		if !rt.TenantScoped {
			return fmt.Errorf("route %q is not scoped to an organisation", rt.Pattern)
		}
	}
	return nil
}

// checkStaffMFA: every member with a privileged role has enrolled.
func (a *app) checkStaffMFA(ctx context.Context, org string) error {
	var missing int
	err := allPages(func(p page) ([]user, error) { return a.store.Members(ctx, org, p) }, userPos, func(u user) error {
		acct := a.mfaAccount(u)
		if u.State != userActive {
			return nil
		}
		if required, err := a.mfa.Required(ctx, acct); err != nil || !required {
			return nil
		}
		st, err := a.mfa.Status(ctx, acct)
		if err != nil {
			return err
		}
		if !st.Enrolled {
			missing++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if missing > 0 {
		return fmt.Errorf("%d privileged members without MFA", missing)
	}
	return nil
}

// checkRequestsOnTime: no data-subject request of org is past its deadline.
func (a *app) checkRequestsOnTime(ctx context.Context, org string) error {
	late, err := a.requests.Overdue(ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, r := range late {
		if r.Org == org {
			n++
		}
	}
	if n > 0 {
		return fmt.Errorf("%d data-subject requests are overdue", n)
	}
	return nil
}

// GET /orgs/{org}/compliance/report answers the report as JSON, or as
// Markdown with "Accept: text/markdown"; 200 when every control passes, 409
// when one fails (so a monitoring probe can alert on the status alone).
func (a *app) handleComplianceReport(w http.ResponseWriter, r *http.Request) {
	rep, err := a.complianceReport(r.Context(), r.PathValue("org"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if len(rep.Failing()) > 0 {
		status = http.StatusConflict
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.Header.Get("Accept") == "text/markdown" {
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		w.WriteHeader(status)
		_ = rep.WriteMarkdown(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = rep.WriteJSON(w)
}
