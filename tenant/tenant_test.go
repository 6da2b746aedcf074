package tenant_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/tenant"
)

func TestWithFrom(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, ok := tenant.From(ctx)
	require.False(t, ok)
	_, err := tenant.Require(ctx)
	require.ErrorIs(t, err, tenant.ErrNoOrg)

	bound := tenant.With(ctx, "org-1")
	org, ok := tenant.From(bound)
	require.True(t, ok)
	require.Equal(t, "org-1", org)

	again := tenant.With(bound, "org-2")
	org, _ = tenant.From(again)
	require.Equal(t, "org-2", org, "the innermost binding wins")
}

// TestInvalidOrgFailsClosed: an ID that Validate refuses is never bound, even
// over a valid one, so a caller that skipped validation acts as no tenant.
func TestInvalidOrgFailsClosed(t *testing.T) {
	t.Parallel()
	valid := tenant.With(context.Background(), "org-1")
	for name, org := range map[string]string{
		"empty":     "",
		"too long":  strings.Repeat("a", tenant.MaxOrgLen+1),
		"not UTF-8": "org\xff",
		"NUL":       "org\x00",
		"newline":   "org\nadmin",
		"C1":        "org\u0085",
	} {
		require.ErrorIs(t, tenant.Validate(org), tenant.ErrInvalidOrg, name)
		_, ok := tenant.From(tenant.With(valid, org))
		require.False(t, ok, name)
	}
	for _, org := range []string{"o", "zürich", "x'; DROP TABLE t; --", strings.Repeat("a", tenant.MaxOrgLen), "🏢"} {
		require.NoError(t, tenant.Validate(org), org)
	}
}
