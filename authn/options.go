package authn

import "time"

// Option configures the components of this package (Passwords, APIKeys,
// MagicLinks, Sessions). Each option documents which components read it;
// the others ignore it. The zero configuration is the safe one.
type Option func(*config)

type config struct {
	clock    func() time.Time
	recorder Recorder

	// login throttle (PasswordLogin, MagicLinks, Throttle)
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

func newConfig(opts []Option) config {
	c := config{
		clock:           time.Now,
		throttle:        DefaultThrottleLimits(),
		passwordAlg:     algArgon2id,
		argon:           DefaultArgon2Params(),
		bcryptCost:      DefaultBcryptCost,
		keyCacheTTL:     time.Minute,
		keyCacheSize:    10000,
		touchInterval:   time.Minute,
		magicTTL:        15 * time.Minute,
		issueLimit:      5,
		issueWindow:     time.Hour,
		idleTimeout:     30 * time.Minute,
		absoluteTimeout: 12 * time.Hour,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// now returns the configured clock's time at the precision PostgreSQL keeps,
// so that memory and Postgres stores behave identically.
func (c *config) now() time.Time { return c.clock().UTC().Truncate(time.Microsecond) }

// WithClock replaces time.Now for every expiry, timeout and rate-limit
// decision (all components). Tests use it to move time without sleeping.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.clock = now
		}
	}
}

// WithMagicLinkTTL sets how long a magic link stays valid (MagicLinks;
// default 15 minutes). Values outside (0, 24h] are ignored.
func WithMagicLinkTTL(d time.Duration) Option {
	return func(c *config) {
		if d > 0 && d <= 24*time.Hour {
			c.magicTTL = d
		}
	}
}

// WithMagicLinkRateLimit allows at most n links per email per window
// (MagicLinks; default 5 per hour). Non-positive values are ignored.
func WithMagicLinkRateLimit(n int, window time.Duration) Option {
	return func(c *config) {
		if n > 0 && window > 0 {
			c.issueLimit, c.issueWindow = n, window
		}
	}
}

// WithSessionTimeouts sets the idle and absolute session timeouts (Sessions;
// defaults 30 minutes and 12 hours). Non-positive values are ignored.
func WithSessionTimeouts(idle, absolute time.Duration) Option {
	return func(c *config) {
		if idle > 0 {
			c.idleTimeout = idle
		}
		if absolute > 0 {
			c.absoluteTimeout = absolute
		}
	}
}

// WithLastUsedInterval sets how often at most the last-used time of one API
// key, or the last-seen time of one session, is written to the store
// (APIKeys, Sessions; default one minute). Coalescing keeps a busy key from
// turning every request into a write.
func WithLastUsedInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.touchInterval = d
		}
	}
}
