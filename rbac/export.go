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

// MatrixJSON is the JSON form of the role × permission matrix.
type MatrixJSON struct {
	Roles       []RoleJSON       `json:"roles"`
	Permissions []PermissionJSON `json:"permissions"`
}

// RoleJSON is one role in MatrixJSON.
type RoleJSON struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// PermissionJSON is one permission in MatrixJSON with the roles granting it.
type PermissionJSON struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Roles       []string `json:"roles"`
}

// Matrix returns the role × permission matrix as data.
func (p *Policy) Matrix() MatrixJSON {
	m := MatrixJSON{Roles: []RoleJSON{}, Permissions: []PermissionJSON{}}
	roles := p.Roles()
	for _, r := range roles {
		m.Roles = append(m.Roles, RoleJSON{Name: r.Name(), Description: r.Description()})
	}
	for _, perm := range p.Permissions() {
		pj := PermissionJSON{Name: perm.Name(), Description: perm.Description(), Roles: []string{}}
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
	m := p.Matrix()
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

// RouteJSON is one row of the route × permission table.
type RouteJSON struct {
	Method       string `json:"method"`
	Pattern      string `json:"pattern"`
	Access       string `json:"access"` // permission name or "public"
	PublicReason string `json:"public_reason,omitempty"`
	TenantScoped bool   `json:"tenant_scoped"`
	LowestRole   string `json:"lowest_role,omitempty"`
}

// RouteTable returns the route × permission table as data.
func (rt *Router) RouteTable() []RouteJSON {
	out := []RouteJSON{}
	for _, r := range rt.Routes() {
		row := RouteJSON{Method: r.Method, Pattern: r.Path, Access: r.Access(), PublicReason: r.PublicReason, TenantScoped: r.TenantScoped}
		if low, ok := rt.policy.LowestRole(r.Permission); ok {
			row.LowestRole = low.Name()
		}
		out = append(out, row)
	}
	return out
}

// WriteRoutes writes the route × permission table, one row per route.
func (rt *Router) WriteRoutes(w io.Writer, f Format) error {
	table := rt.RouteTable()
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
		b.WriteString(MarkdownCell(c))
		b.WriteString(" |")
	}
	b.WriteByte('\n')
}

// MarkdownCell escapes text for one Markdown table cell: pipes and
// backslashes are escaped, line breaks become spaces, so a description can
// never add a column or a row to the exported table.
func MarkdownCell(s string) string {
	if !strings.ContainsAny(s, "|\\\r\n`<>") {
		return s
	}
	r := strings.NewReplacer("\\", "\\\\", "|", "\\|", "\r\n", " ", "\r", " ", "\n", " ", "`", "\\`", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}
