// Package svctest builds privacy's three services over one store, as a host
// wires them, for the tests of privacy and privacy/pgstore.
package svctest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/privacy"
)

// Services is a Lifecycle, a Requests and a Consent over one Store; the
// Lifecycle's methods are promoted.
type Services struct {
	*privacy.Lifecycle
	Requests *privacy.Requests
	Consent  *privacy.Consent
	Store    privacy.Store
}

// New builds the three over store, giving each constructor the options of
// opts it takes (a privacy.Option goes to all three); a value that is no
// option of the package fails the test.
func New(t testing.TB, store privacy.Store, opts ...any) *Services {
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
	return &Services{Lifecycle: l, Requests: rq, Consent: cs, Store: store}
}
