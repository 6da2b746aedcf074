package nec1099

import (
	"fmt"
	"time"
)

// Option configures New. Each option is checked when New runs: a nil value
// makes New fail with ErrInvalidConfig instead of keeping the default.
type Option func(*config)

type config struct {
	thresholds *ThresholdTable
	rec        Recorder
	now        func() time.Time
	loc        *time.Location
	err        error
}

func (c *config) invalid(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
}

// WithClock sets the clock that stamps generations and records (default
// time.Now). A nil clock is an error.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now == nil {
			c.invalid("WithClock: the clock must not be nil")
			return
		}
		c.now = now
	}
}

// WithThresholds sets the per-year threshold table (default
// DefaultThresholds(); extend it with ThresholdTable.With). A nil table is
// an error.
func WithThresholds(t *ThresholdTable) Option {
	return func(c *config) {
		if t == nil {
			c.invalid("WithThresholds: the table must not be nil")
			return
		}
		c.thresholds = t
	}
}

// WithRecorder records ActionFilingsGenerated for every generation and
// reissue (tax IDs are decrypted for each). Without it nothing is recorded;
// a nil recorder is an error.
func WithRecorder(r Recorder) Option {
	return func(c *config) {
		if r == nil {
			c.invalid("WithRecorder: the recorder must not be nil")
			return
		}
		c.rec = r
	}
}

// WithLocation sets the payer's time zone, which decides the calendar year
// of a payment made around midnight on December 31 (default UTC). A nil
// location is an error.
func WithLocation(loc *time.Location) Option {
	return func(c *config) {
		if loc == nil {
			c.invalid("WithLocation: the location must not be nil")
			return
		}
		c.loc = loc
	}
}
