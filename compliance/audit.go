package compliance

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Recorder is rampart's audit seam. authn, mfa, rbac, privacy, compliance
// and compliance/nec1099 each declare this same method (a core package
// imports no sibling), so one *auditlog.Log, or one adapter of a host's own
// trail, records for all of them. org "" is the global chain; actor is
// "user:<id>", "apikey:<id>" or "system:<source>"; target is "<type>:<id>"
// or "". *auditlog.Log refuses an unregistered action and a malformed actor
// or target, so arguments passed in the wrong order fail instead of being
// recorded.
//
// compliance records each periodic audit's findings and escalations.
type Recorder interface {
	Record(ctx context.Context, org, actor, action, target string, payload map[string]any) error
}

// Audit actions this package records. Register them with the audit log
// (AuditActions lists them all).
const (
	// ActionAuditEscalated: a member moved up an audit's ladder.
	ActionAuditEscalated = "compliance.audit.escalated"
	// ActionAuditDeescalated: a member moved down after sustained passes.
	ActionAuditDeescalated = "compliance.audit.deescalated"
	// ActionAuditRun: an audit finished a run for a period.
	ActionAuditRun = "compliance.audit.run"
)

// AuditActions lists every action name this package records, for
// registration with the audit log at startup.
func AuditActions() []string {
	return []string{ActionAuditEscalated, ActionAuditDeescalated, ActionAuditRun}
}

// Step is one rung of an escalation ladder.
type Step struct {
	// Name is e.g. "notice", "hold-commissions", "terminate".
	Name string
	// Final steps are never de-escalated from (termination is not undone by
	// a later clean audit; a human reinstates).
	Final bool
}

// Period is one audit period, e.g. ISO week "2026-W10". Its ID is the
// idempotency key: a member is judged at most once per (audit, period).
type Period struct {
	ID    string
	Start time.Time
	End   time.Time
}

// WeekPeriod returns the ISO 8601 week containing t (in UTC), e.g.
// "2026-W10", from Monday 00:00 to the next Monday: the natural period of a
// weekly audit, stable however often the cron fires within the week.
func WeekPeriod(t time.Time) Period {
	t = t.UTC()
	year, week := t.ISOWeek()
	day := (int(t.Weekday()) + 6) % 7 // Monday = 0
	start := time.Date(t.Year(), t.Month(), t.Day()-day, 0, 0, 0, 0, time.UTC)
	return Period{ID: fmt.Sprintf("%04d-W%02d", year, week), Start: start, End: start.AddDate(0, 0, 7)}
}

// Verdict is the checker's judgement on one member for one period.
type Verdict struct {
	Pass   bool
	Reason string
}

// Transition is passed to the action hook when a member moves on the ladder.
type Transition struct {
	Org    string
	Audit  string
	Member string
	Period Period
	// From and To are levels (0 = good standing); FromStep/ToStep their
	// names ("" for level 0).
	From, To         int
	FromStep, ToStep string
	Reason           string
}

// Escalated reports whether the member moved up.
func (t Transition) Escalated() bool { return t.To > t.From }

// Audit defines a periodic audit. Population and Judge are the host's; the
// engine owns the ladder.
type Audit struct {
	// Name identifies the audit, e.g. "ftc-disclosure".
	Name string
	// Ladder is climbed one step per sustained failure, e.g. notice,
	// hold-commissions, terminate.
	Ladder []Step
	// EscalateAfter is how many consecutive failed periods move a member up
	// one step (default 1: the first flag is the first step).
	EscalateAfter int
	// DeescalateAfter is how many consecutive passing periods move a member
	// down one step (0: never de-escalate automatically).
	DeescalateAfter int
	// TargetType prefixes members in audit entries ("affiliate" gives
	// target "affiliate:<id>"); default "member".
	TargetType string
	// Population lists the members to audit for the period.
	Population func(ctx context.Context, org string, p Period) ([]string, error)
	// Judge decides whether a member complied during the period.
	Judge func(ctx context.Context, org, member string, p Period) (Verdict, error)
	// Action carries out a move (send the notice, hold commissions,
	// terminate). It runs before the move is stored: if it fails, nothing is
	// stored and a re-run of the period retries it, so it should be
	// idempotent.
	Action func(ctx context.Context, t Transition) error
}

func (a *Audit) validate() error {
	switch {
	case !isToken(a.Name):
		return fmt.Errorf("%w: name %q", ErrInvalidAudit, a.Name)
	case len(a.Ladder) == 0:
		return fmt.Errorf("%w: %s: empty ladder", ErrInvalidAudit, a.Name)
	case a.Population == nil || a.Judge == nil:
		return fmt.Errorf("%w: %s: population and judge are required", ErrInvalidAudit, a.Name)
	case a.EscalateAfter < 0 || a.DeescalateAfter < 0:
		return fmt.Errorf("%w: %s: negative threshold", ErrInvalidAudit, a.Name)
	}
	for _, s := range a.Ladder {
		if s.Name == "" {
			return fmt.Errorf("%w: %s: unnamed step", ErrInvalidAudit, a.Name)
		}
	}
	return nil
}

// Auditor runs audits against a LadderStore and records every move.
type Auditor struct {
	store LadderStore
	rec   Recorder
	now   func() time.Time
}

// NewAuditor returns an Auditor over store that records every move to rec.
// Both are required (ErrInvalidConfig): a ladder move that leaves no audit
// entry is exactly what this package exists to prevent. The only option is
// WithClock.
func NewAuditor(store LadderStore, rec Recorder, opts ...AuditorOption) (*Auditor, error) {
	if store == nil || rec == nil {
		return nil, invalid("an auditor needs a store and a recorder")
	}
	c := auditorConfig{now: time.Now}
	for _, o := range opts {
		if o == nil {
			return nil, invalid("nil option")
		}
		o.applyAuditor(&c)
	}
	if c.err != nil {
		return nil, c.err
	}
	return &Auditor{store: store, rec: rec, now: c.now}, nil
}

// Run audits every member of the population for period p. A member already
// judged for p (by an earlier run, or a concurrent one on another instance)
// is left alone, so running a period twice never escalates twice. A member
// whose judge fails is skipped and counted in Errors, to be retried by a
// re-run; Run then returns an error wrapping the first such failure after
// finishing the others.
func (a *Auditor) Run(ctx context.Context, org string, au Audit, p Period) (AuditRun, error) {
	if a.store == nil || a.rec == nil {
		return AuditRun{}, fmt.Errorf("%w: an auditor needs a store and a recorder", ErrInvalidAudit)
	}
	if err := au.validate(); err != nil {
		return AuditRun{}, err
	}
	if p.ID == "" {
		return AuditRun{}, fmt.Errorf("%w: %s: period without an id", ErrInvalidAudit, au.Name)
	}
	run := AuditRun{Org: org, Audit: au.Name, Period: p.ID, StartedAt: a.now().UTC()}
	members, err := au.Population(ctx, org, p)
	if err != nil {
		return run, fmt.Errorf("compliance: audit %s: population: %w", au.Name, err)
	}
	run.Members = len(members)
	var firstErr error
	for _, m := range members {
		if err := ctx.Err(); err != nil {
			return run, err
		}
		moved, applied, pass, err := a.judge(ctx, org, au, m, p)
		switch {
		case err != nil:
			run.Errors++
			if firstErr == nil {
				firstErr = fmt.Errorf("compliance: audit %s: member %q: %w", au.Name, m, err)
			}
			continue
		case !applied:
			run.AlreadyJudged++
			continue
		case pass:
			run.Passed++
		default:
			run.Failed++
		}
		if moved > 0 {
			run.Escalated++
		} else if moved < 0 {
			run.Deescalated++
		}
	}
	run.FinishedAt = a.now().UTC()
	if err := a.store.SaveAuditRun(ctx, run); err != nil {
		return run, fmt.Errorf("compliance: audit %s: save run: %w", au.Name, err)
	}
	if err := a.rec.Record(ctx, org, "system:compliance/"+au.Name, ActionAuditRun, "", map[string]any{
		"audit": au.Name, "period": p.ID, "members": run.Members, "passed": run.Passed, "failed": run.Failed,
		"escalated": run.Escalated, "deescalated": run.Deescalated, "already_judged": run.AlreadyJudged, "errors": run.Errors,
	}); err != nil {
		return run, fmt.Errorf("compliance: audit %s: record run: %w", au.Name, err)
	}
	return run, firstErr
}

func (a *Auditor) judge(ctx context.Context, org string, au Audit, member string, p Period) (moved int, applied, pass bool, err error) {
	key := MemberKey{Org: org, Audit: au.Name, Member: member}
	// Cheap pre-check so a re-run does not call the host's judge again; the
	// store's Advance is what actually guarantees once-per-period.
	if st, err := a.store.MemberState(ctx, key); err != nil {
		return 0, false, false, err
	} else if st.LastPeriod == p.ID {
		return 0, false, false, nil
	}
	v, err := au.Judge(ctx, org, member, p)
	if err != nil {
		return 0, false, false, err
	}
	now := a.now().UTC()
	j := Judgement{Period: p.ID, Pass: v.Pass, Reason: v.Reason, At: now}
	_, applied, err = a.store.Advance(ctx, key, j, func(prev MemberState) (MemberState, error) {
		next := nextState(au, prev, v.Pass)
		next.LastPeriod, next.UpdatedAt = p.ID, now
		if next.Level == prev.Level {
			return next, nil
		}
		t := Transition{Org: org, Audit: au.Name, Member: member, Period: p, From: prev.Level, To: next.Level,
			FromStep: stepName(au, prev.Level), ToStep: stepName(au, next.Level), Reason: v.Reason}
		if au.Action != nil {
			if err := au.Action(ctx, t); err != nil {
				return prev, fmt.Errorf("action %s: %w", t.ToStep, err)
			}
		}
		action := ActionAuditEscalated
		if !t.Escalated() {
			action = ActionAuditDeescalated
		}
		if err := a.rec.Record(ctx, org, "system:compliance/"+au.Name, action, target(au, member), map[string]any{
			"audit": au.Name, "period": p.ID, "from": t.FromStep, "to": t.ToStep,
			"from_level": t.From, "to_level": t.To, "reason": v.Reason,
		}); err != nil {
			return prev, fmt.Errorf("record: %w", err)
		}
		moved = next.Level - prev.Level
		return next, nil
	})
	if err != nil {
		return 0, false, false, err
	}
	return moved, applied, v.Pass, nil
}

// nextState applies one verdict to a member's state.
func nextState(au Audit, prev MemberState, pass bool) MemberState {
	escalateAfter := au.EscalateAfter
	if escalateAfter == 0 {
		escalateAfter = 1
	}
	next := prev
	if pass {
		next.Fails = 0
		next.Passes++
		// A level beyond the ladder (the host shortened it since) counts as
		// its last step.
		if prev.Level > 0 && au.DeescalateAfter > 0 && next.Passes >= au.DeescalateAfter && !au.Ladder[min(prev.Level, len(au.Ladder))-1].Final {
			next.Level--
			next.Passes = 0
		}
		return next
	}
	next.Passes = 0
	next.Fails++
	if next.Fails >= escalateAfter && prev.Level < len(au.Ladder) {
		next.Level++
		next.Fails = 0
	}
	return next
}

func stepName(au Audit, level int) string {
	if level <= 0 || level > len(au.Ladder) {
		return ""
	}
	return au.Ladder[level-1].Name
}

func target(au Audit, member string) string {
	if strings.Contains(member, ":") {
		return member
	}
	tt := au.TargetType
	if tt == "" {
		tt = "member"
	}
	return tt + ":" + member
}
