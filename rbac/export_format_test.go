package rbac_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rampart-sdk/rampart/rbac"
	"github.com/stretchr/testify/require"
)

func TestWriteMatrix(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	var md, cs, js bytes.Buffer
	require.NoError(t, x.pol.WriteMatrix(&md, rbac.Markdown))
	require.NoError(t, x.pol.WriteMatrix(&cs, rbac.CSV))
	require.NoError(t, x.pol.WriteMatrix(&js, rbac.JSON))
	require.Equal(t, "| permission | description | viewer | financial_admin | admin | engineer |\n"+
		"| --- | --- | --- | --- | --- | --- |\n"+
		"| invoices.view | View invoices | x | x | x | x |\n"+
		"| refunds.approve | Approve refunds |  | x | x | x |\n"+
		"| payouts.approve | Approve payouts |  |  | x | x |\n"+
		"| infra.deploy | Deploy |  |  |  | x |\n", md.String())
	rows, err := csv.NewReader(&cs).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 5)
	require.Equal(t, []string{"payouts.approve", "Approve payouts", "", "", "x", "x"}, rows[3])
	var m rbac.MatrixJSON
	require.NoError(t, json.Unmarshal(js.Bytes(), &m))
	require.Equal(t, x.pol.Matrix(), m)
	require.Equal(t, []string{"admin", "engineer"}, m.Permissions[2].Roles)
	require.Error(t, x.pol.WriteMatrix(&md, rbac.Format(99)))
}

func TestWriteRoutes(t *testing.T) {
	t.Parallel()
	x := newTiny(t)
	r := newRouter(t, x.pol)
	r.HandleFunc("POST /orgs/{org}/payouts/{id}/approve", x.approve, reached)
	r.HandleFunc("GET /healthz", rbac.Public("probe | for the LB"), reached)
	var md, cs, js bytes.Buffer
	require.NoError(t, r.WriteRoutes(&md, rbac.Markdown))
	require.NoError(t, r.WriteRoutes(&cs, rbac.CSV))
	require.NoError(t, r.WriteRoutes(&js, rbac.JSON))
	require.Equal(t, "| method | pattern | access | public_reason | tenant_scoped | lowest_role |\n"+
		"| --- | --- | --- | --- | --- | --- |\n"+
		"| POST | /orgs/{org}/payouts/{id}/approve | payouts.approve |  | true | admin |\n"+
		"| GET | /healthz | public | probe \\| for the LB | false |  |\n", md.String())
	rows, err := csv.NewReader(&cs).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"GET", "/healthz", "public", "probe | for the LB", "false", ""}, rows[2])
	var table []rbac.RouteJSON
	require.NoError(t, json.Unmarshal(js.Bytes(), &table))
	require.Equal(t, r.RouteTable(), table)
}

// mdCells splits one Markdown table row on unescaped pipes.
func mdCells(row string) int {
	n := 0
	for i := 0; i < len(row); i++ {
		switch row[i] {
		case '\\':
			i++
		case '|':
			n++
		}
	}
	return n - 1
}

// FuzzExportRoundTrip feeds arbitrary descriptions (host-written text that
// ends up in review files and auditor spreadsheets) through every export:
// CSV and JSON must give back exactly what went in, and Markdown must keep
// one row with the same number of cells, whatever the text.
func FuzzExportRoundTrip(f *testing.F) {
	for _, s := range []string{"Approve payouts", "a|b", "line\nbreak", `quote " and , comma`, "back\\slash|", "<script>", "\r\n|\\|", "\r\r\n", "`code`"} {
		f.Add(s, "role description")
	}
	f.Fuzz(func(t *testing.T, permDesc, roleDesc string) {
		reg := rbac.NewRegistry()
		p := reg.Permission("fuzz.perm", permDesc)
		reg.Role("fuzzer", roleDesc).Grants(p)
		pol, err := reg.Build()
		require.NoError(t, err)

		var cs bytes.Buffer
		require.NoError(t, pol.WriteMatrix(&cs, rbac.CSV))
		rows, err := csv.NewReader(&cs).ReadAll()
		require.NoError(t, err)
		require.Len(t, rows, 2)
		// encoding/csv's reader turns every \r\n into \n, even inside quoted
		// fields; only the expectation gets that treatment, so a lost or
		// added \r on the way out still fails.
		require.Equal(t, strings.ReplaceAll(permDesc, "\r\n", "\n"), rows[1][1])

		var js bytes.Buffer
		require.NoError(t, pol.WriteMatrix(&js, rbac.JSON))
		var m rbac.MatrixJSON
		require.NoError(t, json.Unmarshal(js.Bytes(), &m))
		if utf8.ValidString(permDesc) && utf8.ValidString(roleDesc) {
			require.Equal(t, pol.Matrix(), m)
		}

		var md bytes.Buffer
		require.NoError(t, pol.WriteMatrix(&md, rbac.Markdown))
		lines := strings.Split(strings.TrimSuffix(md.String(), "\n"), "\n")
		require.Len(t, lines, 3, "a description must not add rows")
		for _, l := range lines {
			require.Equal(t, 3, mdCells(l), "a description must not add cells: %q", l)
		}
	})
}

// FuzzValidateName checks the name grammar: whatever it accepts is safe to
// write unescaped in Markdown, CSV, URLs and Casbin policy lines.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"payouts.approve", "a", "a..b", "A.b", "a.b.", "x_1.y_2", "a,b", "a|b", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := rbac.ValidateName(name)
		if err != nil {
			require.ErrorIs(t, err, rbac.ErrInvalidName)
			return
		}
		require.LessOrEqual(t, len(name), rbac.MaxNameLength)
		require.Equal(t, name, rbac.MarkdownCell(name))
		require.Equal(t, -1, strings.IndexFunc(name, func(r rune) bool {
			return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' && r != '.'
		}))
		for _, seg := range strings.Split(name, ".") {
			require.NotEmpty(t, seg)
			require.True(t, seg[0] >= 'a' && seg[0] <= 'z')
		}
	})
}
