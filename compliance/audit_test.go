package compliance_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/compliance/compliancetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	t.Parallel()
	newStore := func(*testing.T) compliance.Store { return compliance.NewMemoryStore() }
	compliancetest.TestStore(t, newStore)
	compliancetest.TestAuditor(t, newStore)
}

// recorder captures audit entries, checking they use registered actions.
type recorder struct {
	mu      sync.Mutex
	entries []entry
	fail    error
}

type entry struct {
	org, actor, action, target string
	payload                    map[string]any
}

func (r *recorder) Record(_ context.Context, org, actor, action, target string, payload map[string]any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	known := false
	for _, a := range compliance.AuditActions() {
		known = known || a == action
	}
	if !known {
		return fmt.Errorf("unregistered action %q", action)
	}
	r.entries = append(r.entries, entry{org, actor, action, target, payload})
	return nil
}

func (r *recorder) actions(action string) []entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []entry
	for _, e := range r.entries {
		if e.action == action {
			out = append(out, e)
		}
	}
	return out
}

// world is a scripted affiliate program: verdicts per member per period.
type world struct {
	mu       sync.Mutex
	verdicts map[string]map[string]bool // period -> member -> pass
	judged   int
	actions  []compliance.Transition
	failHook error
}

func (w *world) audit(deescalate int) compliance.Audit {
	return compliance.Audit{
		Name:            "ftc-disclosure",
		Ladder:          []compliance.Step{{Name: "notice"}, {Name: "hold-commissions"}, {Name: "terminate", Final: true}},
		DeescalateAfter: deescalate,
		TargetType:      "affiliate",
		Population: func(_ context.Context, _ string, p compliance.Period) ([]string, error) {
			return []string{"a1", "a2"}, nil
		},
		Judge: func(_ context.Context, _, m string, p compliance.Period) (compliance.Verdict, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.judged++
			pass := w.verdicts[p.ID][m]
			return compliance.Verdict{Pass: pass, Reason: fmt.Sprintf("%s %v", p.ID, pass)}, nil
		},
		Action: func(_ context.Context, tr compliance.Transition) error {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.failHook != nil {
				return w.failHook
			}
			w.actions = append(w.actions, tr)
			return nil
		},
	}
}

func period(id string) compliance.Period { return compliance.Period{ID: id, Start: t0, End: t0} }

func level(t *testing.T, s compliance.LadderStore, member string) int {
	t.Helper()
	st, err := s.MemberState(context.Background(), compliance.MemberKey{Org: "org1", Audit: "ftc-disclosure", Member: member})
	require.NoError(t, err)
	return st.Level
}

// LadderScenario is shared with the pgstore tests through a helper below.
func TestLadderStepsOnConsecutiveFailuresAndNeverTwicePerPeriod(t *testing.T) {
	t.Parallel()
	ladderScenario(t, compliance.NewMemoryStore())
}

func ladderScenario(t *testing.T, store compliance.LadderStore) {
	ctx := context.Background()
	rec := &recorder{}
	w := &world{verdicts: map[string]map[string]bool{
		"W1": {"a1": false, "a2": true},
		"W2": {"a1": false, "a2": true},
		"W3": {"a1": false, "a2": true},
		"W4": {"a1": false, "a2": true},
	}}
	au := w.audit(0)
	a := newAuditor(t, store, rec)

	run, err := a.Run(ctx, "org1", au, period("W1"))
	require.NoError(t, err)
	require.Equal(t, 1, run.Escalated)
	require.Equal(t, 1, level(t, store, "a1"))
	require.Equal(t, 0, level(t, store, "a2"))

	// Re-running W1 (a retry, a second instance, a cron double fire).
	for i := 0; i < 3; i++ {
		run, err = a.Run(ctx, "org1", au, period("W1"))
		require.NoError(t, err)
		require.Equal(t, 0, run.Escalated)
		require.Equal(t, 2, run.AlreadyJudged)
	}
	require.Equal(t, 1, level(t, store, "a1"))

	_, err = a.Run(ctx, "org1", au, period("W2"))
	require.NoError(t, err)
	require.Equal(t, 2, level(t, store, "a1"))
	_, err = a.Run(ctx, "org1", au, period("W2"))
	require.NoError(t, err)
	require.Equal(t, 2, level(t, store, "a1"))
	_, err = a.Run(ctx, "org1", au, period("W3"))
	require.NoError(t, err)
	require.Equal(t, 3, level(t, store, "a1"))
	_, err = a.Run(ctx, "org1", au, period("W4"))
	require.NoError(t, err)
	require.Equal(t, 3, level(t, store, "a1"), "the top step is the top")

	require.Len(t, w.actions, 3)
	require.Equal(t, []string{"notice", "hold-commissions", "terminate"}, []string{w.actions[0].ToStep, w.actions[1].ToStep, w.actions[2].ToStep})
	esc := rec.actions(compliance.ActionAuditEscalated)
	require.Len(t, esc, 3)
	require.Equal(t, "affiliate:a1", esc[0].target)
	require.Equal(t, "system:compliance/ftc-disclosure", esc[0].actor)
	require.Equal(t, "org1", esc[0].org)
	require.Equal(t, "W1", esc[0].payload["period"])
	require.Len(t, rec.actions(compliance.ActionAuditRun), 8)
}

func TestLadderDeescalatesAfterPasses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := compliance.NewMemoryStore()
	rec := &recorder{}
	w := &world{verdicts: map[string]map[string]bool{
		"W1": {"a1": false}, "W2": {"a1": false}, // notice, hold
		"W3": {"a1": true}, "W4": {"a1": true}, // two passes: back to notice
		"W5": {"a1": true},  // one pass: resets nothing yet
		"W6": {"a1": false}, // a failure resets the pass count and escalates again
		"W7": {"a1": true}, "W8": {"a1": true},
		"W9": {"a1": true}, "W10": {"a1": true},
	}}
	a := newAuditor(t, store, rec)
	au := w.audit(2)
	want := []int{1, 2, 2, 1, 1, 2, 2, 1, 1, 0}
	for i, lv := range want {
		_, err := a.Run(ctx, "org1", au, period(fmt.Sprintf("W%d", i+1)))
		require.NoError(t, err)
		require.Equal(t, lv, level(t, store, "a1"), "after W%d", i+1)
	}
	de := rec.actions(compliance.ActionAuditDeescalated)
	require.Len(t, de, 3)
	require.Equal(t, "hold-commissions", de[0].payload["from"])
	require.Equal(t, "notice", de[0].payload["to"])
	require.Equal(t, "", de[2].payload["to"])
}

func TestLadderFinalStepIsNotUndone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := compliance.NewMemoryStore()
	w := &world{verdicts: map[string]map[string]bool{"W1": {}, "W2": {}, "W3": {}, "W4": {"a1": true}, "W5": {"a1": true}, "W6": {"a1": true}}}
	a := newAuditor(t, store, &recorder{})
	for i := 1; i <= 6; i++ {
		_, err := a.Run(ctx, "org1", w.audit(1), period(fmt.Sprintf("W%d", i)))
		require.NoError(t, err)
	}
	require.Equal(t, 3, level(t, store, "a1"))
}

// TestLadderShortenedSinceDoesNotPanic: a member sits on the third step and
// the host has since shortened the ladder to two (non-final) steps. A clean
// period must step them down, not index past the ladder.
func TestLadderShortenedSinceDoesNotPanic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := compliance.NewMemoryStore()
	w := &world{verdicts: map[string]map[string]bool{"W1": {}, "W2": {}, "W3": {}, "W4": {"a1": true, "a2": true}}}
	a := newAuditor(t, store, &recorder{})
	for i := 1; i <= 3; i++ {
		_, err := a.Run(ctx, "org1", w.audit(1), period(fmt.Sprintf("W%d", i)))
		require.NoError(t, err)
	}
	require.Equal(t, 3, level(t, store, "a1"))
	short := w.audit(1)
	short.Ladder = []compliance.Step{{Name: "notice"}, {Name: "hold-commissions"}}
	_, err := a.Run(ctx, "org1", short, period("W4"))
	require.NoError(t, err)
	require.Equal(t, 2, level(t, store, "a1"))
}

func TestLadderEscalateAfterSustainedFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := compliance.NewMemoryStore()
	w := &world{verdicts: map[string]map[string]bool{"W1": {}, "W2": {}, "W3": {"a1": true}, "W4": {}, "W5": {}}}
	au := w.audit(0)
	au.EscalateAfter = 2
	a := newAuditor(t, store, &recorder{})
	for i, lv := range []int{0, 1, 1, 1, 2} {
		_, err := a.Run(ctx, "org1", au, period(fmt.Sprintf("W%d", i+1)))
		require.NoError(t, err)
		require.Equal(t, lv, level(t, store, "a1"), "W%d", i+1)
	}
}

// TestLadderFailedHookIsRetried: if the host's action (or the audit record)
// fails, nothing is stored and the period re-run carries the step out.
func TestLadderFailedHookIsRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := compliance.NewMemoryStore()
	rec := &recorder{}
	w := &world{verdicts: map[string]map[string]bool{"W1": {"a2": true}}, failHook: errors.New("payments api down")}
	a := newAuditor(t, store, rec)
	run, err := a.Run(ctx, "org1", w.audit(0), period("W1"))
	require.Error(t, err)
	require.Contains(t, err.Error(), "payments api down")
	require.Equal(t, 1, run.Errors)
	require.Equal(t, 0, level(t, store, "a1"))

	w.failHook = nil
	rec.fail = errors.New("audit log unavailable")
	_, err = a.Run(ctx, "org1", w.audit(0), period("W1"))
	require.Error(t, err)
	require.Equal(t, 0, level(t, store, "a1"))

	rec.fail = nil
	run, err = a.Run(ctx, "org1", w.audit(0), period("W1"))
	require.NoError(t, err)
	require.Equal(t, 1, run.Escalated)
	require.Equal(t, 1, level(t, store, "a1"))
}

func TestAuditValidation(t *testing.T) {
	t.Parallel()
	a := newAuditor(t, compliance.NewMemoryStore(), &recorder{})
	w := &world{}
	for name, mut := range map[string]func(*compliance.Audit){
		"no name":     func(au *compliance.Audit) { au.Name = "" },
		"no ladder":   func(au *compliance.Audit) { au.Ladder = nil },
		"no judge":    func(au *compliance.Audit) { au.Judge = nil },
		"blank step":  func(au *compliance.Audit) { au.Ladder = []compliance.Step{{}} },
		"negative":    func(au *compliance.Audit) { au.DeescalateAfter = -1 },
		"no populace": func(au *compliance.Audit) { au.Population = nil },
	} {
		au := w.audit(0)
		mut(&au)
		_, err := a.Run(context.Background(), "org1", au, period("W1"))
		require.ErrorIs(t, err, compliance.ErrInvalidAudit, name)
	}
	_, err := a.Run(context.Background(), "org1", w.audit(0), compliance.Period{})
	require.ErrorIs(t, err, compliance.ErrInvalidAudit)
	_, err = compliance.NewAuditor(compliance.NewMemoryStore(), nil)
	require.ErrorIs(t, err, compliance.ErrInvalidConfig, "no recorder: moves would leave no trace")
	_, err = compliance.NewAuditor(nil, &recorder{})
	require.ErrorIs(t, err, compliance.ErrInvalidConfig, "no store")
	_, err = compliance.NewAuditor(compliance.NewMemoryStore(), &recorder{}, compliance.WithClock(nil))
	require.ErrorIs(t, err, compliance.ErrInvalidConfig, "nil clock")
	_, err = (&compliance.Auditor{}).Run(context.Background(), "org1", w.audit(0), period("W1"))
	require.ErrorIs(t, err, compliance.ErrInvalidAudit, "a zero Auditor has no recorder")
}

func newAuditor(t *testing.T, store compliance.LadderStore, rec compliance.Recorder) *compliance.Auditor {
	t.Helper()
	a, err := compliance.NewAuditor(store, rec, compliance.WithClock(fixedClock))
	require.NoError(t, err)
	return a
}

func TestAuditActionsAreNamespaced(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, a := range compliance.AuditActions() {
		require.Regexp(t, `^compliance\.[a-z]+\.[a-z]+$`, a)
		require.False(t, seen[a])
		seen[a] = true
	}
}

func TestWeekPeriod(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		at    time.Time
		id    string
		start string
	}{
		{time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), "2026-W10", "2026-03-02"},  // a Monday
		{time.Date(2026, 3, 8, 23, 59, 0, 0, time.UTC), "2026-W10", "2026-03-02"}, // the Sunday after
		{time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC), "2026-W53", "2026-12-28"},  // ISO year differs
		{time.Date(2024, 12, 30, 0, 0, 0, 0, time.UTC), "2025-W01", "2024-12-30"},
	} {
		p := compliance.WeekPeriod(tc.at)
		require.Equal(t, tc.id, p.ID)
		require.Equal(t, tc.start, p.Start.Format("2006-01-02"))
		require.Equal(t, 7*24*time.Hour, p.End.Sub(p.Start))
		require.False(t, tc.at.Before(p.Start))
		require.True(t, tc.at.Before(p.End))
	}
}
