package privacy_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/privacy"
)

// Every option out of its range makes its constructor fail with
// ErrInvalidConfig, naming the option; none is silently replaced by the
// default.
func TestOptionsOutOfRange(t *testing.T) {
	t.Parallel()
	store := privacy.NewMemoryStore()
	lifecycle := func(o privacy.LifecycleOption) error { _, err := privacy.NewLifecycle(store, o); return err }
	requests := func(o privacy.RequestsOption) error { _, err := privacy.NewRequests(store, o); return err }
	consent := func(o privacy.ConsentOption) error { _, err := privacy.NewConsent(store, o); return err }
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"WithCooldown", lifecycle(privacy.WithCooldown(0))},
		{"WithCooldown", lifecycle(privacy.WithCooldown(-time.Hour))},
		{"WithCooldown", lifecycle(privacy.WithCooldown(91 * day))},
		{"WithHeartbeat", lifecycle(privacy.WithHeartbeat(nil))},
		{"WithRecorder", lifecycle(privacy.WithRecorder(nil))},
		{"WithClock", lifecycle(privacy.WithClock(nil))},
		{"WithRecorder", requests(privacy.WithRecorder(nil))},
		{"WithClock", requests(privacy.WithClock(nil))},
		{"WithLocation", requests(privacy.WithLocation(nil))},
		{"WithJurisdiction", requests(privacy.WithJurisdiction("hipaa"))},
		{"WithJurisdiction", requests(privacy.WithJurisdiction(""))},
		{"WithClock", consent(privacy.WithClock(nil))},
		{"option 0 is nil", lifecycle(nil)},
		{"option 0 is nil", requests(nil)},
		{"option 0 is nil", consent(nil)},
	} {
		require.ErrorIs(t, tc.err, privacy.ErrInvalidConfig, tc.name)
		require.Contains(t, tc.err.Error(), tc.name)
	}
	_, err := privacy.NewLifecycle(nil)
	require.ErrorIs(t, err, privacy.ErrInvalidConfig, "nil store")
	_, err = privacy.NewRequests(nil)
	require.ErrorIs(t, err, privacy.ErrInvalidConfig, "nil store")
	_, err = privacy.NewConsent(nil)
	require.ErrorIs(t, err, privacy.ErrInvalidConfig, "nil store")

	// The bounds themselves are accepted.
	for _, d := range []time.Duration{time.Nanosecond, 90 * day} {
		require.NoError(t, lifecycle(privacy.WithCooldown(d)))
	}
	for _, j := range privacy.Jurisdictions() {
		require.NoError(t, requests(privacy.WithJurisdiction(j)))
	}

	// Of several bad options the first, in argument order, is reported,
	// as by every constructor of the SDK.
	_, err = privacy.NewLifecycle(store, privacy.WithCooldown(0), privacy.WithClock(nil))
	require.ErrorIs(t, err, privacy.ErrInvalidConfig)
	require.Contains(t, err.Error(), "WithCooldown")
	require.NotContains(t, err.Error(), "WithClock")
	_, err = privacy.NewRequests(store, privacy.WithClock(nil), nil, privacy.WithLocation(nil))
	require.Contains(t, err.Error(), "WithClock")
	require.NotContains(t, err.Error(), "WithLocation")
	_, err = privacy.NewConsent(store, nil, privacy.WithClock(nil))
	require.Contains(t, err.Error(), "option 0 is nil")
	require.NotContains(t, err.Error(), "WithClock")
}

// WithRecorder applies to the constructors that record, and to no other:
// its value is no ConsentOption even by type assertion.
func TestRecorderIsNoConsentOption(t *testing.T) {
	t.Parallel()
	var o any = privacy.WithRecorder(&recorder{})
	_, ok := o.(privacy.ConsentOption)
	require.False(t, ok)
	_, ok = o.(privacy.Option)
	require.False(t, ok)
}
