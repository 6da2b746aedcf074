package mfa_test

import (
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
