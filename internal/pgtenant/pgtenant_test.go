package pgtenant_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgq"
	"github.com/rampart-sdk/rampart/internal/pgtenant"
	"github.com/rampart-sdk/rampart/tenant"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

var spec = pgtenant.Spec{
	Tables:     []tenantpg.Table{{Name: "things", Column: "org"}},
	Functions:  "CREATE FUNCTION {schema}.things_dir(k text) RETURNS text LANGUAGE sql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$ SELECT k $$;\n",
	Signatures: []string{"things_dir(text)"},
}

func TestSpecSQL(t *testing.T) {
	t.Parallel()
	sql, err := spec.SQL(`s"1`, "app role")
	require.NoError(t, err)
	for _, want := range []string{
		`ALTER TABLE "s""1"."things" FORCE ROW LEVEL SECURITY;`,
		"CREATE POLICY rampart_owner",
		`SET search_path = "s""1", pg_temp`,
		`REVOKE ALL ON FUNCTION "s""1".things_dir(text) FROM PUBLIC;`,
		`GRANT EXECUTE ON FUNCTION "s""1".things_dir(text) TO "app role";`,
	} {
		require.Contains(t, sql, want)
	}
	require.NotContains(t, sql, "{schema}")
	require.Equal(t, []string{"things"}, spec.Names())

	for _, tc := range []struct{ schema, role string }{{"", "app"}, {"s", ""}} {
		_, err := spec.SQL(tc.schema, tc.role)
		require.Error(t, err, "%+v", tc)
	}
	_, err = spec.SQL("s", "app")
	require.NoError(t, err)
	_, err = pgtenant.Spec{Tables: []tenantpg.Table{{Name: "t", Column: ""}}}.SQL("s", "app")
	require.ErrorIs(t, err, tenantpg.ErrBadIdentifier)
	require.True(t, strings.HasPrefix(sql, "ALTER TABLE"))
}

func TestNeedOrgAndUnbound(t *testing.T) {
	t.Parallel()
	require.ErrorIs(t, pgtenant.NeedOrg(true, ""), pgtenant.ErrNoOrg)
	require.ErrorIs(t, pgtenant.NeedOrg(true, ""), tenant.ErrInvalidOrg, "a host matches the public sentinel")
	require.NoError(t, pgtenant.NeedOrg(false, ""))
	require.NoError(t, pgtenant.NeedOrg(true, "o"))

	// Off, or the empty organisation with none in the context: fn runs on
	// the querier as it is (nil here: nothing may touch it).
	ran := 0
	require.NoError(t, pgtenant.InOrg(context.Background(), false, nil, "o", func(q pgq.Querier) error { ran++; return nil }))
	require.NoError(t, pgtenant.InOrg(context.Background(), true, nil, "", func(q pgq.Querier) error { ran++; return nil }))
	require.Equal(t, 2, ran)
}
