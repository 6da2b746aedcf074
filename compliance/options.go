package compliance

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// MatrixOption configures NewMatrix. Options are checked when NewMatrix
// runs: a value outside the documented range makes it fail with
// ErrInvalidConfig instead of being ignored.
type MatrixOption interface{ applyMatrix(*matrixConfig) }

// AuditorOption configures NewAuditor, checked like a MatrixOption.
type AuditorOption interface{ applyAuditor(*auditorConfig) }

// Option is an option that both NewMatrix and NewAuditor accept (WithClock).
type Option interface {
	MatrixOption
	AuditorOption
}

type matrixConfig struct {
	title        string
	now          func() time.Time
	checkTimeout time.Duration
	err          error
}

type auditorConfig struct {
	now func() time.Time
	err error
}

// Check timeout bounds: below minCheckTimeout no real check can finish;
// above maxCheckTimeout a hung dependency hangs the report that would
// reveal it.
const (
	minCheckTimeout = 10 * time.Millisecond
	maxCheckTimeout = 10 * time.Minute
	maxTitleBytes   = 256
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

// keepFirst records err unless an earlier option already failed.
func keepFirst(dst *error, err error) {
	if *dst == nil {
		*dst = err
	}
}

type clockOption struct{ now func() time.Time }

func (o clockOption) applyMatrix(c *matrixConfig) {
	if o.now == nil {
		keepFirst(&c.err, invalid("WithClock: the clock must not be nil"))
		return
	}
	c.now = o.now
}

func (o clockOption) applyAuditor(c *auditorConfig) {
	if o.now == nil {
		keepFirst(&c.err, invalid("WithClock: the clock must not be nil"))
		return
	}
	c.now = o.now
}

// WithClock sets the clock (default time.Now; tests use a fixed one). For
// NewMatrix it stamps check results and reports; for NewAuditor it stamps
// judgements and runs. A nil clock is an error.
func WithClock(now func() time.Time) Option { return clockOption{now} }

type matrixOption func(*matrixConfig)

func (f matrixOption) applyMatrix(c *matrixConfig) { f(c) }

// WithCheckTimeout bounds each check of NewMatrix (default 30s, allowed
// 10ms to 10m). A check that exceeds it fails: a hung dependency must not
// hang the report that would reveal it.
func WithCheckTimeout(d time.Duration) MatrixOption {
	return matrixOption(func(c *matrixConfig) {
		if d < minCheckTimeout || d > maxCheckTimeout {
			keepFirst(&c.err, invalid("WithCheckTimeout: %s outside [%s, %s]", d, minCheckTimeout, maxCheckTimeout))
			return
		}
		c.checkTimeout = d
	})
}

// WithTitle sets the report title of NewMatrix (default "rampart compliance
// report"): 1 to 256 bytes of UTF-8 text without control characters, since
// it heads the Markdown and OSCAL documents.
func WithTitle(title string) MatrixOption {
	return matrixOption(func(c *matrixConfig) {
		bad := title == "" || len(title) > maxTitleBytes || !utf8.ValidString(title)
		for _, r := range title {
			bad = bad || unicode.IsControl(r)
		}
		if bad {
			keepFirst(&c.err, invalid("WithTitle: %d bytes: want 1 to %d bytes of UTF-8 text without control characters", len(title), maxTitleBytes))
			return
		}
		c.title = title
	})
}
