package authn

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOptionsReachOnlyTheirConstructors: each With* satisfies exactly the
// option types of the constructors its doc names, so passing it to any
// other constructor does not compile.
func TestOptionsReachOnlyTheirConstructors(t *testing.T) {
	t.Parallel()
	const (
		passwords = 1 << iota
		apiKeys
		magicLinks
		sessions
		passwordLogin
		throttle
	)
	for name, tc := range map[string]struct {
		opt  any
		want int
	}{
		"WithArgon2id":           {WithArgon2id(DefaultArgon2Params()), passwords},
		"WithBcrypt":             {WithBcrypt(12), passwords},
		"WithHashConcurrency":    {WithHashConcurrency(1), passwords},
		"WithAPIKeyBcrypt":       {WithAPIKeyBcrypt(time.Minute, 10), apiKeys},
		"WithMagicLinkTTL":       {WithMagicLinkTTL(time.Minute), magicLinks},
		"WithMagicLinkRateLimit": {WithMagicLinkRateLimit(1, time.Hour), magicLinks},
		"WithSessionTimeouts":    {WithSessionTimeouts(time.Minute, time.Hour), sessions},
		"WithLastUsedInterval":   {WithLastUsedInterval(time.Minute), apiKeys | sessions},
		"WithThrottleLimits":     {WithThrottleLimits(DefaultThrottleLimits()), magicLinks | passwordLogin},
		"WithRecorder":           {WithRecorder(&memRecorder{}), magicLinks | passwordLogin},
		"WithClock":              {WithClock(time.Now), apiKeys | magicLinks | sessions | passwordLogin | throttle},
	} {
		got := 0
		if _, ok := tc.opt.(PasswordsOption); ok {
			got |= passwords
		}
		if _, ok := tc.opt.(APIKeysOption); ok {
			got |= apiKeys
		}
		if _, ok := tc.opt.(MagicLinksOption); ok {
			got |= magicLinks
		}
		if _, ok := tc.opt.(SessionsOption); ok {
			got |= sessions
		}
		if _, ok := tc.opt.(PasswordLoginOption); ok {
			got |= passwordLogin
		}
		if _, ok := tc.opt.(ThrottleOption); ok {
			got |= throttle
		}
		require.Equal(t, tc.want, got, name)
	}
	// The shared interfaces embed exactly their constructors' types.
	var _ interface {
		APIKeysOption
		MagicLinksOption
		SessionsOption
		PasswordLoginOption
		ThrottleOption
	} = Option(nil)
	var _ interface {
		MagicLinksOption
		PasswordLoginOption
	} = LoginOption(nil)
	var _ interface {
		APIKeysOption
		SessionsOption
	} = LastUsedOption(nil)
}

// TestInvalidConfigIsTyped: every option outside its documented range makes
// its constructor fail with ErrInvalidConfig, naming the option; none is
// silently replaced by the default.
func TestInvalidConfigIsTyped(t *testing.T) {
	t.Parallel()
	store := NewMemoryStore()
	pw, err := NewPasswords(WithArgon2id(Argon2Params{MemoryKiB: 7 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
	require.NoError(t, err)
	lim := func(f func(*ThrottleLimits)) ThrottleLimits {
		l := DefaultThrottleLimits()
		f(&l)
		return l
	}
	for name, tc := range map[string]struct {
		option string
		call   func() error
	}{
		"timeouts inverted": {"WithSessionTimeouts", func() error {
			_, err := NewSessions(store, WithSessionTimeouts(time.Hour, time.Minute))
			return err
		}},
		"idle zero": {"WithSessionTimeouts", func() error {
			_, err := NewSessions(store, WithSessionTimeouts(0, time.Hour))
			return err
		}},
		"absolute above 30 days": {"WithSessionTimeouts", func() error {
			_, err := NewSessions(store, WithSessionTimeouts(time.Hour, 31*24*time.Hour))
			return err
		}},
		"idle above a day": {"WithSessionTimeouts", func() error {
			_, err := NewSessions(store, WithSessionTimeouts(25*time.Hour, 48*time.Hour))
			return err
		}},
		"session nil clock": {"WithClock", func() error { _, err := NewSessions(store, WithClock(nil)); return err }},
		"session nil option": {"option 0 is nil", func() error {
			_, err := NewSessions(store, nil)
			return err
		}},
		"last used zero": {"WithLastUsedInterval", func() error {
			_, err := NewSessions(store, WithLastUsedInterval(0))
			return err
		}},
		"last used above an hour": {"WithLastUsedInterval", func() error {
			_, err := NewAPIKeys(store, "atl_live", testPepper(t), WithLastUsedInterval(2*time.Hour))
			return err
		}},
		"magic link ttl two days": {"WithMagicLinkTTL", func() error {
			_, err := NewMagicLinks(store, WithMagicLinkTTL(48*time.Hour))
			return err
		}},
		"magic link ttl negative": {"WithMagicLinkTTL", func() error {
			_, err := NewMagicLinks(store, WithMagicLinkTTL(-time.Minute))
			return err
		}},
		"magic link rate zero": {"WithMagicLinkRateLimit", func() error {
			_, err := NewMagicLinks(store, WithMagicLinkRateLimit(0, time.Hour))
			return err
		}},
		"magic link window zero": {"WithMagicLinkRateLimit", func() error {
			_, err := NewMagicLinks(store, WithMagicLinkRateLimit(5, 0))
			return err
		}},
		"magic link nil recorder": {"WithRecorder", func() error {
			_, err := NewMagicLinks(store, WithRecorder(nil))
			return err
		}},
		"login nil recorder": {"WithRecorder", func() error {
			_, err := NewPasswordLogin(pw, store, WithRecorder(nil))
			return err
		}},
		"throttle zero pair": {"WithThrottleLimits", func() error {
			_, err := NewPasswordLogin(pw, store, WithThrottleLimits(ThrottleLimits{Account: 20, Address: 100, MagicLinkAddress: 20, Window: time.Minute}))
			return err
		}},
		"throttle huge account": {"WithThrottleLimits", func() error {
			_, err := NewPasswordLogin(pw, store, WithThrottleLimits(lim(func(l *ThrottleLimits) { l.Account = 1 << 30 })))
			return err
		}},
		"throttle zero window": {"WithThrottleLimits", func() error {
			_, err := NewMagicLinks(store, WithThrottleLimits(lim(func(l *ThrottleLimits) { l.Window = 0 })))
			return err
		}},
		"throttle nil clock": {"WithClock", func() error { _, err := NewThrottle(store, WithClock(nil)); return err }},
		// Each documented upper bound, one past it.
		"throttle pair above 100": {"WithThrottleLimits", func() error {
			_, err := NewPasswordLogin(pw, store, WithThrottleLimits(lim(func(l *ThrottleLimits) { l.Pair = 101 })))
			return err
		}},
		"throttle address above 100000": {"WithThrottleLimits", func() error {
			_, err := NewPasswordLogin(pw, store, WithThrottleLimits(lim(func(l *ThrottleLimits) { l.Address = 100001 })))
			return err
		}},
		"throttle magic-link address above 10000": {"WithThrottleLimits", func() error {
			_, err := NewMagicLinks(store, WithThrottleLimits(lim(func(l *ThrottleLimits) { l.MagicLinkAddress = 10001 })))
			return err
		}},
		"throttle window above a day": {"WithThrottleLimits", func() error {
			_, err := NewMagicLinks(store, WithThrottleLimits(lim(func(l *ThrottleLimits) { l.Window = 25 * time.Hour })))
			return err
		}},
		"magic link rate above 1000": {"WithMagicLinkRateLimit", func() error {
			_, err := NewMagicLinks(store, WithMagicLinkRateLimit(1001, time.Hour))
			return err
		}},
		"magic link window above a day": {"WithMagicLinkRateLimit", func() error {
			_, err := NewMagicLinks(store, WithMagicLinkRateLimit(5, 25*time.Hour))
			return err
		}},
		"api key cache ttl above an hour": {"WithAPIKeyBcrypt", func() error {
			_, err := NewAPIKeys(store, "atl_live", nil, WithAPIKeyBcrypt(61*time.Minute, 10))
			return err
		}},
		"api key cache size above a million": {"WithAPIKeyBcrypt", func() error {
			_, err := NewAPIKeys(store, "atl_live", nil, WithAPIKeyBcrypt(time.Minute, 1_000_001))
			return err
		}},
		"api key cache ttl zero": {"WithAPIKeyBcrypt", func() error {
			_, err := NewAPIKeys(store, "atl_live", nil, WithAPIKeyBcrypt(0, 10))
			return err
		}},
		"api key cache size zero": {"WithAPIKeyBcrypt", func() error {
			_, err := NewAPIKeys(store, "atl_live", nil, WithAPIKeyBcrypt(time.Minute, 0))
			return err
		}},
		"hash concurrency zero": {"WithHashConcurrency", func() error { _, err := NewPasswords(WithHashConcurrency(0)); return err }},
		"hash concurrency huge": {"WithHashConcurrency", func() error { _, err := NewPasswords(WithHashConcurrency(100000)); return err }},
		"bcrypt cost 31":        {"WithBcrypt", func() error { _, err := NewPasswords(WithBcrypt(31)); return err }},
		"bcrypt cost 10":        {"WithBcrypt", func() error { _, err := NewPasswords(WithBcrypt(10)); return err }},
		"argon2 too costly": {"WithArgon2id", func() error {
			_, err := NewPasswords(WithArgon2id(Argon2Params{MemoryKiB: 2 << 20, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}))
			return err
		}},
		"argon2 below owasp": {"WithArgon2id", func() error {
			_, err := NewPasswords(WithArgon2id(Argon2Params{MemoryKiB: 4096, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
			return err
		}},
	} {
		err := tc.call()
		require.ErrorIs(t, err, ErrInvalidConfig, name)
		require.True(t, strings.HasPrefix(err.Error(), "authn: "), name)
		require.Contains(t, err.Error(), tc.option, name)
	}

	// The bounds themselves are accepted.
	_, err = NewMagicLinks(store, WithMagicLinkTTL(time.Hour), WithMagicLinkRateLimit(1000, 24*time.Hour))
	require.NoError(t, err)
	_, err = NewSessions(store, WithSessionTimeouts(24*time.Hour, 30*24*time.Hour), WithLastUsedInterval(time.Hour))
	require.NoError(t, err)
	_, err = NewPasswordLogin(pw, store, WithThrottleLimits(ThrottleLimits{Pair: 100, Account: 1000, Address: 100000, MagicLinkAddress: 10000, Window: 24 * time.Hour}))
	require.NoError(t, err)
	_, err = NewPasswordLogin(pw, store, WithThrottleLimits(ThrottleLimits{Pair: 1, Account: 1, Address: 1, MagicLinkAddress: 1, Window: time.Minute}))
	require.NoError(t, err)
	_, err = NewPasswords(WithHashConcurrency(maxHashSlots))
	require.NoError(t, err)

	// A later option overrides an earlier one; an invalid one is never
	// skipped because a valid one follows it.
	links, err := NewMagicLinks(store, WithMagicLinkTTL(time.Hour), WithMagicLinkTTL(5*time.Minute))
	require.NoError(t, err)
	require.Equal(t, 5*time.Minute, links.cfg.magicTTL)
	_, err = NewMagicLinks(store, WithMagicLinkTTL(48*time.Hour), WithMagicLinkTTL(5*time.Minute))
	require.ErrorIs(t, err, ErrInvalidConfig)
}

// TestFirstInvalidOptionIsReported: with several problems among a
// constructor's options (a nil option included), the error names the first
// in argument order, whatever the others are.
func TestFirstInvalidOptionIsReported(t *testing.T) {
	t.Parallel()
	store := NewMemoryStore()
	for name, tc := range map[string]struct {
		call func() error
		want string
	}{
		"invalid then nil": {func() error {
			_, err := NewSessions(store, WithSessionTimeouts(0, time.Hour), nil)
			return err
		}, "authn: invalid configuration: WithSessionTimeouts: idle timeout 0s outside [1m0s, 24h0m0s]"},
		"nil then invalid": {func() error {
			_, err := NewSessions(store, WithLastUsedInterval(time.Minute), nil, WithClock(nil))
			return err
		}, "authn: invalid configuration: sessions: option 1 is nil"},
		"two invalid": {func() error {
			_, err := NewMagicLinks(store, WithMagicLinkTTL(0), WithRecorder(nil))
			return err
		}, "authn: invalid configuration: WithMagicLinkTTL: ttl 0s outside [1m0s, 1h0m0s]"},
		"two fields of one option": {func() error {
			_, err := NewMagicLinks(store, WithThrottleLimits(ThrottleLimits{Account: 20, Address: 100, MagicLinkAddress: 20}))
			return err
		}, "authn: invalid configuration: WithThrottleLimits: Pair 0 outside [1, 100]"},
		"weak then invalid": {func() error {
			_, err := NewPasswords(WithBcrypt(10), WithHashConcurrency(0))
			return err
		}, "authn: invalid configuration: WithBcrypt: cost 10 outside [12, 16] (authn: hashing parameters are too weak)"},
	} {
		err := tc.call()
		require.ErrorIs(t, err, ErrInvalidConfig, name)
		require.EqualError(t, err, tc.want, name)
	}
}
