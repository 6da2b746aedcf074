package pgstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/tenant"
)

// Under tenant binding every write that names an organisation refuses the
// empty one before any statement (the pool points nowhere), with an error
// that matches both authn.ErrInvalidArgument and tenant.ErrInvalidOrg: no
// bound transaction could ever read such a row back.
func TestTenantBindingRefusesEmptyOrg(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := pgstore.New(idlePool(t), pgstore.WithTenantBinding())
	require.NoError(t, err)
	for name, write := range map[string]func() error{
		"CreateAPIKey":  func() error { return s.CreateAPIKey(ctx, authn.APIKeyRecord{ID: "k1", Owner: "u1"}) },
		"CreateSession": func() error { return s.CreateSession(ctx, authn.SessionRecord{ID: "s1", UserID: "u1"}) },
		"SetOrgPolicy":  func() error { return s.SetOrgPolicy(ctx, "", authn.OrgPolicy{}) },
	} {
		err := write()
		require.ErrorIs(t, err, authn.ErrInvalidArgument, name)
		require.ErrorIs(t, err, tenant.ErrInvalidOrg, name)
	}
}
