package authn

import (
	"fmt"
	"time"
)

// Each constructor of this package takes its own option type, so an option
// passed to a constructor that does not read it does not compile (a
// magic-link TTL given to NewSessions, a recorder given to NewThrottle). An
// option several constructors read returns an interface that embeds each of
// their option types: Option (WithClock), LoginOption (WithRecorder,
// WithThrottleLimits) and LastUsedOption (WithLastUsedInterval).
//
// Every option is validated by the constructor it is passed to: a value
// outside the documented range makes the constructor return an error
// wrapping ErrInvalidConfig that names the option and the range. No value is
// ever ignored in favour of the default.
//
// Inside, an option is a func(*config), the module's one shape of option: a
// With* given a bad value records the problem in the config (config.invalid)
// rather than returning it, and configure returns the first problem after
// applying every option, so the one reported is the first in argument order.

// PasswordsOption configures NewPasswords: WithArgon2id, WithBcrypt,
// WithHashConcurrency.
type PasswordsOption interface{ applyPasswords(*config) }

// APIKeysOption configures NewAPIKeys: WithAPIKeyBcrypt,
// WithLastUsedInterval, WithClock.
type APIKeysOption interface{ applyAPIKeys(*config) }

// MagicLinksOption configures NewMagicLinks: WithMagicLinkTTL,
// WithMagicLinkRateLimit, WithThrottleLimits, WithRecorder, WithClock.
type MagicLinksOption interface{ applyMagicLinks(*config) }

// SessionsOption configures NewSessions: WithSessionTimeouts,
// WithLastUsedInterval, WithClock.
type SessionsOption interface{ applySessions(*config) }

// PasswordLoginOption configures NewPasswordLogin: WithThrottleLimits,
// WithRecorder, WithClock.
type PasswordLoginOption interface{ applyPasswordLogin(*config) }

// ThrottleOption configures NewThrottle: WithClock.
type ThrottleOption interface{ applyThrottle(*config) }

// Option is an option every constructor that reads the time accepts
// (NewAPIKeys, NewMagicLinks, NewSessions, NewPasswordLogin, NewThrottle):
// WithClock. NewPasswords keeps no time and does not take it.
type Option interface {
	APIKeysOption
	MagicLinksOption
	SessionsOption
	PasswordLoginOption
	ThrottleOption
}

// LoginOption is an option both login paths accept (NewPasswordLogin,
// NewMagicLinks): WithRecorder, WithThrottleLimits.
type LoginOption interface {
	MagicLinksOption
	PasswordLoginOption
}

// LastUsedOption is an option NewAPIKeys and NewSessions accept:
// WithLastUsedInterval.
type LastUsedOption interface {
	APIKeysOption
	SessionsOption
}

// The concrete option types, one per set of constructors. Each implements
// exactly the apply methods of the constructors that read it.
type (
	passwordsOpt  func(*config)
	apiKeysOpt    func(*config)
	magicLinksOpt func(*config)
	sessionsOpt   func(*config)
	clockOpt      func(*config)
	loginOpt      func(*config)
	lastUsedOpt   func(*config)
)

func (f passwordsOpt) applyPasswords(c *config)   { f(c) }
func (f apiKeysOpt) applyAPIKeys(c *config)       { f(c) }
func (f magicLinksOpt) applyMagicLinks(c *config) { f(c) }
func (f sessionsOpt) applySessions(c *config)     { f(c) }

func (f clockOpt) applyAPIKeys(c *config)       { f(c) }
func (f clockOpt) applyMagicLinks(c *config)    { f(c) }
func (f clockOpt) applySessions(c *config)      { f(c) }
func (f clockOpt) applyPasswordLogin(c *config) { f(c) }
func (f clockOpt) applyThrottle(c *config)      { f(c) }

func (f loginOpt) applyMagicLinks(c *config)    { f(c) }
func (f loginOpt) applyPasswordLogin(c *config) { f(c) }

func (f lastUsedOpt) applyAPIKeys(c *config)  { f(c) }
func (f lastUsedOpt) applySessions(c *config) { f(c) }

type config struct {
	clock    func() time.Time
	recorder Recorder

	// login throttle (PasswordLogin, MagicLinks)
	throttle ThrottleLimits

	// passwords
	passwordAlg  string // "argon2id" or "bcrypt"
	argon        Argon2Params
	bcryptCost   int
	hashObserver func(alg string)
	hashSlots    int // concurrent hashes; 0: GOMAXPROCS
	// testBcryptCost, set only by this package's tests, lowers bcrypt's cost
	// after validation so that race-instrumented tests stay fast.
	testBcryptCost int

	// api keys
	keyBcryptCost   int
	keyCacheTTL     time.Duration
	keyCacheSize    int
	touchInterval   time.Duration
	keyHashObserver func(alg string)

	// magic links
	magicTTL    time.Duration
	issueLimit  int
	issueWindow time.Duration

	// sessions
	idleTimeout     time.Duration
	absoluteTimeout time.Duration

	err error // the first invalid option
}

func defaultConfig() config {
	return config{
		clock:           time.Now,
		throttle:        DefaultThrottleLimits(),
		passwordAlg:     algArgon2id,
		argon:           DefaultArgon2Params(),
		bcryptCost:      defaultBcryptCost,
		keyCacheTTL:     time.Minute,
		keyCacheSize:    10000,
		touchInterval:   time.Minute,
		magicTTL:        15 * time.Minute,
		issueLimit:      5,
		issueWindow:     time.Hour,
		idleTimeout:     30 * time.Minute,
		absoluteTimeout: 12 * time.Hour,
	}
}

// configure returns the defaults with opts applied in order, or the first
// invalid option's error. A nil option is an error too, in its place in the
// order (what names the constructor in its message).
func configure[O any](what string, opts []O, apply func(O, *config)) (config, error) {
	c := defaultConfig()
	for i, o := range opts {
		if any(o) == nil {
			c.invalid(what, "option %d is nil", i)
			continue
		}
		apply(o, &c)
	}
	if c.err != nil {
		return config{}, c.err
	}
	return c, nil
}

// invalid records the first invalid option, wrapping ErrInvalidConfig and
// naming the option. format may hold a %w of its own (ErrWeakParameters).
func (c *config) invalid(option, format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: %s: "+format, append([]any{ErrInvalidConfig, option}, args...)...)
	}
}

// checkDuration records d outside [lo, hi] as invalid, and reports whether
// d is within.
func (c *config) checkDuration(option, what string, d, lo, hi time.Duration) bool {
	if d < lo || d > hi {
		c.invalid(option, "%s %s outside [%s, %s]", what, d, lo, hi)
		return false
	}
	return true
}

// checkInt records n outside [lo, hi] as invalid, and reports whether n is
// within.
func (c *config) checkInt(option, what string, n, lo, hi int) bool {
	if n < lo || n > hi {
		c.invalid(option, "%s %d outside [%d, %d]", what, n, lo, hi)
		return false
	}
	return true
}

// now returns the configured clock's time at the precision PostgreSQL keeps,
// so that memory and Postgres stores behave identically.
func (c *config) now() time.Time { return c.clock().UTC().Truncate(time.Microsecond) }

// WithClock replaces time.Now for every expiry, timeout and rate-limit
// decision (NewAPIKeys, NewMagicLinks, NewSessions, NewPasswordLogin,
// NewThrottle). Tests use it to move time without sleeping. A nil now is
// an error.
func WithClock(now func() time.Time) Option {
	return clockOpt(func(c *config) {
		if now == nil {
			c.invalid("WithClock", "nil clock")
			return
		}
		c.clock = now
	})
}

// Ranges of the magic-link options.
const (
	maxMagicLinkTTL         = time.Hour
	maxMagicLinkIssueLimit  = 1000
	maxMagicLinkIssueWindow = 24 * time.Hour
)

// WithMagicLinkTTL sets how long a magic link stays valid (NewMagicLinks;
// default 15 minutes), from one minute to one hour: a link sits in a
// mailbox, and a long-lived one is a standing credential there.
func WithMagicLinkTTL(d time.Duration) MagicLinksOption {
	return magicLinksOpt(func(c *config) {
		if c.checkDuration("WithMagicLinkTTL", "ttl", d, time.Minute, maxMagicLinkTTL) {
			c.magicTTL = d
		}
	})
}

// WithMagicLinkRateLimit allows at most n links per email per window
// (NewMagicLinks; default 5 per hour): n from 1 to 1000, window from one
// minute to 24 hours. Expired links are kept one window for the count
// (see MagicLinks.Sweep).
func WithMagicLinkRateLimit(n int, window time.Duration) MagicLinksOption {
	return magicLinksOpt(func(c *config) {
		const name = "WithMagicLinkRateLimit"
		if c.checkInt(name, "links", n, 1, maxMagicLinkIssueLimit) &&
			c.checkDuration(name, "window", window, time.Minute, maxMagicLinkIssueWindow) {
			c.issueLimit, c.issueWindow = n, window
		}
	})
}

// Ranges of the session options.
const (
	maxIdleTimeout     = 24 * time.Hour
	maxAbsoluteTimeout = 30 * 24 * time.Hour
)

// WithSessionTimeouts sets the idle and absolute session timeouts
// (NewSessions; defaults 30 minutes and 12 hours). idle is from one minute
// to 24 hours, absolute from idle to 30 days: a session is a bearer
// credential, and one that lives longer outlasts most of what a host can
// notice about it.
func WithSessionTimeouts(idle, absolute time.Duration) SessionsOption {
	return sessionsOpt(func(c *config) {
		const name = "WithSessionTimeouts"
		if c.checkDuration(name, "idle timeout", idle, time.Minute, maxIdleTimeout) &&
			c.checkDuration(name, "absolute timeout", absolute, idle, maxAbsoluteTimeout) {
			c.idleTimeout, c.absoluteTimeout = idle, absolute
		}
	})
}

// WithLastUsedInterval sets how often at most the last-used time of one API
// key, or the last-seen time of one session, is written to the store
// (NewAPIKeys, NewSessions; default one minute), from one second to one
// hour. Coalescing keeps a busy key from turning every request into a
// write. Sessions write at least every half idle timeout whatever the
// interval, so an active session never idles out.
func WithLastUsedInterval(d time.Duration) LastUsedOption {
	return lastUsedOpt(func(c *config) {
		if c.checkDuration("WithLastUsedInterval", "interval", d, time.Second, time.Hour) {
			c.touchInterval = d
		}
	})
}
