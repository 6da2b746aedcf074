package pgstore

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// One ID that PostgreSQL's text cannot hold, coalesced with good ones into
// one query, is not found; the others are answered.
func TestBadKeyIDFailsAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	require.NoError(t, Migrate(ctx, pool))
	s, err := New(pool)
	require.NoError(t, err)
	pepper, err := authn.NewStaticPepper([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	keys, err := authn.NewAPIKeys(s, "atl_live", pepper)
	require.NoError(t, err)
	_, k1, err := keys.Create(ctx, authn.NewAPIKey{Org: "org", Owner: "a"})
	require.NoError(t, err)
	_, k2, err := keys.Create(ctx, authn.NewAPIKey{Org: "org", Owner: "b"})
	require.NoError(t, err)
	for _, bad := range []string{"k\x00", "\xff", "a\xc3"} {
		got, err := s.(*store).apiKeysByID(ctx, []string{k1.ID, bad, k2.ID})
		require.NoError(t, err, "%q", bad)
		require.Len(t, got, 2)
		require.Equal(t, "a", got[k1.ID].Owner)
		require.Equal(t, "b", got[k2.ID].Owner)
		_, err = s.APIKeyByID(ctx, bad)
		require.ErrorIs(t, err, authn.ErrNotFound)
	}
}
