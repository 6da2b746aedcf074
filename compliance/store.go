package compliance

import (
	"context"
	"time"
)

// Store is everything compliance persists. Each part is its own interface so
// a component asks only for what it uses (an Auditor needs a LadderStore,
// SaveReport a ReportStore). NewMemoryStore and compliance/pgstore implement
// all of it; compliance/compliancetest checks an implementation. The job
// monitor and the 1099-NEC filer keep their own stores (compliance/monitor,
// compliance/nec1099), which compliance/pgstore implements too.
type Store interface {
	LadderStore
	ReportStore
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
