package authn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ThrottledError is returned by PasswordLogin.Check and MagicLinks.Issue
// (and Send) while a throttle bucket the attempt counts against is full.
// The password was not checked and no link was issued. The answer is the
// same for unknown and known accounts.
type ThrottledError struct {
	// RetryAfter is how long until every full bucket's window ends; hosts
	// put it, rounded up to the second, in a Retry-After header (see
	// WriteThrottled).
	RetryAfter time.Duration
}

// Error names the wait, rounded up to the second.
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("authn: too many login attempts, retry after %ds", retryAfterSeconds(e.RetryAfter))
}

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

func retryAfterSeconds(d time.Duration) int64 {
	s := int64(math.Ceil(d.Seconds()))
	return max(s, 1)
}

// ThrottleLimits are the login throttle's limits. Every bucket counts
// attempts in a fixed window that starts with the first attempt after the
// previous window ended; a full bucket refuses further attempts until its
// window ends. Start from DefaultThrottleLimits and change the fields you
// mean to: WithThrottleLimits refuses a zero field.
//
// The buckets and why (see the package doc, "Login throttling"):
//   - Pair: attempts at one account from one client address (IPv4 /32,
//     IPv6 /64). The strictest, so one guesser is slowed first. A
//     successful login empties it.
//   - Account: attempts at one account from anywhere, capping what a
//     distributed guesser gets. It is looser than Pair, and it does not
//     apply to a client the host vouches for (Client.KnownDevice) nor to
//     magic links, so an attacker who fills it locks the account's owner
//     out of nothing but password logins from new devices, for one window.
//   - Address: attempts from one client address at any accounts
//     (password spraying). It does not apply to a known device either, so
//     a guesser behind the same NAT as the account's owner cannot lock
//     the owner out.
//   - MagicLinkAddress: magic links requested from one address (the
//     per-email limit, WithMagicLinkRateLimit, caps them per account).
type ThrottleLimits struct {
	Pair             int           // default 5
	Account          int           // default 20
	Address          int           // default 100
	MagicLinkAddress int           // default 20
	Window           time.Duration // default 15 minutes
}

// DefaultThrottleLimits returns the defaults: per window of 15 minutes, 5
// password attempts per account and address, 20 per account, 100 per
// address, and 20 magic-link requests per address.
func DefaultThrottleLimits() ThrottleLimits {
	return ThrottleLimits{Pair: 5, Account: 20, Address: 100, MagicLinkAddress: 20, Window: 15 * time.Minute}
}

// WithThrottleLimits sets the login throttle's limits (NewPasswordLogin,
// NewMagicLinks). Throttling cannot be switched off, only loosened within
// bounds: Pair 1 to 100, Account 1 to 1000, Address 1 to 100000 (a
// carrier-grade NAT), MagicLinkAddress 1 to 10000, Window one minute to 24
// hours. A field outside its range, zero included, is an error.
func WithThrottleLimits(l ThrottleLimits) LoginOption {
	return loginOpt(func(c *config) {
		const name = "WithThrottleLimits"
		for _, f := range []struct {
			field  string
			v, max int
		}{{"Pair", l.Pair, 100}, {"Account", l.Account, 1000}, {"Address", l.Address, 100000}, {"MagicLinkAddress", l.MagicLinkAddress, 10000}} {
			if !c.checkInt(name, f.field, f.v, 1, f.max) {
				return
			}
		}
		if c.checkDuration(name, "Window", l.Window, time.Minute, 24*time.Hour) {
			c.throttle = l
		}
	})
}

// Client is who makes a login attempt, as far as the throttle cares.
type Client struct {
	// Login is the identifier the client submitted (email or user name),
	// the per-account key: pass it whether or not an account has it, so
	// that unknown accounts are throttled exactly like known ones. It is
	// trimmed and lower-cased, and stored only as a SHA-256.
	Login string
	// Addr is the client's IP address ("192.0.2.7", "2001:db8::1", or with
	// a port, as in http.Request.RemoteAddr). Behind a proxy, take it from
	// the proxy's header, and only when the peer is the proxy. IPv6
	// addresses count by their /64 (one subscriber's usual allocation).
	// Empty: no per-address limit (non-HTTP callers).
	Addr string
	// KnownDevice tells that the host recognised this client as one the
	// account's owner has logged in from before (a live session of the
	// same user, or a device cookie the host issued at a successful
	// login). The per-account and per-address limits then do not apply
	// (the per-pair one still does), so an attacker spraying the account
	// from many addresses, or sharing the owner's NAT, cannot lock its
	// owner out of a device they already use. Never set it from anything
	// the client can assert without a secret.
	KnownDevice bool
}

// ThrottleRule is one bucket an attempt counts against.
type ThrottleRule struct {
	Key    string        // bucket key, e.g. "password:account:<sha-256 hex>"
	Limit  int           // attempts allowed per window
	Window time.Duration // window length
}

// ThrottleBucket is a bucket as stored.
type ThrottleBucket struct {
	Key       string
	Count     int       // attempts counted in the window
	WindowEnd time.Time // when the window ends and the count restarts
}

// ThrottleResult is what ThrottleStore.TakeThrottle decided.
type ThrottleResult struct {
	// RetryAfter is zero when the attempt was counted; otherwise the
	// attempt was refused, nothing was counted, and it is the longest time
	// until a full bucket's window ends.
	RetryAfter time.Duration
	// Filled lists the keys (in rule order) that this attempt filled: it
	// was allowed, and the next one will be refused.
	Filled []string
}

// ThrottleStore keeps the login throttle's buckets, shared by every
// instance of the application.
type ThrottleStore interface {
	// TakeThrottle decides one attempt against every bucket of rules at
	// time at, atomically across instances: if each bucket holds fewer
	// than its Limit attempts in its current window, it counts one in each
	// (a bucket without a current window starts one, [at, at+Window), at
	// count 1) and returns a zero RetryAfter; otherwise it counts nothing
	// and returns the longest wait until a full bucket's window ends. Of
	// concurrent calls on any number of instances, no more than Limit are
	// ever counted in one window of a bucket.
	TakeThrottle(ctx context.Context, rules []ThrottleRule, at time.Time) (ThrottleResult, error)
	// ThrottleBuckets returns the buckets with these keys whose window has
	// not ended at at, sorted by key.
	ThrottleBuckets(ctx context.Context, keys []string, at time.Time) ([]ThrottleBucket, error)
	// DeleteThrottle deletes every bucket whose key starts with prefix
	// (at least one byte) and returns how many.
	DeleteThrottle(ctx context.Context, prefix string) (int, error)
	// DeleteThrottleBefore deletes buckets whose window ended before t,
	// for a periodic sweep.
	DeleteThrottleBefore(ctx context.Context, t time.Time) (int, error)
}

// LoginStore is what a login path consults besides its own records: the
// organisation's policy and the login throttle. Every Store is one.
type LoginStore interface {
	PolicyStore
	ThrottleStore
}

// Throttle keys. The login is hashed, so the table holds no emails; the
// address is kept as its prefix, so an operator can see which network is
// blocked.
const (
	throttlePasswordAccount = "password:account:"
	throttlePasswordAddress = "password:address:"
	throttlePasswordPair    = "password:pair:"
	throttleMagicAddress    = "magic:address:"
)

// ThrottleLoginKey is the form a login identifier takes in throttle keys:
// the hex SHA-256 of "authn-throttle:" and the trimmed, lower-cased login.
// PostgreSQL computes the same with
// encode(sha256(convert_to('authn-throttle:' || lower(trim(login)), 'UTF8')), 'hex').
func ThrottleLoginKey(login string) string {
	h := sha256.Sum256([]byte("authn-throttle:" + strings.ToLower(strings.TrimSpace(login))))
	return hex.EncodeToString(h[:])
}

// throttleAddressKey is the form a client address takes in throttle keys:
// an IPv4 address as itself/32, an IPv6 address as its /64, an IPv4-mapped
// IPv6 address as the IPv4 one. A port is allowed and ignored.
func throttleAddressKey(addr string) (string, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		ap, perr := netip.ParseAddrPort(addr)
		if perr != nil {
			return "", fmt.Errorf("%w: throttle: client address %q is not an IP address", ErrInvalidArgument, clip(addr, 64))
		}
		a = ap.Addr()
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32).String(), nil
	}
	return netip.PrefixFrom(a, 64).Masked().String(), nil
}

// Throttle is the login throttle's administration: what its buckets hold
// for a login or an address, and unlocking them. PasswordLogin and
// MagicLinks apply the throttle themselves.
type Throttle struct {
	store ThrottleStore
	cfg   config
}

// NewThrottle returns the throttle administration over store. Options:
// WithClock. (The limits do not matter here: a bucket's key does not
// depend on them.)
func NewThrottle(store ThrottleStore, opts ...ThrottleOption) (*Throttle, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: throttle: nil store", ErrInvalidArgument)
	}
	cfg, err := configure("throttle", opts, ThrottleOption.applyThrottle)
	if err != nil {
		return nil, err
	}
	return &Throttle{store: store, cfg: cfg}, nil
}

// Buckets returns the live buckets a password attempt by c would count
// against (the pair, account and address buckets), and the address's
// magic-link bucket, sorted by key: what an operator reads to see why a
// user is refused.
func (t *Throttle) Buckets(ctx context.Context, c Client) ([]ThrottleBucket, error) {
	rules, err := passwordRules(t.cfg.throttle, c)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(rules)+1)
	for _, r := range rules {
		keys = append(keys, r.Key)
	}
	if c.KnownDevice {
		keys = append(keys, throttlePasswordAccount+ThrottleLoginKey(c.Login))
		if c.Addr != "" {
			p, _ := throttleAddressKey(c.Addr) // parsed by passwordRules
			keys = append(keys, throttlePasswordAddress+p)
		}
	}
	if c.Addr != "" {
		p, _ := throttleAddressKey(c.Addr) // parsed by passwordRules
		keys = append(keys, throttleMagicAddress+p)
	}
	b, err := t.store.ThrottleBuckets(ctx, keys, t.cfg.now())
	if err != nil {
		return nil, fmt.Errorf("authn: throttle buckets: %w", err)
	}
	return b, nil
}

// Unlock empties every bucket of the login (its account bucket and its
// pairs with every address) and returns how many it deleted: for support,
// once the account's owner has been identified.
func (t *Throttle) Unlock(ctx context.Context, login string) (int, error) {
	if strings.TrimSpace(login) == "" {
		return 0, fmt.Errorf("%w: throttle unlock: empty login", ErrInvalidArgument)
	}
	k := ThrottleLoginKey(login)
	n := 0
	for _, prefix := range []string{throttlePasswordAccount + k, throttlePasswordPair + k + ":"} {
		d, err := t.store.DeleteThrottle(ctx, prefix)
		n += d
		if err != nil {
			return n, fmt.Errorf("authn: throttle unlock: %w", err)
		}
	}
	return n, nil
}

// UnlockAddress empties the password and magic-link buckets of a client
// address (its /64 for IPv6) and returns how many it deleted.
func (t *Throttle) UnlockAddress(ctx context.Context, addr string) (int, error) {
	p, err := throttleAddressKey(addr)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, key := range []string{throttlePasswordAddress + p, throttleMagicAddress + p} {
		d, err := t.store.DeleteThrottle(ctx, key)
		n += d
		if err != nil {
			return n, fmt.Errorf("authn: throttle unlock address: %w", err)
		}
	}
	return n, nil
}

// Sweep deletes buckets whose window has ended, returning how many; run it
// periodically to keep the table small.
func (t *Throttle) Sweep(ctx context.Context) (int, error) {
	n, err := t.store.DeleteThrottleBefore(ctx, t.cfg.now())
	if err != nil {
		return n, fmt.Errorf("authn: sweep throttle: %w", err)
	}
	return n, nil
}

// passwordRules are the buckets one password attempt counts against.
func passwordRules(l ThrottleLimits, c Client) ([]ThrottleRule, error) {
	if strings.TrimSpace(c.Login) == "" || !validID(c.Login) {
		return nil, fmt.Errorf("%w: throttle: the client's login identifier is required (UTF-8 without NUL)", ErrInvalidArgument)
	}
	k := ThrottleLoginKey(c.Login)
	var rules []ThrottleRule
	if c.Addr != "" {
		p, err := throttleAddressKey(c.Addr)
		if err != nil {
			return nil, err
		}
		rules = append(rules, ThrottleRule{Key: throttlePasswordPair + k + ":" + p, Limit: l.Pair, Window: l.Window})
		if !c.KnownDevice {
			rules = append(rules, ThrottleRule{Key: throttlePasswordAddress + p, Limit: l.Address, Window: l.Window})
		}
	}
	if !c.KnownDevice {
		rules = append(rules, ThrottleRule{Key: throttlePasswordAccount + k, Limit: l.Account, Window: l.Window})
	}
	return rules, nil
}

// throttleActor is the actor of throttle audit entries: the throttle
// itself, since the client is not authenticated.
const throttleActor = "system:authn/throttle"

// take applies rules through store, recording each bucket the attempt fills.
func take(ctx context.Context, store ThrottleStore, cfg *config, rules []ThrottleRule, org string, c Client) error {
	if len(rules) == 0 {
		return nil
	}
	res, err := store.TakeThrottle(ctx, rules, cfg.now())
	if err != nil {
		return fmt.Errorf("authn: throttle: %w", err)
	}
	if res.RetryAfter > 0 {
		return &ThrottledError{RetryAfter: res.RetryAfter}
	}
	if cfg.recorder == nil || org == "" || len(res.Filled) == 0 {
		return nil
	}
	for _, key := range res.Filled {
		scope, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(key, "password:"), "magic:"), ":")
		if strings.HasPrefix(key, "magic:") {
			scope = "magic_link_" + scope
		}
		payload := map[string]any{"scope": scope, "window_seconds": strconv.FormatInt(int64(cfg.throttle.Window/time.Second), 10)}
		if c.Addr != "" {
			p, _ := throttleAddressKey(c.Addr)
			payload["address"] = p
		}
		if err := cfg.recorder.Record(ctx, org, throttleActor, ActionLoginThrottled, "throttle:"+key, payload); err != nil {
			return fmt.Errorf("authn: throttle: audit: %w", err)
		}
	}
	return nil
}
