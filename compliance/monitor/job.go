package monitor

import (
	"fmt"
	"net/url"
	"time"
)

// JobSpec registers a scheduled job with the dead-man switch.
type JobSpec struct {
	// Name identifies the job, e.g. "privacy-sweeper".
	Name string `json:"name"`
	// Period is how often the job is expected to succeed.
	Period time.Duration `json:"period"`
	// Grace is the slack allowed on top of Period before the job is overdue.
	Grace time.Duration `json:"grace"`
	// MaxRuntime bounds one run: a job started longer ago than this without
	// finishing is stuck, hence overdue. Zero means Grace.
	MaxRuntime time.Duration `json:"max_runtime"`
	// PingURL is the job's healthchecks.io-compatible check URL (see
	// NewSecretURL); the zero SecretURL sends nothing. Signals go to PingURL+"/start", PingURL+"/fail" and PingURL.
	// Anyone holding it can ping the check, so it is redacted when printed,
	// never serialised and never stored (it is process configuration: each
	// instance registers its jobs with it at startup).
	PingURL SecretURL `json:"-"`
}

func (s JobSpec) validate() error {
	if s.Name == "" || len(s.Name) > 200 || s.Period <= 0 || s.Grace < 0 || s.MaxRuntime < 0 {
		return fmt.Errorf("%w: %q needs a name and a positive period", ErrInvalidJob, s.Name)
	}
	if !s.PingURL.IsZero() {
		u, err := url.Parse(s.PingURL.Reveal())
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("%w: %q: ping url must be an http(s) url", ErrInvalidJob, s.Name)
		}
	}
	return nil
}

func (s JobSpec) maxRuntime() time.Duration {
	if s.MaxRuntime > 0 {
		return s.MaxRuntime
	}
	return s.Grace
}

// Signal is what a job reports.
type Signal string

// Signals.
const (
	SignalStart   Signal = "start"
	SignalSuccess Signal = "success"
	SignalFail    Signal = "fail"
)

// JobRecord is a job as stored: its spec and its last signals (zero times
// when never received).
type JobRecord struct {
	JobSpec
	RegisteredAt time.Time
	LastStart    time.Time
	LastSuccess  time.Time
	LastFailure  time.Time
	// LastCause is the last failure's error text.
	LastCause string
}

// JobState is a job's health at a moment.
type JobState string

// Job states. Overdue and Stuck are both overdue: the switch fires.
const (
	JobOK      JobState = "ok"
	JobRunning JobState = "running"
	// JobFailed: the last run failed, but success is not overdue yet.
	JobFailed JobState = "failed"
	// JobOverdue: no success within period+grace (of the last success, or
	// of registration for a job that never succeeded).
	JobOverdue JobState = "overdue"
	// JobStuck: started and never finished within its maximum runtime.
	JobStuck JobState = "stuck"
)

// JobStatus is a job's state as the status handler and Check report it.
type JobStatus struct {
	Name        string     `json:"name"`
	State       JobState   `json:"state"`
	Overdue     bool       `json:"overdue"`
	Period      string     `json:"period"`
	Grace       string     `json:"grace"`
	MaxRuntime  string     `json:"max_runtime"`
	Registered  time.Time  `json:"registered_at"`
	LastStart   *time.Time `json:"last_start,omitempty"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	LastFailure *time.Time `json:"last_failure,omitempty"`
	LastCause   string     `json:"last_cause,omitempty"`
	// DueBy is when the next success is due before the job is overdue.
	DueBy time.Time `json:"due_by"`
}

// evaluateJob computes a job's status at now.
func evaluateJob(r JobRecord, now time.Time) JobStatus {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		t = t.UTC()
		return &t
	}
	st := JobStatus{
		Name: r.Name, Period: r.Period.String(), Grace: r.Grace.String(), MaxRuntime: r.maxRuntime().String(),
		Registered: r.RegisteredAt.UTC(), LastStart: opt(r.LastStart), LastSuccess: opt(r.LastSuccess),
		LastFailure: opt(r.LastFailure), LastCause: r.LastCause,
	}
	base := r.RegisteredAt
	if r.LastSuccess.After(base) {
		base = r.LastSuccess
	}
	st.DueBy = base.Add(r.Period + r.Grace).UTC()
	lastEnd := r.LastSuccess
	if r.LastFailure.After(lastEnd) {
		lastEnd = r.LastFailure
	}
	running := !r.LastStart.IsZero() && r.LastStart.After(lastEnd)
	switch {
	case running && now.Sub(r.LastStart) > r.maxRuntime():
		st.State = JobStuck
	case now.After(st.DueBy):
		st.State = JobOverdue
	case running:
		st.State = JobRunning
	case !r.LastFailure.IsZero() && r.LastFailure.After(r.LastSuccess):
		st.State = JobFailed
	default:
		st.State = JobOK
	}
	st.Overdue = st.State == JobOverdue || st.State == JobStuck
	return st
}
