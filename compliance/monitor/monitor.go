package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/rampart-sdk/rampart/internal/textclip"
)

// Monitor is the dead-man switch: jobs report Start, Succeed and Fail, and a
// job whose success does not arrive in time is overdue, whether it failed,
// hung or never ran at all. Signals are also forwarded, asynchronously, to a
// healthchecks.io-compatible endpoint. It satisfies rampart's job heartbeat
// contract (privacy's sweeper reports through it).
type Monitor struct {
	store Store
	now   func() time.Time
	fwd   forwarder
	log   *slog.Logger

	mu    sync.Mutex
	specs map[string]JobSpec
}

// New returns a Monitor over store, configured by opts. It returns an error
// wrapping ErrInvalidConfig when store is nil or an option is out of range.
func New(store Store, opts ...Option) (*Monitor, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: a monitor needs a store", ErrInvalidConfig)
	}
	c := defaults()
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidConfig)
		}
		o(&c)
	}
	if c.err != nil {
		return nil, c.err
	}
	return &Monitor{
		store: store,
		now:   c.now,
		log:   c.log,
		specs: map[string]JobSpec{},
		fwd: forwarder{
			client:  c.client,
			timeout: c.timeout,
			retries: c.retries,
			sem:     make(chan struct{}, c.inflight),
			backoff: 200 * time.Millisecond,
			log:     c.log,
		},
	}, nil
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
		return fmt.Errorf("monitor: job %q: %s: %w", job, sig, err)
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
			m.log.Warn("monitor: heartbeat start", "job", job, "err", serr)
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
				m.log.Warn("monitor: heartbeat finish", "job", job, "err", herr)
			}
		}()
		return fn(ctx)
	}
}

// Status returns every registered job's status at the monitor's now.
func (m *Monitor) Status(ctx context.Context) ([]JobStatus, error) {
	recs, err := m.store.Jobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("monitor: jobs: %w", err)
	}
	now := m.now()
	out := make([]JobStatus, 0, len(recs))
	for _, r := range recs {
		out = append(out, evaluateJob(r, now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
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
