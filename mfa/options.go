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

// ManagerOption configures New: WithDigits, WithAttemptLimit, WithRecorder,
// WithClock.
type ManagerOption interface{ applyManager(*options) error }

// RequireRecentOption configures RequireRecent: WithClock.
type RequireRecentOption interface{ applyRequireRecent(*options) error }

// Option is an option both New and RequireRecent accept: WithClock.
type Option interface {
	ManagerOption
	RequireRecentOption
}

type (
	managerOpt func(*options) error
	clockOpt   func(*options) error
)

func (f managerOpt) applyManager(o *options) error     { return f(o) }
func (f clockOpt) applyManager(o *options) error       { return f(o) }
func (f clockOpt) applyRequireRecent(o *options) error { return f(o) }

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
}

func defaults() options {
	return options{alg: SHA1, digits: 6, maxFails: 5, window: 15 * time.Minute, now: time.Now, rand: rand.Reader}
}

// configure returns the defaults with opts applied in order, or the first
// option's error. A nil option is an error too.
func configure[O any](opts []O, apply func(O, *options) error) (options, error) {
	o := defaults()
	for i, opt := range opts {
		if any(opt) == nil {
			return options{}, fmt.Errorf("%w: option %d is nil", ErrInvalidConfig, i)
		}
		if err := apply(opt, &o); err != nil {
			return options{}, err
		}
	}
	return o, nil
}

// WithDigits sets the code length of new enrolments (New): 6 (default) or
// 8. Existing enrolments keep theirs.
func WithDigits(n int) ManagerOption {
	return managerOpt(func(o *options) error {
		if n != 6 && n != 8 {
			return fmt.Errorf("%w: WithDigits: digits must be 6 or 8, not %d", ErrInvalidConfig, n)
		}
		o.digits = n
		return nil
	})
}

// WithAttemptLimit sets how many failures within window lock an account
// (New; default 5 in 15 minutes): failures from 1 to 20, window from one
// minute to 24 hours. With 3 valid steps per attempt, 5 failures per 15
// minutes give an attacker about a 1.5-in-a-million chance a day.
func WithAttemptLimit(failures int, window time.Duration) ManagerOption {
	return managerOpt(func(o *options) error {
		if failures < 1 || failures > 20 || window < time.Minute || window > 24*time.Hour {
			return fmt.Errorf("%w: WithAttemptLimit: %d failures in %s: want 1 to 20 failures in 1m0s to 24h0m0s", ErrInvalidConfig, failures, window)
		}
		o.maxFails, o.window = failures, window
		return nil
	})
}

// WithClock replaces time.Now, for tests and simulations (New,
// RequireRecent). A nil now is an error.
func WithClock(now func() time.Time) Option {
	return clockOpt(func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: WithClock: nil clock", ErrInvalidConfig)
		}
		o.now = now
		return nil
	})
}

// WithRecorder sends audit entries (enrolment, resets, policy changes,
// recovery code use) to r (New). Without it, Reset and SetOrgPolicy fail
// with ErrNoRecorder. A nil r is an error; to record nothing, leave the
// option out.
func WithRecorder(r Recorder) ManagerOption {
	return managerOpt(func(o *options) error {
		if r == nil {
			return fmt.Errorf("%w: WithRecorder: nil recorder", ErrInvalidConfig)
		}
		o.recorder = r
		return nil
	})
}
