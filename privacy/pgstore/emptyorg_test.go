package pgstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/pgstore"
	"github.com/rampart-sdk/rampart/tenant"
)

// Under tenant binding every write that names an organisation refuses the
// empty one before any statement (the pool points nowhere), with an error
// that matches both privacy.ErrInvalid and tenant.ErrInvalidOrg.
func TestTenantBindingRefusesEmptyOrg(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := pgstore.New(pgtest.IdlePool(t), pgstore.WithTenantBinding())
	require.NoError(t, err)
	for name, write := range map[string]func() error{
		"Transition": func() error {
			return s.Transition(ctx, privacy.Subject{ID: "u1", State: privacy.StateDeletionRequested}, privacy.StateActive, privacy.Event{SubjectID: "u1"})
		},
		"PutHold":       func() error { return s.PutHold(ctx, privacy.Hold{ID: "h1", SubjectID: "u1", Reason: "r", Owner: "o"}) },
		"PutRequest":    func() error { return s.PutRequest(ctx, privacy.Request{ID: "r1", SubjectID: "u1"}) },
		"AppendConsent": func() error { return s.AppendConsent(ctx, privacy.ConsentRecord{Who: "subject:u1", Purpose: "p"}) },
	} {
		err := write()
		require.ErrorIs(t, err, privacy.ErrInvalid, name)
		require.ErrorIs(t, err, tenant.ErrInvalidOrg, name)
	}
}
