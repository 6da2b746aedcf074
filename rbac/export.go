package rbac

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Format selects an export encoding.
type Format uint8

const (
	// Markdown is a GitHub-flavoured table, for review in a pull request.
	Markdown Format = iota + 1
	// CSV is RFC 4180, for spreadsheets and auditors.
	CSV
	// JSON is for machines (compliance evidence, diffs in CI).
	JSON
)

// matrixJSON is the JSON form of the role × permission matrix.
type matrixJSON struct {
	Roles       []roleJSON       `json:"roles"`
	Permissions []permissionJSON `json:"permissions"`
}

// roleJSON is one role in matrixJSON.
type roleJSON struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// permissionJSON is one permission in matrixJSON with the roles granting it.
type permissionJSON struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Roles       []string `json:"roles"`
}

// matrix returns the role × permission matrix as data, the JSON form of
// WriteMatrix.
func (p *Policy) matrix() matrixJSON {
	m := matrixJSON{Roles: []roleJSON{}, Permissions: []permissionJSON{}}
	roles := p.Roles()
	for _, r := range roles {
		m.Roles = append(m.Roles, roleJSON{Name: r.Name(), Description: r.Description()})
	}
	for _, perm := range p.Permissions() {
		pj := permissionJSON{Name: perm.Name(), Description: perm.Description(), Roles: []string{}}
		for _, r := range roles {
			if p.Can(r, perm) {
				pj.Roles = append(pj.Roles, r.Name())
			}
		}
		m.Permissions = append(m.Permissions, pj)
	}
	return m
}

// WriteMatrix writes the role × permission matrix: one row per permission,
// one column per role, "x" where the role grants it.
func (p *Policy) WriteMatrix(w io.Writer, f Format) error {
	m := p.matrix()
	header := []string{"permission", "description"}
	for _, r := range m.Roles {
		header = append(header, r.Name)
	}
	rows := make([][]string, 0, len(m.Permissions))
	for _, pj := range m.Permissions {
		row := []string{pj.Name, pj.Description}
		granted := map[string]bool{}
		for _, r := range pj.Roles {
			granted[r] = true
		}
		for _, r := range m.Roles {
			if granted[r.Name] {
				row = append(row, "x")
			} else {
				row = append(row, "")
			}
		}
		rows = append(rows, row)
	}
	return write(w, f, m, header, rows)
}

// routeJSON is one row of the route × permission table.
type routeJSON struct {
	Method       string `json:"method"`
	Pattern      string `json:"pattern"`
	Access       string `json:"access"` // permission name or "public"
	PublicReason string `json:"public_reason,omitempty"`
	TenantScoped bool   `json:"tenant_scoped"`
	LowestRole   string `json:"lowest_role,omitempty"`
}

// routeTable returns the route × permission table as data, the JSON form of
// WriteRoutes.
func (rt *Router) routeTable() []routeJSON {
	out := []routeJSON{}
	for _, r := range rt.Routes() {
		row := routeJSON{Method: r.Method, Pattern: r.Path, Access: r.accessName(), PublicReason: r.PublicReason, TenantScoped: r.TenantScoped}
		if low, ok := rt.policy.LowestRole(r.Permission); ok {
			row.LowestRole = low.Name()
		}
		out = append(out, row)
	}
	return out
}

// WriteRoutes writes the route × permission table, one row per route.
func (rt *Router) WriteRoutes(w io.Writer, f Format) error {
	table := rt.routeTable()
	header := []string{"method", "pattern", "access", "public_reason", "tenant_scoped", "lowest_role"}
	rows := make([][]string, 0, len(table))
	for _, r := range table {
		rows = append(rows, []string{r.Method, r.Pattern, r.Access, r.PublicReason, fmt.Sprint(r.TenantScoped), r.LowestRole})
	}
	return write(w, f, table, header, rows)
}

func write(w io.Writer, f Format, data any, header []string, rows [][]string) error {
	switch f {
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(data)
	case CSV:
		cw := csv.NewWriter(w)
		_ = cw.Write(header)
		_ = cw.WriteAll(rows) // WriteAll flushes
		return cw.Error()
	case Markdown:
		var b strings.Builder
		mdRow(&b, header)
		sep := make([]string, len(header))
		for i := range sep {
			sep[i] = "---"
		}
		mdRow(&b, sep)
		for _, r := range rows {
			mdRow(&b, r)
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	return fmt.Errorf("rbac: unknown export format %d", f)
}

func mdRow(b *strings.Builder, cells []string) {
	b.WriteByte('|')
	for _, c := range cells {
		b.WriteByte(' ')
		b.WriteString(markdownCell(c))
		b.WriteString(" |")
	}
	b.WriteByte('\n')
}

// markdownCell escapes text for one Markdown table cell: pipes and
// backslashes are escaped, line breaks become spaces, so a description can
// never add a column or a row to the exported table.
func markdownCell(s string) string {
	if !strings.ContainsAny(s, "|\\\r\n`<>") {
		return s
	}
	r := strings.NewReplacer("\\", "\\\\", "|", "\\|", "\r\n", " ", "\r", " ", "\n", " ", "`", "\\`", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}
