package compliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rampart-sdk/rampart/internal/redact"
	"github.com/rampart-sdk/rampart/internal/textclip"
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

// SecretURL is a URL that works as a credential. It prints as
// "[redacted]" with any fmt verb, in JSON and in slog, and Reveal returns
// it. It is held by the SDK's redaction type, so a JobSpec printed from an
// unexported field of a host's struct (where fmt cannot call these
// methods) does not leak it either.
type SecretURL struct{ v redact.Secret[string] }

// NewSecretURL returns u as a SecretURL; "" gives the zero SecretURL.
func NewSecretURL(u string) SecretURL {
	if u == "" {
		return SecretURL{}
	}
	return SecretURL{redact.New(u, "")}
}

// Reveal returns the URL ("" for the zero SecretURL). Call it only to send
// the ping.
func (s SecretURL) Reveal() string { return s.v.Reveal() }

// IsZero reports whether no URL is set.
func (s SecretURL) IsZero() bool { return s.Reveal() == "" }

// String returns "[redacted]".
func (s SecretURL) String() string { return s.v.String() }

// Format redacts the URL under every verb, %#v, %d and %x included.
func (s SecretURL) Format(f fmt.State, verb rune) { s.v.Format(f, verb) }

// LogValue redacts the URL in log/slog.
func (s SecretURL) LogValue() slog.Value { return s.v.LogValue() }

// MarshalJSON keeps the URL out of JSON.
func (s SecretURL) MarshalJSON() ([]byte, error) { return s.v.MarshalJSON() }

// MarshalText keeps the URL out of text encodings (encoding/xml, map keys).
func (s SecretURL) MarshalText() ([]byte, error) { return s.v.MarshalText() }

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

// EvaluateJob computes a job's status at now. It is exported so tools that
// read the heartbeat tables directly (the CLI) judge jobs exactly as the
// Monitor does.
func EvaluateJob(r JobRecord, now time.Time) JobStatus {
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

// Monitor is the dead-man switch: jobs report Start, Succeed and Fail, and a
// job whose success does not arrive in time is overdue, whether it failed,
// hung or never ran at all. Signals are also forwarded, asynchronously, to a
// healthchecks.io-compatible endpoint. It satisfies rampart's job heartbeat
// contract (privacy's sweeper reports through it).
type Monitor struct {
	store HeartbeatStore
	now   func() time.Time
	fwd   forwarder
	log   *slog.Logger

	mu    sync.Mutex
	specs map[string]JobSpec
}

// MonitorOption configures a Monitor.
type MonitorOption func(*Monitor)

// MonitorClock sets the clock (tests use a fake one).
func MonitorClock(now func() time.Time) MonitorOption { return func(m *Monitor) { m.now = now } }

// MonitorHTTPClient sets the client used to forward signals.
func MonitorHTTPClient(c *http.Client) MonitorOption { return func(m *Monitor) { m.fwd.client = c } }

// MonitorForwarding bounds forwarding: each attempt times out after timeout
// (default 10s), a failed ping is retried up to retries times (default 2),
// and at most inflight pings run at once (default 32; further pings are
// dropped and logged rather than queued without bound).
func MonitorForwarding(timeout time.Duration, retries, inflight int) MonitorOption {
	return func(m *Monitor) {
		if timeout > 0 {
			m.fwd.timeout = timeout
		}
		if retries >= 0 {
			m.fwd.retries = retries
		}
		if inflight > 0 {
			m.fwd.sem = make(chan struct{}, inflight)
		}
	}
}

// MonitorLogger sets where forwarding failures are logged (default
// slog.Default()).
func MonitorLogger(l *slog.Logger) MonitorOption { return func(m *Monitor) { m.log = l } }

// NewMonitor returns a Monitor over store.
func NewMonitor(store HeartbeatStore, opts ...MonitorOption) *Monitor {
	m := &Monitor{
		store: store,
		now:   time.Now,
		specs: map[string]JobSpec{},
		fwd: forwarder{
			client:  http.DefaultClient,
			timeout: 10 * time.Second,
			retries: 2,
			sem:     make(chan struct{}, 32),
			backoff: 200 * time.Millisecond,
		},
	}
	for _, o := range opts {
		o(m)
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.fwd.log = m.log
	return m
}

// Register declares a job. Registering again updates its spec and keeps its
// history, so hosts may register every job at startup.
func (m *Monitor) Register(ctx context.Context, spec JobSpec) error {
	if err := spec.validate(); err != nil {
		return err
	}
	if err := m.store.RegisterJob(ctx, spec, m.now().UTC()); err != nil {
		return err
	}
	m.mu.Lock()
	m.specs[spec.Name] = spec
	m.mu.Unlock()
	return nil
}

// Start records that a run of job began.
func (m *Monitor) Start(ctx context.Context, job string) error {
	return m.signal(ctx, job, SignalStart, "")
}

// Succeed records that a run of job succeeded: the only signal that resets
// the dead-man switch.
func (m *Monitor) Succeed(ctx context.Context, job string) error {
	return m.signal(ctx, job, SignalSuccess, "")
}

// maxCause bounds the stored cause of a failed run, in bytes.
const maxCause = 1000

// Fail records that a run of job failed with cause, cut to 1000 bytes on a
// character boundary.
func (m *Monitor) Fail(ctx context.Context, job string, cause error) error {
	msg := "failed"
	if cause != nil {
		msg = cause.Error()
	}
	return m.signal(ctx, job, SignalFail, msg)
}

func (m *Monitor) signal(ctx context.Context, job string, sig Signal, cause string) error {
	// A cause cut through a multi-byte character, or holding a NUL, is text
	// PostgreSQL refuses: the failure it reports would be lost.
	cause = textclip.Clip(cause, maxCause)
	if err := m.store.RecordSignal(ctx, job, sig, m.now().UTC(), cause); err != nil {
		return fmt.Errorf("compliance: job %q: %s: %w", job, sig, err)
	}
	m.mu.Lock()
	spec := m.specs[job]
	m.mu.Unlock()
	if !spec.PingURL.IsZero() {
		m.fwd.send(spec.PingURL.Reveal(), sig, cause)
	}
	return nil
}

// Wrap returns a function that runs fn between Start and Succeed (or Fail
// with fn's error). Heartbeat bookkeeping never changes fn's outcome: its
// own errors are logged, fn's error is returned as is.
func (m *Monitor) Wrap(job string, fn func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) (err error) {
		if serr := m.Start(ctx, job); serr != nil {
			m.log.Warn("compliance: heartbeat start", "job", job, "err", serr)
		}
		defer func() {
			if p := recover(); p != nil {
				_ = m.Fail(context.WithoutCancel(ctx), job, fmt.Errorf("panic: %v", p))
				panic(p)
			}
			var herr error
			if err != nil {
				herr = m.Fail(context.WithoutCancel(ctx), job, err)
			} else {
				herr = m.Succeed(context.WithoutCancel(ctx), job)
			}
			if herr != nil {
				m.log.Warn("compliance: heartbeat finish", "job", job, "err", herr)
			}
		}()
		return fn(ctx)
	}
}

// Status returns every registered job's status at the monitor's now.
func (m *Monitor) Status(ctx context.Context) ([]JobStatus, error) {
	recs, err := m.store.Jobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("compliance: jobs: %w", err)
	}
	now := m.now()
	out := make([]JobStatus, 0, len(recs))
	for _, r := range recs {
		out = append(out, EvaluateJob(r, now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Check is the matrix evidence for SlotJobsHealthy: it fails when any job is
// overdue or stuck, or when no job is registered at all (a dead-man switch
// that watches nothing proves nothing), naming the jobs.
func (m *Monitor) Check(ctx context.Context) CheckResult {
	sts, err := m.Status(ctx)
	if err != nil {
		return CheckResult{Pass: false, Details: err.Error()}
	}
	return JobsCheckResult(sts)
}

// JobCheck is evidence that one job (e.g. "privacy-sweeper") is not
// overdue; an unregistered job fails.
func (m *Monitor) JobCheck(job string) Check {
	return func(ctx context.Context) CheckResult {
		sts, err := m.Status(ctx)
		if err != nil {
			return CheckResult{Pass: false, Details: err.Error()}
		}
		for _, s := range sts {
			if s.Name == job {
				return JobsCheckResult([]JobStatus{s})
			}
		}
		return CheckResult{Pass: false, Details: fmt.Sprintf("job %q is not registered with the monitor", job)}
	}
}

// JobsCheckResult turns job statuses into a check result (shared by
// Monitor.Check and the CLI, which reads the tables directly).
func JobsCheckResult(sts []JobStatus) CheckResult {
	if len(sts) == 0 {
		return CheckResult{Pass: false, Details: "no scheduled job is registered with the monitor"}
	}
	var bad []string
	for _, s := range sts {
		if s.Overdue {
			bad = append(bad, fmt.Sprintf("%s %s (due by %s)", s.Name, s.State, s.DueBy.Format(time.RFC3339)))
		}
	}
	if len(bad) > 0 {
		return CheckResult{Pass: false, Details: fmt.Sprintf("%d of %d jobs overdue: %s", len(bad), len(sts), strings.Join(bad, "; "))}
	}
	return CheckResult{Pass: true, Details: fmt.Sprintf("%d jobs reported success on time", len(sts))}
}

// Handler serves every job's status as JSON: 200 when none is overdue, 503
// otherwise, so an uptime checker can watch the watcher. No registered job
// at all is 503 too, as in Check: a switch that watches nothing proves
// nothing.
func (m *Monitor) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sts, err := m.Status(r.Context())
		if err != nil {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusInternalServerError)
			_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": "Job status unavailable", "status": 500,
				"detail": "the job status could not be read"})
			return
		}
		overdue := 0
		for _, s := range sts {
			if s.Overdue {
				overdue++
			}
		}
		healthy := overdue == 0 && len(sts) > 0
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(struct {
			Healthy bool        `json:"healthy"`
			Overdue int         `json:"overdue"`
			Jobs    []JobStatus `json:"jobs"`
		}{healthy, overdue, sts})
	})
}

// Close waits for in-flight forwarded pings, up to ctx's deadline.
func (m *Monitor) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { m.fwd.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// forwarder sends pings in the background: bounded in time, attempts and
// concurrency, never blocking or failing the job that signalled.
type forwarder struct {
	client  *http.Client
	timeout time.Duration
	retries int
	backoff time.Duration
	sem     chan struct{}
	wg      sync.WaitGroup
	log     *slog.Logger
}

func (f *forwarder) send(base string, sig Signal, cause string) {
	target := strings.TrimRight(base, "/")
	switch sig {
	case SignalStart:
		target += "/start"
	case SignalFail:
		target += "/fail"
	}
	select {
	case f.sem <- struct{}{}:
	default:
		f.log.Warn("compliance: heartbeat ping dropped: too many in flight", "signal", string(sig))
		return
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer func() { <-f.sem }()
		defer func() {
			// A panicking http.Client (a host's RoundTripper) must not end
			// the process: the ping is lost, as after any failure.
			if r := recover(); r != nil {
				// Only its type: the value may hold the ping URL, a secret.
				f.log.Error("compliance: heartbeat ping panicked", "signal", string(sig), "panic_type", fmt.Sprintf("%T", r))
			}
		}()
		var err error
		for attempt := 0; attempt <= f.retries; attempt++ {
			if attempt > 0 {
				time.Sleep(f.backoff * time.Duration(attempt))
			}
			if err = f.ping(target, cause); err == nil {
				return
			}
		}
		f.log.Warn("compliance: heartbeat ping failed", "signal", string(sig), "attempts", f.retries+1, "err", err)
	}()
}

var errPingStatus = errors.New("unexpected status")

func (f *forwarder) ping(target, body string) error {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := f.client.Do(req)
	if err != nil {
		// The URL (which embeds the check's secret UUID) stays out of logs.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return uerr.Err
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%w %d", errPingStatus, resp.StatusCode)
	}
	return nil
}
