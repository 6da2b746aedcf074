package compliance

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Store is everything compliance persists. Each part is its own interface so
// a component asks only for what it uses (an Auditor needs a LadderStore, a
// Monitor a HeartbeatStore). NewMemoryStore and compliance/pgstore implement
// all of it; compliance/compliancetest checks an implementation.
type Store interface {
	LadderStore
	HeartbeatStore
	ReportStore
	FilingStore
}

// MemberKey identifies one member of one audit in one organisation.
type MemberKey struct {
	Org    string
	Audit  string
	Member string
}

// MemberState is where a member stands on an audit's ladder.
type MemberState struct {
	// Level is 0 in good standing, i on the ladder's i-th step (1-based).
	Level int
	// Fails and Passes count consecutive verdicts since the last move.
	Fails  int
	Passes int
	// LastPeriod is the last period judged.
	LastPeriod string
	UpdatedAt  time.Time
}

// Judgement is one verdict on one member for one period, as stored.
type Judgement struct {
	Period    string
	Pass      bool
	Reason    string
	FromLevel int
	ToLevel   int
	At        time.Time
}

// AuditRun summarises one run of an audit for one period.
type AuditRun struct {
	Org         string
	Audit       string
	Period      string
	StartedAt   time.Time
	FinishedAt  time.Time
	Members     int
	Passed      int
	Failed      int
	Escalated   int
	Deescalated int
	// AlreadyJudged counts members whose verdict for this period was stored
	// by an earlier run and so were left alone.
	AlreadyJudged int
	// Errors counts members that could not be judged (left unjudged, so a
	// re-run retries them).
	Errors int
}

// LadderStore keeps escalation state. Advance is the heart of idempotency:
// it must run fn and store its result and the judgement atomically, and
// only if no judgement exists yet for (key, period).
type LadderStore interface {
	// Advance loads the member's state (zero if new) and, unless the member
	// was already judged for j.Period, calls fn with it and stores the state
	// fn returns together with j (FromLevel/ToLevel filled from the states).
	// It returns the state after the call and whether fn's result was
	// applied. An error from fn aborts without storing anything, so a re-run
	// retries. Concurrent Advance calls on the same key are serialised.
	Advance(ctx context.Context, key MemberKey, j Judgement, fn func(MemberState) (MemberState, error)) (MemberState, bool, error)
	// MemberState returns a member's current state (zero if never judged).
	MemberState(ctx context.Context, key MemberKey) (MemberState, error)
	// Judgements lists a member's stored judgements, oldest first.
	Judgements(ctx context.Context, key MemberKey) ([]Judgement, error)
	// SaveAuditRun appends a run summary.
	SaveAuditRun(ctx context.Context, run AuditRun) error
	// AuditRuns lists an audit's runs in an organisation, oldest first.
	AuditRuns(ctx context.Context, org, audit string) ([]AuditRun, error)
}

// HeartbeatStore keeps registered jobs and their last signals.
type HeartbeatStore interface {
	// RegisterJob creates or updates a job's spec; registeredAt is kept from
	// the first registration (so re-registering at every start does not reset
	// a never-succeeding job's clock).
	RegisterJob(ctx context.Context, spec JobSpec, at time.Time) error
	// RecordSignal stores a start, success or failure; ErrUnknownJob if the
	// job was never registered.
	RecordSignal(ctx context.Context, job string, sig Signal, at time.Time, cause string) error
	// Jobs lists every registered job by name.
	Jobs(ctx context.Context) ([]JobRecord, error)
}

// ReportRecord is a stored report.
type ReportRecord struct {
	ID          string
	Org         string
	GeneratedAt time.Time
	Pass        bool
	// JSON is the report as WriteJSON wrote it.
	JSON []byte
}

// ReportStore keeps report history, so an auditor can see what the matrix
// said on a given day.
type ReportStore interface {
	SaveReport(ctx context.Context, r ReportRecord) error
	// Reports lists an organisation's reports, newest first, at most limit
	// (all if limit <= 0).
	Reports(ctx context.Context, org string, limit int) ([]ReportRecord, error)
}

// FilingStore keeps the history of 1099 generations. Filing records are
// append-only: a correction is a new record.
type FilingStore interface {
	// SaveGeneration stores a generation and its records atomically. It
	// fails with ErrConflict when a record's (org, tax year, payee, seq)
	// already exists, i.e. another generation won a race.
	SaveGeneration(ctx context.Context, g Generation, records []FilingRecord) error
	// FilingHistory lists every record of an organisation's tax year, by
	// payee then seq.
	FilingHistory(ctx context.Context, org string, taxYear int) ([]FilingRecord, error)
	// Generations lists an organisation's generations of a tax year, oldest
	// first.
	Generations(ctx context.Context, org string, taxYear int) ([]Generation, error)
}

// memoryStore is the in-memory Store. It is unexported because its methods
// only restate the interfaces; NewMemoryStore documents it.
type memoryStore struct {
	mu          sync.Mutex
	states      map[MemberKey]MemberState
	judgements  map[MemberKey][]Judgement
	runs        []AuditRun
	jobs        map[string]JobRecord
	reports     []ReportRecord
	generations []Generation
	filings     []FilingRecord
}

// NewMemoryStore returns an empty in-memory Store for tests, examples and
// single-process hosts. Its Advance holds a store-wide lock while fn runs,
// so fn (and the action hooks it calls) must not call back into the same
// store.
func NewMemoryStore() Store {
	return &memoryStore{
		states:     map[MemberKey]MemberState{},
		judgements: map[MemberKey][]Judgement{},
		jobs:       map[string]JobRecord{},
	}
}

// Advance implements LadderStore.
func (s *memoryStore) Advance(ctx context.Context, key MemberKey, j Judgement, fn func(MemberState) (MemberState, error)) (MemberState, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return MemberState{}, false, err
	}
	prev := s.states[key]
	for _, old := range s.judgements[key] {
		if old.Period == j.Period {
			return prev, false, nil
		}
	}
	next, err := fn(prev)
	if err != nil {
		return prev, false, err
	}
	j.FromLevel, j.ToLevel = prev.Level, next.Level
	s.states[key] = next
	s.judgements[key] = append(s.judgements[key], j)
	return next, true, nil
}

// MemberState implements LadderStore.
func (s *memoryStore) MemberState(_ context.Context, key MemberKey) (MemberState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.states[key], nil
}

// Judgements implements LadderStore.
func (s *memoryStore) Judgements(_ context.Context, key MemberKey) ([]Judgement, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Judgement(nil), s.judgements[key]...), nil
}

// SaveAuditRun implements LadderStore.
func (s *memoryStore) SaveAuditRun(_ context.Context, run AuditRun) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = append(s.runs, run)
	return nil
}

// AuditRuns implements LadderStore.
func (s *memoryStore) AuditRuns(_ context.Context, org, audit string) ([]AuditRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AuditRun
	for _, r := range s.runs {
		if r.Org == org && r.Audit == audit {
			out = append(out, r)
		}
	}
	return out, nil
}

// RegisterJob implements HeartbeatStore.
func (s *memoryStore) RegisterJob(_ context.Context, spec JobSpec, at time.Time) error {
	if err := spec.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.jobs[spec.Name]
	if !ok {
		rec.RegisteredAt = at
	}
	rec.JobSpec = spec
	s.jobs[spec.Name] = rec
	return nil
}

// RecordSignal implements HeartbeatStore.
func (s *memoryStore) RecordSignal(_ context.Context, job string, sig Signal, at time.Time, cause string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.jobs[job]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownJob, job)
	}
	// Timestamps only move forward, as in pgstore: a delayed signal from a
	// slow instance cannot rewind a job.
	switch sig {
	case SignalStart:
		rec.LastStart = later(rec.LastStart, at)
	case SignalSuccess:
		rec.LastSuccess = later(rec.LastSuccess, at)
	case SignalFail:
		if !at.Before(rec.LastFailure) {
			rec.LastFailure, rec.LastCause = at, cause
		}
	default:
		return fmt.Errorf("compliance: unknown signal %q", sig)
	}
	s.jobs[job] = rec
	return nil
}

// Jobs implements HeartbeatStore.
func (s *memoryStore) Jobs(context.Context) ([]JobRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobRecord, 0, len(s.jobs))
	for _, r := range s.jobs {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// SaveReport implements ReportStore.
func (s *memoryStore) SaveReport(_ context.Context, r ReportRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, old := range s.reports {
		if old.ID == r.ID {
			return fmt.Errorf("%w: report %s exists", ErrConflict, r.ID)
		}
	}
	r.JSON = append([]byte(nil), r.JSON...)
	s.reports = append(s.reports, r)
	return nil
}

// Reports implements ReportStore.
func (s *memoryStore) Reports(_ context.Context, org string, limit int) ([]ReportRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ReportRecord
	for i := len(s.reports) - 1; i >= 0; i-- {
		if s.reports[i].Org == org {
			out = append(out, s.reports[i])
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].GeneratedAt.After(out[j].GeneratedAt) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// SaveGeneration implements FilingStore.
func (s *memoryStore) SaveGeneration(_ context.Context, g Generation, records []FilingRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	type k struct {
		org, payee string
		year, seq  int
	}
	have := map[k]bool{}
	for _, f := range s.filings {
		have[k{f.Org, f.PayeeID, f.TaxYear, f.Seq}] = true
	}
	for _, f := range records {
		kk := k{f.Org, f.PayeeID, f.TaxYear, f.Seq}
		if have[kk] {
			return fmt.Errorf("%w: payee %q tax year %d seq %d", ErrConflict, f.PayeeID, f.TaxYear, f.Seq)
		}
		have[kk] = true
	}
	s.generations = append(s.generations, g)
	s.filings = append(s.filings, records...)
	return nil
}

// FilingHistory implements FilingStore.
func (s *memoryStore) FilingHistory(_ context.Context, org string, taxYear int) ([]FilingRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []FilingRecord
	for _, f := range s.filings {
		if f.Org == org && f.TaxYear == taxYear {
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].PayeeID != out[j].PayeeID {
			return out[i].PayeeID < out[j].PayeeID
		}
		return out[i].Seq < out[j].Seq
	})
	return out, nil
}

// Generations implements FilingStore.
func (s *memoryStore) Generations(_ context.Context, org string, taxYear int) ([]Generation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Generation
	for _, g := range s.generations {
		if g.Org == org && g.TaxYear == taxYear {
			out = append(out, g)
		}
	}
	return out, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
