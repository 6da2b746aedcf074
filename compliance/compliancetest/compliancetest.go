// Package compliancetest is the conformance suite of compliance.Store: the
// memory store and compliance/pgstore both pass it, and a host can run it
// against an adapter of its own, like testing/fstest.TestFS.
package compliancetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
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
// instances have. TestAuditor and TestFiler race too: run them pool-bound.
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
	t.Run("Jobs", func(t *testing.T) { testJobs(t, newStore(t)) })
	t.Run("Reports", func(t *testing.T) { testReports(t, newStore(t)) })
	t.Run("Filings", func(t *testing.T) { testFilings(t, newStore(t)) })
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

func testJobs(t *testing.T, s compliance.Store) {
	ctx := context.Background()
	jobs, err := s.Jobs(ctx)
	require.NoError(t, err)
	require.Empty(t, jobs)
	require.ErrorIs(t, s.RecordSignal(ctx, "nope", compliance.SignalStart, t0, ""), compliance.ErrUnknownJob)

	spec := compliance.JobSpec{Name: "sweeper", Period: time.Hour, Grace: 10 * time.Minute, MaxRuntime: 5 * time.Minute}
	require.NoError(t, s.RegisterJob(ctx, spec, t0))
	spec.Grace = 20 * time.Minute
	require.NoError(t, s.RegisterJob(ctx, spec, t0.Add(time.Hour))) // keeps the first registration time
	require.NoError(t, s.RegisterJob(ctx, compliance.JobSpec{Name: "backup", Period: 24 * time.Hour}, t0))

	require.NoError(t, s.RecordSignal(ctx, "sweeper", compliance.SignalStart, t0.Add(time.Minute), ""))
	require.NoError(t, s.RecordSignal(ctx, "sweeper", compliance.SignalFail, t0.Add(2*time.Minute), "db down"))
	require.NoError(t, s.RecordSignal(ctx, "sweeper", compliance.SignalSuccess, t0.Add(3*time.Minute), ""))

	jobs, err = s.Jobs(ctx)
	require.NoError(t, err)
	require.Len(t, jobs, 2)
	require.Equal(t, "backup", jobs[0].Name)
	require.True(t, jobs[0].LastStart.IsZero())
	require.True(t, jobs[0].LastSuccess.IsZero())
	sw := jobs[1]
	require.Equal(t, "sweeper", sw.Name)
	require.Equal(t, 20*time.Minute, sw.Grace)
	require.Equal(t, 5*time.Minute, sw.MaxRuntime)
	require.True(t, sw.RegisteredAt.Equal(t0), sw.RegisteredAt)
	require.True(t, sw.LastStart.Equal(t0.Add(time.Minute)))
	require.True(t, sw.LastFailure.Equal(t0.Add(2*time.Minute)))
	require.True(t, sw.LastSuccess.Equal(t0.Add(3*time.Minute)))
	require.Equal(t, "db down", sw.LastCause)

	// A delayed signal from a slow instance must not rewind the job.
	require.NoError(t, s.RecordSignal(ctx, "sweeper", compliance.SignalSuccess, t0.Add(time.Minute), ""))
	require.NoError(t, s.RecordSignal(ctx, "sweeper", compliance.SignalFail, t0.Add(time.Minute), "stale"))
	jobs, err = s.Jobs(ctx)
	require.NoError(t, err)
	require.True(t, jobs[1].LastSuccess.Equal(t0.Add(3*time.Minute)))
	require.True(t, jobs[1].LastFailure.Equal(t0.Add(2*time.Minute)))
	require.Equal(t, "db down", jobs[1].LastCause)
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

func testFilings(t *testing.T, s compliance.Store) {
	ctx := context.Background()
	g := compliance.Generation{ID: "g1", Org: "o", TaxYear: 2026, GeneratedAt: t0, ThresholdCents: 200000, ThresholdSource: "P.L. 119-21", Records: 2, MissingTaxIDs: 1}
	recs := []compliance.FilingRecord{
		{ID: "f1", Org: "o", TaxYear: 2026, PayeeID: "p1", Seq: 1, GenerationID: "g1", AmountCents: 250000, CreatedAt: t0},
		{ID: "f2", Org: "o", TaxYear: 2026, PayeeID: "p2", Seq: 1, GenerationID: "g1", AmountCents: 300000, TaxIDMissing: true, CreatedAt: t0},
	}
	require.NoError(t, s.SaveGeneration(ctx, g, recs))
	// A racing generator that computed the same seq loses, and stores nothing.
	err := s.SaveGeneration(ctx, compliance.Generation{ID: "g-race", Org: "o", TaxYear: 2026, GeneratedAt: t0},
		[]compliance.FilingRecord{
			{ID: "f3", Org: "o", TaxYear: 2026, PayeeID: "p3", Seq: 1, GenerationID: "g-race", AmountCents: 1, CreatedAt: t0},
			{ID: "f1-dup", Org: "o", TaxYear: 2026, PayeeID: "p1", Seq: 1, GenerationID: "g-race", AmountCents: 1, CreatedAt: t0},
		})
	require.ErrorIs(t, err, compliance.ErrConflict)

	g2 := compliance.Generation{ID: "g2", Org: "o", TaxYear: 2026, GeneratedAt: t0.Add(time.Hour), ThresholdCents: 200000, Records: 1, Corrections: 1}
	require.NoError(t, s.SaveGeneration(ctx, g2, []compliance.FilingRecord{
		{ID: "f1c", Org: "o", TaxYear: 2026, PayeeID: "p1", Seq: 2, GenerationID: "g2", AmountCents: 0, Corrected: true, OriginalID: "f1", CreatedAt: t0.Add(time.Hour)},
	}))
	require.NoError(t, s.SaveGeneration(ctx, compliance.Generation{ID: "g3", Org: "other", TaxYear: 2026, GeneratedAt: t0}, nil))

	hist, err := s.FilingHistory(ctx, "o", 2026)
	require.NoError(t, err)
	require.Len(t, hist, 3)
	require.Equal(t, "f1", hist[0].ID)
	require.Equal(t, "f1c", hist[1].ID)
	require.True(t, hist[1].Corrected)
	require.Equal(t, "f1", hist[1].OriginalID)
	require.Equal(t, 2, hist[1].Seq)
	require.Equal(t, "f2", hist[2].ID)
	require.True(t, hist[2].TaxIDMissing)
	require.Equal(t, int64(300000), hist[2].AmountCents)

	gens, err := s.Generations(ctx, "o", 2026)
	require.NoError(t, err)
	require.Len(t, gens, 2)
	require.Equal(t, "g1", gens[0].ID)
	require.Equal(t, "P.L. 119-21", gens[0].ThresholdSource)
	require.Equal(t, 1, gens[0].MissingTaxIDs)
	require.Equal(t, 1, gens[1].Corrections)
	hist, err = s.FilingHistory(ctx, "o", 2025)
	require.NoError(t, err)
	require.Empty(t, hist)
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
	a := compliance.NewAuditor(s, rec, func() time.Time { return t0 })
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

type plainOpener struct{}

func (plainOpener) Open(_ string, ct []byte) ([]byte, error) { return append([]byte(nil), ct...), nil }

// TestFiler runs the 1099-NEC pipeline on the store: a reportable payee is
// filed once, an unchanged re-run files nothing, and a payment reversed
// after generation yields a corrected record that references the original,
// which stays unchanged.
func TestFiler(t *testing.T, newStore func(t *testing.T) compliance.Store) {
	s := newStore(t)
	ctx := context.Background()
	paid := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	payments := []compliance.Payment{
		{ID: "1", PayeeID: "p1", AmountCents: 1500_00, PaidAt: paid},
		{ID: "2", PayeeID: "p1", AmountCents: 600_00, PaidAt: paid},
	}
	now := time.Date(2027, 1, 20, 0, 0, 0, 0, time.UTC)
	var nowMu sync.Mutex
	f := &compliance.Filer{
		Store: s,
		Payments: func(_ context.Context, _ string, _ int, yield func(compliance.Payment) error) error {
			for _, p := range payments {
				if err := yield(p); err != nil {
					return err
				}
			}
			return nil
		},
		Payees: func(_ context.Context, _, id string) (compliance.Payee, error) {
			return compliance.Payee{ID: id, Name: "P " + id, TaxIDCiphertext: []byte("123-45-6789"), TaxIDRowID: id}, nil
		},
		TaxIDs: plainOpener{},
		Now: func() time.Time {
			nowMu.Lock()
			defer nowMu.Unlock()
			now = now.Add(time.Hour)
			return now
		},
	}
	var out strings.Builder
	res, err := f.Generate(ctx, "org1", 2026, &out)
	require.NoError(t, err)
	require.Len(t, res.Records, 1)
	orig := res.Records[0]
	require.Equal(t, int64(2100_00), orig.AmountCents)

	res, err = f.Generate(ctx, "org1", 2026, &out)
	require.NoError(t, err)
	require.Empty(t, res.Records)

	payments[1].Reversed = true
	res, err = f.Generate(ctx, "org1", 2026, &out)
	require.NoError(t, err)
	require.Len(t, res.Records, 1)
	c := res.Records[0]
	require.True(t, c.Corrected)
	require.Equal(t, orig.ID, c.OriginalID)
	require.Equal(t, int64(0), c.AmountCents)

	hist, err := s.FilingHistory(ctx, "org1", 2026)
	require.NoError(t, err)
	require.Len(t, hist, 2)
	require.Equal(t, orig.ID, hist[0].ID)
	require.Equal(t, int64(2100_00), hist[0].AmountCents)
	require.False(t, hist[0].Corrected)
	gens, err := s.Generations(ctx, "org1", 2026)
	require.NoError(t, err)
	require.Len(t, gens, 3)
	require.Contains(t, gens[0].ThresholdSource, "P.L. 119-21")

	// Two instances generate the same new year at once: exactly one files;
	// the other gets ErrConflict and nothing is filed twice.
	payments = append(payments, compliance.Payment{ID: "3", PayeeID: "p2", AmountCents: 5000_00, PaidAt: paid.AddDate(-1, 0, 0)})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.Generate(ctx, "org1", 2025, io.Discard)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			require.ErrorIs(t, err, compliance.ErrConflict)
		}
	}
	require.GreaterOrEqual(t, ok, 1)
	hist, err = s.FilingHistory(ctx, "org1", 2025)
	require.NoError(t, err)
	require.Len(t, hist, 1, "filed once")
}
