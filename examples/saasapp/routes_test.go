package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/rbac"
	"github.com/rampart-sdk/rampart/rbac/rbactest"
)

func newTestApp(t *testing.T) *app {
	t.Helper()
	a, err := newApp(context.Background(), config{Now: newClock().Now, Warn: io.Discard,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	return a
}

// Every route: 401 without a principal, 403 for a principal of another
// organisation, 403 for the largest role lacking the permission, and the
// handler reached by the lowest role holding it.
func TestRoutesEnforcePermissions(t *testing.T) {
	a := newTestApp(t)
	used := map[rbac.Permission]bool{}
	for _, r := range a.router.Routes() {
		used[r.Permission] = true
	}
	// The example implements a slice of a payments product; the policy's
	// other permissions belong to features it does not have.
	var unused []rbac.Permission
	for _, p := range a.ex.Policy.Permissions() {
		if !used[p] {
			unused = append(unused, p)
		}
	}
	rbactest.CheckRouter(t, a.router, a.ex.Policy, rbactest.Options{Unused: unused})
	require.NoError(t, a.checkRoutes(context.Background()))
}
