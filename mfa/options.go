package mfa

import (
	"crypto/rand"
	"fmt"
	"io"
	"time"
)

// New and RequireRecent each take their own option type, so an option given
// to the one that does not read it does not compile. WithClock, which both
// read, returns Option, which is both. Every option is validated by the
// constructor it is passed to: a value outside its documented range is an
// error wrapping ErrInvalidConfig that names the option; none is ignored.
//
// Inside, an option is a func(*options), the module's one shape of option:
// a With* given a bad value records the problem in the options
// (options.invalid) rather than returning it, and configure returns the
// first problem after applying every option, so the one reported is the
// first in argument order.

// ManagerOption configures New: WithDigits, WithAttemptLimit, WithRecorder,
// WithClock.
type ManagerOption interface{ applyManager(*options) }

// RequireRecentOption configures RequireRecent: WithClock.
type RequireRecentOption interface{ applyRequireRecent(*options) }

// Option is an option both New and RequireRecent accept: WithClock.
type Option interface {
	ManagerOption
	RequireRecentOption
}

type (
	managerOpt func(*options)
	clockOpt   func(*options)
)

func (f managerOpt) applyManager(o *options)     { f(o) }
func (f clockOpt) applyManager(o *options)       { f(o) }
func (f clockOpt) applyRequireRecent(o *options) { f(o) }

type options struct {
	// alg is the HMAC hash of new enrolments: SHA-1, the only one every
	// authenticator app supports. Only this package's tests change it;
	// stored enrolments keep the algorithm they were made with.
	alg      Algorithm
	digits   int
	maxFails int
	window   time.Duration
	now      func() time.Time
	rand     io.Reader
	recorder Recorder
	err      error // the first invalid option
}

func defaults() options {
	return options{alg: SHA1, digits: 6, maxFails: 5, window: 15 * time.Minute, now: time.Now, rand: rand.Reader}
}

// configure returns the defaults with opts applied in order, or the first
// invalid option's error. A nil option is an error too, in its place in the
// order.
func configure[O any](opts []O, apply func(O, *options)) (options, error) {
	o := defaults()
	for i, opt := range opts {
		if any(opt) == nil {
			o.invalid("option %d is nil", i)
			continue
		}
		apply(opt, &o)
	}
	if o.err != nil {
		return options{}, o.err
	}
	return o, nil
}

// invalid records the first invalid option, wrapping ErrInvalidConfig;
// format starts with the option's name.
func (o *options) invalid(format string, args ...any) {
	if o.err == nil {
		o.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
}

// WithDigits sets the code length of new enrolments (New): 6 (default) or
// 8. Existing enrolments keep theirs.
func WithDigits(n int) ManagerOption {
	return managerOpt(func(o *options) {
		if n != 6 && n != 8 {
			o.invalid("WithDigits: digits must be 6 or 8, not %d", n)
			return
		}
		o.digits = n
	})
}

// WithAttemptLimit sets how many failures within window lock an account
// (New; default 5 in 15 minutes): failures from 1 to 20, window from one
// minute to 24 hours. With 3 valid steps per attempt, 5 failures per 15
// minutes give an attacker about a 1.5-in-a-million chance a day.
func WithAttemptLimit(failures int, window time.Duration) ManagerOption {
	return managerOpt(func(o *options) {
		if failures < 1 || failures > 20 || window < time.Minute || window > 24*time.Hour {
			o.invalid("WithAttemptLimit: %d failures in %s: want 1 to 20 failures in 1m0s to 24h0m0s", failures, window)
			return
		}
		o.maxFails, o.window = failures, window
	})
}

// WithClock replaces time.Now, for tests and simulations (New,
// RequireRecent). A nil now is an error.
func WithClock(now func() time.Time) Option {
	return clockOpt(func(o *options) {
		if now == nil {
			o.invalid("WithClock: nil clock")
			return
		}
		o.now = now
	})
}

// WithRecorder sends audit entries (enrolment, resets, policy changes,
// recovery code use) to r (New). Without it, Reset and SetOrgPolicy fail
// with ErrNoRecorder. A nil r is an error; to record nothing, leave the
// option out.
func WithRecorder(r Recorder) ManagerOption {
	return managerOpt(func(o *options) {
		if r == nil {
			o.invalid("WithRecorder: nil recorder")
			return
		}
		o.recorder = r
	})
}
