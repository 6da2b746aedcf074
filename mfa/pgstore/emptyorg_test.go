package pgstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/mfa/pgstore"
	"github.com/rampart-sdk/rampart/tenant"
)

// Under tenant binding every write that names an organisation refuses the
// empty one before any statement (the pool points nowhere), with an error
// that matches tenant.ErrInvalidOrg.
func TestTenantBindingRefusesEmptyOrg(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := pgstore.New(pgtest.IdlePool(t), pgstore.WithTenantBinding())
	require.NoError(t, err)
	for name, write := range map[string]func() error{
		"BeginEnrollment": func() error { return s.BeginEnrollment(ctx, mfa.Enrollment{User: "u1", ID: "e1"}) },
		"SetOrgPolicy":    func() error { return s.SetOrgPolicy(ctx, "", true) },
	} {
		require.ErrorIs(t, write(), tenant.ErrInvalidOrg, name)
	}
}
