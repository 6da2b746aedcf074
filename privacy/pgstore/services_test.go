package pgstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/privacy"
)

// services is a Lifecycle, a Requests and a Consent over one store, as a
// host wires them; the Lifecycle's methods are promoted. st is the store
// they were built over.
type services struct {
	*privacy.Lifecycle
	rq *privacy.Requests
	cs *privacy.Consent
	st privacy.Store
}

// newServices builds the three over store, giving each constructor the
// options of opts it takes (a privacy.Option goes to all three).
func newServices(t testing.TB, store privacy.Store, opts ...any) *services {
	t.Helper()
	var lo []privacy.LifecycleOption
	var ro []privacy.RequestsOption
	var co []privacy.ConsentOption
	for _, o := range opts {
		used := false
		if x, ok := o.(privacy.LifecycleOption); ok {
			lo, used = append(lo, x), true
		}
		if x, ok := o.(privacy.RequestsOption); ok {
			ro, used = append(ro, x), true
		}
		if x, ok := o.(privacy.ConsentOption); ok {
			co, used = append(co, x), true
		}
		require.True(t, used, "%T is no option of package privacy", o)
	}
	l, err := privacy.NewLifecycle(store, lo...)
	require.NoError(t, err)
	rq, err := privacy.NewRequests(store, ro...)
	require.NoError(t, err)
	cs, err := privacy.NewConsent(store, co...)
	require.NoError(t, err)
	return &services{Lifecycle: l, rq: rq, cs: cs, st: store}
}
