package mfa_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/mfa/mfatest"
)

// TestOptionsReachOnlyTheirConstructors: each With* satisfies exactly the
// option types of the constructors its doc names (New, RequireRecent), so
// passing it to the other does not compile.
func TestOptionsReachOnlyTheirConstructors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		opt                    any
		manager, requireRecent bool
	}{
		"WithDigits":       {mfa.WithDigits(6), true, false},
		"WithAttemptLimit": {mfa.WithAttemptLimit(5, time.Hour), true, false},
		"WithRecorder":     {mfa.WithRecorder(&mfatest.Recorder{}), true, false},
		"WithClock":        {mfa.WithClock(time.Now), true, true},
	} {
		_, manager := tc.opt.(mfa.ManagerOption)
		_, stepUp := tc.opt.(mfa.RequireRecentOption)
		require.Equal(t, tc.manager, manager, name)
		require.Equal(t, tc.requireRecent, stepUp, name)
	}
	var _ interface {
		mfa.ManagerOption
		mfa.RequireRecentOption
	} = mfa.Option(nil)
}

// TestFirstInvalidOptionIsReported: with several problems among a
// constructor's options (a nil option included), the error names the first
// in argument order, whatever the others are.
func TestFirstInvalidOptionIsReported(t *testing.T) {
	t.Parallel()
	s, k := mfa.NewMemoryStore(), mfatest.NewSealer()
	fresh := func(*http.Request) (string, time.Time, bool) { return "", time.Time{}, false }
	for name, tc := range map[string]struct {
		call func() error
		want string
	}{
		"invalid then nil": {func() error {
			_, err := mfa.New("Acme", s, k, mfa.WithDigits(7), nil)
			return err
		}, "mfa: invalid configuration: WithDigits: digits must be 6 or 8, not 7"},
		"nil then invalid": {func() error {
			_, err := mfa.New("Acme", s, k, mfa.WithDigits(8), nil, mfa.WithRecorder(nil))
			return err
		}, "mfa: invalid configuration: option 1 is nil"},
		"two invalid": {func() error {
			_, err := mfa.New("Acme", s, k, mfa.WithAttemptLimit(0, time.Hour), mfa.WithClock(nil))
			return err
		}, "mfa: invalid configuration: WithAttemptLimit: 0 failures in 1h0m0s: want 1 to 20 failures in 1m0s to 24h0m0s"},
		"RequireRecent nil then invalid": {func() error {
			_, err := mfa.RequireRecent(time.Minute, fresh, nil, mfa.WithClock(nil))
			return err
		}, "mfa: invalid configuration: option 0 is nil"},
	} {
		err := tc.call()
		require.ErrorIs(t, err, mfa.ErrInvalidConfig, name)
		require.EqualError(t, err, tc.want, name)
	}
}
