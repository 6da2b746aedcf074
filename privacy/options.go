package privacy

import (
	"fmt"
	"time"
)

// LifecycleOption configures NewLifecycle: WithClock, WithRecorder,
// WithCooldown, WithHeartbeat.
type LifecycleOption interface{ applyLifecycle(*lifecycleConfig) }

// RequestsOption configures NewRequests: WithClock, WithRecorder,
// WithLocation, WithJurisdiction.
type RequestsOption interface{ applyRequests(*requestsConfig) }

// ConsentOption configures NewConsent: WithClock.
type ConsentOption interface{ applyConsent(*consentConfig) }

// Option is an option every constructor of the package takes (WithClock).
type Option interface {
	LifecycleOption
	RequestsOption
	ConsentOption
}

// RecordingOption is an option of the constructors whose types record audit
// entries, NewLifecycle and NewRequests (WithRecorder); Consent records
// nothing, so NewConsent does not take it.
type RecordingOption interface {
	LifecycleOption
	RequestsOption
}

// maxCooldown is the longest cooldown WithCooldown accepts: the longest
// deadline the law allows for an erasure request (GDPR Art. 12(3), one
// month extended by two; CCPA, 90 days). A longer cooldown would keep a
// soft-deleted subject's data past any deadline the host could meet.
const maxCooldown = 90 * 24 * time.Hour

// common is the configuration every constructor shares.
type common struct {
	now func() time.Time
	// err is the first invalid option, in argument order, which the
	// constructor returns: each With* checks its own argument when applied,
	// as in every package of the SDK.
	err error
}

// invalid records the first invalid option.
func (c *common) invalid(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
}

// configure applies opts in order and returns the first invalid one's
// error; a nil option is invalid too.
func configure[O any](c *common, opts []O, apply func(O)) error {
	for i, o := range opts {
		if any(o) == nil {
			c.invalid("option %d is nil", i)
			continue
		}
		apply(o)
	}
	return c.err
}

type lifecycleConfig struct {
	common
	recorder  Recorder
	cooldown  time.Duration
	heartbeat Heartbeat
}

type requestsConfig struct {
	common
	recorder     Recorder
	location     *time.Location
	jurisdiction Jurisdiction
}

type consentConfig struct{ common }

// option is an option of every constructor: it sets the configuration
// they share.
type option func(*common)

func (o option) applyLifecycle(c *lifecycleConfig) { o(&c.common) }
func (o option) applyRequests(c *requestsConfig)   { o(&c.common) }
func (o option) applyConsent(c *consentConfig)     { o(&c.common) }

// recorderOption is an option of NewLifecycle and NewRequests, which
// record; its type has no applyConsent, so not even a type assertion makes
// it a ConsentOption.
type recorderOption struct{ r Recorder }

func (o recorderOption) applyLifecycle(c *lifecycleConfig) { c.recorder = o.set(&c.common) }
func (o recorderOption) applyRequests(c *requestsConfig)   { c.recorder = o.set(&c.common) }

func (o recorderOption) set(c *common) Recorder {
	if o.r == nil {
		c.invalid("WithRecorder: nil recorder")
	}
	return o.r
}

// WithClock sets the clock of a Lifecycle, Requests or Consent (default
// time.Now); tests and the quickstart pass a story clock. A nil clock is
// an error.
func WithClock(now func() time.Time) Option {
	return option(func(c *common) {
		if now == nil {
			c.invalid("WithClock: nil clock")
			return
		}
		c.now = now
	})
}

// WithRecorder sends every transition, hold and request change of a
// Lifecycle or Requests to r (typically the audit log); without it nothing
// is recorded, unless the store records the entries itself
// (AuditingStore). A nil r is an error.
func WithRecorder(r Recorder) RecordingOption {
	return recorderOption{r}
}

// lifecycleOption is an option of NewLifecycle only.
type lifecycleOption func(*lifecycleConfig)

func (o lifecycleOption) applyLifecycle(c *lifecycleConfig) { o(c) }

// requestsOption is an option of NewRequests only.
type requestsOption func(*requestsConfig)

func (o requestsOption) applyRequests(c *requestsConfig) { o(c) }

// WithCooldown sets how long a deletion request stays restorable (default
// DefaultCooldown, 30 days). NewLifecycle refuses a cooldown that is not
// positive or is longer than 90 days, the longest deadline the law allows
// for an erasure request (GDPR Art. 12(3): one month extended by two;
// CCPA: 90 days): a longer one would keep a soft-deleted subject's data
// past any deadline the host could meet.
func WithCooldown(d time.Duration) LifecycleOption {
	return lifecycleOption(func(c *lifecycleConfig) {
		if d <= 0 || d > maxCooldown {
			c.invalid("WithCooldown(%s): the cooldown must be positive and at most 90 days", d)
			return
		}
		c.cooldown = d
	})
}

// WithHeartbeat reports a Lifecycle's sweeps to h (typically compliance's
// job monitor). A nil h is an error.
func WithHeartbeat(h Heartbeat) LifecycleOption {
	return lifecycleOption(func(c *lifecycleConfig) {
		if h == nil {
			c.invalid("WithHeartbeat: nil heartbeat")
			return
		}
		c.heartbeat = h
	})
}

// WithLocation sets the controller's time zone, in which Requests counts
// deadlines in calendar days (default UTC): a request received at 00:30 in
// Berlin on 1 February was received on 1 February there, whatever the UTC
// date. A nil location is an error.
func WithLocation(loc *time.Location) RequestsOption {
	return requestsOption(func(c *requestsConfig) {
		if loc == nil {
			c.invalid("WithLocation: nil location")
			return
		}
		c.location = loc
	})
}

// WithJurisdiction sets the jurisdiction of requests received without
// UnderJurisdiction (default GDPR). It must be Valid.
func WithJurisdiction(j Jurisdiction) RequestsOption {
	return requestsOption(func(c *requestsConfig) {
		if !j.Valid() {
			c.invalid("WithJurisdiction(%q): want one of %v", string(j), jurisdictions())
			return
		}
		c.jurisdiction = j
	})
}
