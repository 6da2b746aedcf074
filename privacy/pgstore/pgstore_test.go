package pgstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/pgstore"
	"github.com/rampart-sdk/rampart/privacy/privacytest"
)

func newStore(t *testing.T) *pgstore.Store {
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
	require.NoError(t, pgstore.Migrate(context.Background(), db.Pool), "idempotent")
	return pgstore.New(db.Pool)
}

func TestStore(t *testing.T) {
	t.Parallel()
	privacytest.TestStore(t, func(t *testing.T) privacy.Store { return newStore(t) })
}
