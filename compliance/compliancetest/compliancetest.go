// Package compliancetest is the conformance suite of compliance.Store (the
// escalation ladder and report history): the memory store and
// compliance/pgstore both pass it, and a host can run it
// against an adapter of its own, like testing/fstest.TestFS.
package compliancetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance"
)

var t0 = time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC)

// Option configures TestStore.
type Option func(*suite)

type suite struct {
	concurrent func(t *testing.T) compliance.Store
}

// WithConcurrentStore gives the subtest that races goroutines on one store
// (LadderConcurrentAdvance) its own factory; by default it uses newStore. A
// suite run with stores bound to a caller's transaction passes a pool-bound
// factory here: a transaction is one connection that runs one statement at
// a time, so the race needs two or more sessions, as two application
// instances have. TestAuditor races too: run it pool-bound.
func WithConcurrentStore(newStore func(t *testing.T) compliance.Store) Option {
	return func(s *suite) { s.concurrent = newStore }
}

// TestStore runs every conformance test against stores made by newStore
// (a fresh, empty store per call).
func TestStore(t *testing.T, newStore func(t *testing.T) compliance.Store, opts ...Option) {
	cfg := suite{concurrent: newStore}
	for _, o := range opts {
		o(&cfg)
	}
	t.Run("LadderAdvanceOncePerPeriod", func(t *testing.T) { testAdvanceOnce(t, newStore(t)) })
	t.Run("LadderAdvanceErrorStoresNothing", func(t *testing.T) { testAdvanceError(t, newStore(t)) })
	t.Run("LadderConcurrentAdvance", func(t *testing.T) { testAdvanceConcurrent(t, cfg.concurrent(t)) })
	t.Run("LadderTenantsIsolated", func(t *testing.T) { testTenants(t, newStore(t)) })
	t.Run("AuditRuns", func(t *testing.T) { testAuditRuns(t, newStore(t)) })
	t.Run("Reports", func(t *testing.T) { testReports(t, newStore(t)) })
}

func testAdvanceOnce(t *testing.T, s compliance.Store) {
	ctx := context.Background()
	key := compliance.MemberKey{Org: "org1", Audit: "ftc", Member: "aff-1"}
	st, err := s.MemberState(ctx, key)
	require.NoError(t, err)
	require.Equal(t, compliance.MemberState{}, st)

	calls := 0
	bump := func(prev compliance.MemberState) (compliance.MemberState, error) {
		calls++
		prev.Level++
		prev.Fails = 0
		prev.LastPeriod = "W1"
		prev.UpdatedAt = t0
		return prev, nil
	}
	j := compliance.Judgement{Period: "W1", Pass: false, Reason: "no #ad", At: t0}
	st, applied, err := s.Advance(ctx, key, j, bump)
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, 1, st.Level)

	st, applied, err = s.Advance(ctx, key, j, bump)
	require.NoError(t, err)
	require.False(t, applied, "same period twice must not apply")
	require.Equal(t, 1, st.Level)
	require.Equal(t, 1, calls)

	j2 := compliance.Judgement{Period: "W2", Pass: false, Reason: "still no #ad", At: t0.Add(7 * 24 * time.Hour)}
	st, applied, err = s.Advance(ctx, key, j2, bump)
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, 2, st.Level)

	got, err := s.MemberState(ctx, key)
	require.NoError(t, err)
	require.Equal(t, 2, got.Level)
	require.Equal(t, "W1", got.LastPeriod) // whatever fn returned
	require.True(t, got.UpdatedAt.Equal(t0))

	js, err := s.Judgements(ctx, key)
	require.NoError(t, err)
	require.Len(t, js, 2)
	require.Equal(t, "W1", js[0].Period)
	require.Equal(t, 0, js[0].FromLevel)
	require.Equal(t, 1, js[0].ToLevel)
	require.Equal(t, "no #ad", js[0].Reason)
	require.Equal(t, 1, js[1].FromLevel)
	require.Equal(t, 2, js[1].ToLevel)
	require.True(t, js[1].At.Equal(j2.At))
}

func testAdvanceError(t *testing.T, s compliance.Store) {
	ctx := context.Background()
	key := compliance.MemberKey{Org: "org1", Audit: "ftc", Member: "aff-2"}
	boom := errors.New("hook failed")
	_, applied, err := s.Advance(ctx, key, compliance.Judgement{Period: "W1", At: t0}, func(p compliance.MemberState) (compliance.MemberState, error) {
		p.Level = 3
		return p, boom
	})
	require.ErrorIs(t, err, boom)
	require.False(t, applied)
	st, err := s.MemberState(ctx, key)
	require.NoError(t, err)
	require.Equal(t, 0, st.Level)
	js, err := s.Judgements(ctx, key)
	require.NoError(t, err)
	require.Empty(t, js)
	// The period was not consumed: a retry applies.
	_, applied, err = s.Advance(ctx, key, compliance.Judgement{Period: "W1", At: t0}, func(p compliance.MemberState) (compliance.MemberState, error) {
		p.Level = 1
		return p, nil
	})
	require.NoError(t, err)
	require.True(t, applied)
}

// testAdvanceConcurrent runs the same period from many goroutines (many
// application instances): exactly one may apply.
func testAdvanceConcurrent(t *testing.T, s compliance.Store) {
	ctx := context.Background()
	key := compliance.MemberKey{Org: "org1", Audit: "ftc", Member: "aff-3"}
	var calls, applied atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := s.Advance(ctx, key, compliance.Judgement{Period: "W9", At: t0}, func(p compliance.MemberState) (compliance.MemberState, error) {
				calls.Add(1)
				p.Level++
				return p, nil
			})
			if err == nil && ok {
				applied.Add(1)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int32(1), applied.Load())
	st, err := s.MemberState(ctx, key)
	require.NoError(t, err)
	require.Equal(t, 1, st.Level)
}

func testTenants(t *testing.T, s compliance.Store) {
	ctx := context.Background()
	a := compliance.MemberKey{Org: "org-a", Audit: "ftc", Member: "m"}
	b := compliance.MemberKey{Org: "org-b", Audit: "ftc", Member: "m"}
	_, ok, err := s.Advance(ctx, a, compliance.Judgement{Period: "W1", At: t0}, func(p compliance.MemberState) (compliance.MemberState, error) {
		p.Level = 2
		return p, nil
	})
	require.NoError(t, err)
	require.True(t, ok)
	st, err := s.MemberState(ctx, b)
	require.NoError(t, err)
	require.Equal(t, 0, st.Level)
	_, ok, err = s.Advance(ctx, b, compliance.Judgement{Period: "W1", At: t0}, func(p compliance.MemberState) (compliance.MemberState, error) { return p, nil })
	require.NoError(t, err)
	require.True(t, ok, "another tenant's period is its own")
}

func testAuditRuns(t *testing.T, s compliance.Store) {
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		require.NoError(t, s.SaveAuditRun(ctx, compliance.AuditRun{Org: "o", Audit: "ftc", Period: fmt.Sprintf("W%d", i+1),
			StartedAt: t0.Add(time.Duration(i) * time.Hour), FinishedAt: t0.Add(time.Duration(i)*time.Hour + time.Minute),
			Members: 5, Passed: 3, Failed: 2, Escalated: 1, Deescalated: 1, AlreadyJudged: 0, Errors: i}))
	}
	require.NoError(t, s.SaveAuditRun(ctx, compliance.AuditRun{Org: "other", Audit: "ftc", Period: "W1", StartedAt: t0, FinishedAt: t0}))
	runs, err := s.AuditRuns(ctx, "o", "ftc")
	require.NoError(t, err)
	require.Len(t, runs, 2)
	require.Equal(t, "W1", runs[0].Period)
	require.Equal(t, 5, runs[1].Members)
	require.Equal(t, 1, runs[1].Errors)
	require.True(t, runs[1].FinishedAt.Equal(t0.Add(time.Hour+time.Minute)))
}

func testReports(t *testing.T, s compliance.Store) {
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		require.NoError(t, s.SaveReport(ctx, compliance.ReportRecord{ID: fmt.Sprintf("r%d", i), Org: "o",
			GeneratedAt: t0.Add(time.Duration(i) * time.Hour), Pass: i != 1, JSON: []byte(fmt.Sprintf(`{"n":%d}`, i))}))
	}
	require.ErrorIs(t, s.SaveReport(ctx, compliance.ReportRecord{ID: "r0", Org: "o", GeneratedAt: t0, JSON: []byte(`{}`)}), compliance.ErrConflict)
	rs, err := s.Reports(ctx, "o", 2)
	require.NoError(t, err)
	require.Len(t, rs, 2)
	require.Equal(t, "r2", rs[0].ID)
	require.Equal(t, "r1", rs[1].ID)
	require.False(t, rs[1].Pass)
	require.JSONEq(t, `{"n":1}`, string(rs[1].JSON))
	// Kept byte for byte, key order and layout included: the history shows
	// exactly what the matrix wrote.
	exact := "{\n  \"title\": \"z\",\n  \"a\": [1, 2]\n}\n"
	require.NoError(t, s.SaveReport(ctx, compliance.ReportRecord{ID: "exact", Org: "o", GeneratedAt: t0.Add(5 * time.Hour), JSON: []byte(exact)}))
	rs, err = s.Reports(ctx, "o", 1)
	require.NoError(t, err)
	require.Equal(t, exact, string(rs[0].JSON))
	rs, err = s.Reports(ctx, "elsewhere", 0)
	require.NoError(t, err)
	require.Empty(t, rs)
}

// recorder is a minimal audit recorder for the engine-level tests.
type recorder struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *recorder) Record(_ context.Context, _, _, action, _ string, _ map[string]any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[action]++
	return nil
}

func (r *recorder) count(action string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[action]
}

// TestAuditor runs the escalation engine on the store: consecutive failures
// climb the ladder one step per period, re-running a period (sequentially
// or from many goroutines at once, as several instances would) never steps
// twice, and passes step back down.
func TestAuditor(t *testing.T, newStore func(t *testing.T) compliance.Store) {
	s := newStore(t)
	ctx := context.Background()
	rec := &recorder{}
	fail := map[string]bool{"W1": true, "W2": true, "W3": false, "W4": false}
	au := compliance.Audit{
		Name:            "ftc-disclosure",
		Ladder:          []compliance.Step{{Name: "notice"}, {Name: "hold-commissions"}, {Name: "terminate", Final: true}},
		DeescalateAfter: 2,
		Population: func(context.Context, string, compliance.Period) ([]string, error) {
			return []string{"aff-1"}, nil
		},
		Judge: func(_ context.Context, _, _ string, p compliance.Period) (compliance.Verdict, error) {
			return compliance.Verdict{Pass: !fail[p.ID], Reason: p.ID}, nil
		},
	}
	a, err := compliance.NewAuditor(s, rec, compliance.WithClock(func() time.Time { return t0 }))
	require.NoError(t, err)
	level := func() int {
		st, err := s.MemberState(ctx, compliance.MemberKey{Org: "org1", Audit: au.Name, Member: "aff-1"})
		require.NoError(t, err)
		return st.Level
	}
	for i, want := range []int{1, 2, 2, 1} {
		p := compliance.Period{ID: fmt.Sprintf("W%d", i+1)}
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := a.Run(ctx, "org1", au, p)
				require.NoError(t, err)
			}()
		}
		wg.Wait()
		_, err := a.Run(ctx, "org1", au, p)
		require.NoError(t, err)
		require.Equal(t, want, level(), p.ID)
	}
	require.Equal(t, 2, rec.count(compliance.ActionAuditEscalated))
	require.Equal(t, 1, rec.count(compliance.ActionAuditDeescalated))
	js, err := s.Judgements(ctx, compliance.MemberKey{Org: "org1", Audit: au.Name, Member: "aff-1"})
	require.NoError(t, err)
	require.Len(t, js, 4)
	runs, err := s.AuditRuns(ctx, "org1", au.Name)
	require.NoError(t, err)
	require.Len(t, runs, 20)
	escalated := 0
	for _, r := range runs {
		escalated += r.Escalated
	}
	require.Equal(t, 2, escalated)
}
