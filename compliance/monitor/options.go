package monitor

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Option configures New. Each option is checked when New runs: a value
// outside the documented range makes New fail with ErrInvalidConfig instead
// of being ignored.
type Option func(*config)

type config struct {
	now      func() time.Time
	client   *http.Client
	log      *slog.Logger
	timeout  time.Duration
	retries  int
	inflight int
	err      error // the first option out of range
}

func defaults() config {
	return config{now: time.Now, client: http.DefaultClient, log: slog.Default(),
		timeout: 10 * time.Second, retries: 2, inflight: 32}
}

// Forwarding bounds: a ping that may take longer than maxPingTimeout, be
// retried more than maxPingRetries times or run more than maxInflight at
// once is not a heartbeat but a load on the host.
const (
	minPingTimeout = 100 * time.Millisecond
	maxPingTimeout = 2 * time.Minute
	maxPingRetries = 10
	maxInflight    = 1024
)

func (c *config) invalid(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
}

// WithClock sets the clock that stamps signals and judges jobs (default
// time.Now; tests use a fake one). A nil clock is an error.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now == nil {
			c.invalid("WithClock: the clock must not be nil")
			return
		}
		c.now = now
	}
}

// WithHTTPClient sets the client used to forward signals (default
// http.DefaultClient). A nil client is an error.
func WithHTTPClient(client *http.Client) Option {
	return func(c *config) {
		if client == nil {
			c.invalid("WithHTTPClient: the client must not be nil")
			return
		}
		c.client = client
	}
}

// WithForwarding bounds forwarding: each attempt times out after timeout
// (default 10s, allowed 100ms to 2m), a failed ping is retried up to retries
// times (default 2, allowed 0 to 10), and at most inflight pings run at once
// (default 32, allowed 1 to 1024; further pings are dropped and logged
// rather than queued without bound).
func WithForwarding(timeout time.Duration, retries, inflight int) Option {
	return func(c *config) {
		switch {
		case timeout < minPingTimeout || timeout > maxPingTimeout:
			c.invalid("WithForwarding: timeout %s outside [%s, %s]", timeout, minPingTimeout, maxPingTimeout)
		case retries < 0 || retries > maxPingRetries:
			c.invalid("WithForwarding: retries %d outside [0, %d]", retries, maxPingRetries)
		case inflight < 1 || inflight > maxInflight:
			c.invalid("WithForwarding: inflight %d outside [1, %d]", inflight, maxInflight)
		default:
			c.timeout, c.retries, c.inflight = timeout, retries, inflight
		}
	}
}

// WithLogger sets where forwarding failures and heartbeat bookkeeping errors
// are logged (default slog.Default()). A nil logger is an error.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l == nil {
			c.invalid("WithLogger: the logger must not be nil")
			return
		}
		c.log = l
	}
}
