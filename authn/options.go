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

// PasswordsOption configures NewPasswords: WithArgon2id, WithBcrypt,
// WithHashConcurrency.
type PasswordsOption interface{ applyPasswords(*config) error }

// APIKeysOption configures NewAPIKeys: WithAPIKeyBcrypt,
// WithLastUsedInterval, WithClock.
type APIKeysOption interface{ applyAPIKeys(*config) error }

// MagicLinksOption configures NewMagicLinks: WithMagicLinkTTL,
// WithMagicLinkRateLimit, WithThrottleLimits, WithRecorder, WithClock.
type MagicLinksOption interface{ applyMagicLinks(*config) error }

// SessionsOption configures NewSessions: WithSessionTimeouts,
// WithLastUsedInterval, WithClock.
type SessionsOption interface{ applySessions(*config) error }

// PasswordLoginOption configures NewPasswordLogin: WithThrottleLimits,
// WithRecorder, WithClock.
type PasswordLoginOption interface{ applyPasswordLogin(*config) error }

// ThrottleOption configures NewThrottle: WithClock.
type ThrottleOption interface{ applyThrottle(*config) error }

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
	passwordsOpt  func(*config) error
	apiKeysOpt    func(*config) error
	magicLinksOpt func(*config) error
	sessionsOpt   func(*config) error
	clockOpt      func(*config) error
	loginOpt      func(*config) error
	lastUsedOpt   func(*config) error
)

func (f passwordsOpt) applyPasswords(c *config) error   { return f(c) }
func (f apiKeysOpt) applyAPIKeys(c *config) error       { return f(c) }
func (f magicLinksOpt) applyMagicLinks(c *config) error { return f(c) }
func (f sessionsOpt) applySessions(c *config) error     { return f(c) }

func (f clockOpt) applyAPIKeys(c *config) error       { return f(c) }
func (f clockOpt) applyMagicLinks(c *config) error    { return f(c) }
func (f clockOpt) applySessions(c *config) error      { return f(c) }
func (f clockOpt) applyPasswordLogin(c *config) error { return f(c) }
func (f clockOpt) applyThrottle(c *config) error      { return f(c) }

func (f loginOpt) applyMagicLinks(c *config) error    { return f(c) }
func (f loginOpt) applyPasswordLogin(c *config) error { return f(c) }

func (f lastUsedOpt) applyAPIKeys(c *config) error  { return f(c) }
func (f lastUsedOpt) applySessions(c *config) error { return f(c) }

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
// option's error. A nil option is an error too.
func configure[O any](what string, opts []O, apply func(O, *config) error) (config, error) {
	c := defaultConfig()
	for i, o := range opts {
		if any(o) == nil {
			return config{}, fmt.Errorf("%w: %s: option %d is nil", ErrInvalidConfig, what, i)
		}
		if err := apply(o, &c); err != nil {
			return config{}, err
		}
	}
	return c, nil
}

// invalid is the error of an option outside its range.
func invalid(option, format string, args ...any) error {
	return fmt.Errorf("%w: %s: "+format, append([]any{ErrInvalidConfig, option}, args...)...)
}

// checkDuration refuses d outside [lo, hi].
func checkDuration(option, what string, d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return invalid(option, "%s %s outside [%s, %s]", what, d, lo, hi)
	}
	return nil
}

// checkInt refuses n outside [lo, hi].
func checkInt(option, what string, n, lo, hi int) error {
	if n < lo || n > hi {
		return invalid(option, "%s %d outside [%d, %d]", what, n, lo, hi)
	}
	return nil
}

// now returns the configured clock's time at the precision PostgreSQL keeps,
// so that memory and Postgres stores behave identically.
func (c *config) now() time.Time { return c.clock().UTC().Truncate(time.Microsecond) }

// WithClock replaces time.Now for every expiry, timeout and rate-limit
// decision (NewAPIKeys, NewMagicLinks, NewSessions, NewPasswordLogin,
// NewThrottle). Tests use it to move time without sleeping. A nil now is
// an error.
func WithClock(now func() time.Time) Option {
	return clockOpt(func(c *config) error {
		if now == nil {
			return invalid("WithClock", "nil clock")
		}
		c.clock = now
		return nil
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
	return magicLinksOpt(func(c *config) error {
		if err := checkDuration("WithMagicLinkTTL", "ttl", d, time.Minute, maxMagicLinkTTL); err != nil {
			return err
		}
		c.magicTTL = d
		return nil
	})
}

// WithMagicLinkRateLimit allows at most n links per email per window
// (NewMagicLinks; default 5 per hour): n from 1 to 1000, window from one
// minute to 24 hours. Expired links are kept one window for the count
// (see MagicLinks.Sweep).
func WithMagicLinkRateLimit(n int, window time.Duration) MagicLinksOption {
	return magicLinksOpt(func(c *config) error {
		const name = "WithMagicLinkRateLimit"
		if err := checkInt(name, "links", n, 1, maxMagicLinkIssueLimit); err != nil {
			return err
		}
		if err := checkDuration(name, "window", window, time.Minute, maxMagicLinkIssueWindow); err != nil {
			return err
		}
		c.issueLimit, c.issueWindow = n, window
		return nil
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
	return sessionsOpt(func(c *config) error {
		const name = "WithSessionTimeouts"
		if err := checkDuration(name, "idle timeout", idle, time.Minute, maxIdleTimeout); err != nil {
			return err
		}
		if err := checkDuration(name, "absolute timeout", absolute, idle, maxAbsoluteTimeout); err != nil {
			return err
		}
		c.idleTimeout, c.absoluteTimeout = idle, absolute
		return nil
	})
}

// WithLastUsedInterval sets how often at most the last-used time of one API
// key, or the last-seen time of one session, is written to the store
// (NewAPIKeys, NewSessions; default one minute), from one second to one
// hour. Coalescing keeps a busy key from turning every request into a
// write. Sessions write at least every half idle timeout whatever the
// interval, so an active session never idles out.
func WithLastUsedInterval(d time.Duration) LastUsedOption {
	return lastUsedOpt(func(c *config) error {
		if err := checkDuration("WithLastUsedInterval", "interval", d, time.Second, time.Hour); err != nil {
			return err
		}
		c.touchInterval = d
		return nil
	})
}
