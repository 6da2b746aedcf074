package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/compliance/monitor"
)

// storyRecorder tells the escalations as they are recorded in the story's
// audit log; a host passes its *auditlog.Log directly.
type storyRecorder struct{ s *story }

func (r storyRecorder) Record(ctx context.Context, org, actor, action, target string, payload map[string]any) error {
	if action != compliance.ActionAuditRun {
		from := payload["from"]
		if from == "" {
			from = "good standing"
		}
		r.s.say("audit entry: %s %s by %s (%v -> %v)", action, target, actor, from, payload["to"])
	}
	return r.s.audit.Record(ctx, org, actor, action, target, payload)
}

func complianceChapter() chapter {
	return chapter{
		title: "compliance: controls backed by live evidence, escalating audits, dead-man switch",
		run: func(ctx context.Context, s *story) error {
			// A small catalog: two controls, each proved by a check slot.
			m, err := compliance.NewMatrix([]compliance.Control{
				{ID: "gdpr-art-30", Framework: "GDPR", Reference: "GDPR Art. 30", Title: "Records of processing activities",
					Required: true, Evidence: []compliance.Evidence{{Kind: compliance.EvidenceCheck, Slot: compliance.SlotRecordsOfProcessing}}},
				{ID: "gdpr-art-32-1-b", Framework: "GDPR", Reference: "GDPR Art. 32(1)(b)", Title: "MFA enforced for staff",
					Required: true, Evidence: []compliance.Evidence{{Kind: compliance.EvidenceCheck, Slot: compliance.SlotStaffMFA}}},
			}, compliance.WithClock(s.clock))
			if err != nil {
				return err
			}
			staffWithoutMFA := 1
			_ = m.Fill(compliance.SlotRecordsOfProcessing, compliance.CheckErr(func(context.Context) error { return nil }))
			_ = m.Fill(compliance.SlotStaffMFA, compliance.CheckErr(func(context.Context) error {
				if staffWithoutMFA > 0 {
					return fmt.Errorf("%d staff account(s) without MFA", staffWithoutMFA)
				}
				return nil
			}))
			r := m.Evaluate(ctx)
			var md strings.Builder
			if err := r.WriteMarkdown(&md); err != nil {
				return err
			}
			for _, line := range strings.Split(md.String(), "\n") {
				if strings.Contains(line, "**") { // the Markdown summary line
					s.say("report (markdown): %s", line)
				}
			}
			staffWithoutMFA = 0 // the admin enrols; the next report re-runs the check
			r = m.Evaluate(ctx)
			s.say("after enrolment: %s", r.SummaryLine())
			if !r.Pass {
				return errors.New("matrix should pass once MFA is enforced")
			}

			// A nightly job watched by the dead-man switch.
			mon, err := monitor.New(monitor.NewMemoryStore(), monitor.WithClock(s.clock))
			if err != nil {
				return err
			}
			if err := mon.Register(ctx, monitor.JobSpec{Name: "privacy-sweeper", Period: 24 * time.Hour, Grace: time.Hour}); err != nil {
				return err
			}
			if err := mon.Wrap("privacy-sweeper", func(context.Context) error { return nil })(ctx); err != nil {
				return err
			}
			s.say("job check: %s", mon.Check(ctx).Details)
			s.advance(26 * time.Hour)
			s.say("26h of silence: %s", mon.Check(ctx).Details)

			// The FTC disclosure audit: an affiliate with a buried disclosure
			// gets a notice (one ladder step), exactly once per week.
			au := compliance.FTCDisclosureAudit(
				func(context.Context, string, compliance.Period) ([]string, error) { return []string{"42"}, nil },
				func(context.Context, string, string, compliance.Period) ([]string, error) {
					return []string{"Loving this tent! https://shop.example/tent?aff=42 #ad"}, nil
				},
				func(_ context.Context, t compliance.Transition) error {
					s.say("action hook: affiliate %s -> %s (%s)", t.Member, t.ToStep, t.Reason)
					return nil
				})
			a, err := compliance.NewAuditor(compliance.NewMemoryStore(), storyRecorder{s}, compliance.WithClock(s.clock))
			if err != nil {
				return err
			}
			week := compliance.Period{ID: "2026-W02"}
			for i := 0; i < 2; i++ { // the cron fired twice
				run, err := a.Run(ctx, "org_acme", au, week)
				if err != nil {
					return err
				}
				s.say("run %d of %s: %d escalated, %d already judged", i+1, week.ID, run.Escalated, run.AlreadyJudged)
			}
			return nil
		},
	}
}
