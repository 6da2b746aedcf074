// Package docnames checks that every rampart identifier the docs name
// (README.md, SECURITY.md, docs/*.md, the examples' READMEs, and the comments
// of every Go file) still exists, so a rename cannot leave the package tour or
// a doc comment pointing at an API that is gone. CHANGELOG.md is not checked:
// it names the old identifiers on purpose.
package docnames

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// aliases maps the package names and import aliases the docs use to the
// directories (from the module root) that may define what they qualify.
var aliases = map[string][]string{
	"auditlog": {"auditlog"}, "auditlogtest": {"auditlog/auditlogtest"}, "auditpg": {"auditlog/pgstore"},
	"authn": {"authn"}, "authntest": {"authn/authntest"}, "authnpg": {"authn/pgstore"},
	"compliance": {"compliance"}, "compliancetest": {"compliance/compliancetest"}, "compliancepg": {"compliance/pgstore"},
	"monitor": {"compliance/monitor"}, "monitortest": {"compliance/monitor/monitortest"},
	"nec1099": {"compliance/nec1099"}, "nec1099test": {"compliance/nec1099/nec1099test"},
	"keyring": {"keyring"}, "keyringtest": {"keyring/keyringtest"}, "keyringpg": {"keyring/pgstore"},
	"mfa": {"mfa"}, "mfatest": {"mfa/mfatest"}, "mfapg": {"mfa/pgstore"},
	"privacy": {"privacy"}, "privacytest": {"privacy/privacytest"}, "privacypg": {"privacy/pgstore"},
	"rbac": {"rbac"}, "rbactest": {"rbac/rbactest"}, "examplepolicy": {"rbac/examplepolicy"},
	"tenant": {"tenant"}, "tenantpg": {"tenant/pgstore"},
	// "pgstore" alone is whichever adapter the sentence is about.
	"pgstore": {"auditlog/pgstore", "authn/pgstore", "compliance/pgstore", "keyring/pgstore", "mfa/pgstore", "privacy/pgstore", "tenant/pgstore"},
}

// qualified matches pkg.Name and pkg.Type.Member.
var qualified = regexp.MustCompile(`\b([a-z][a-z0-9]*)\.([A-Z][A-Za-z0-9_]*)(?:\.([A-Z][A-Za-z0-9_]*))?`)

func TestDocsNameExistingIdentifiers(t *testing.T) {
	root := filepath.Join("..", "..")
	docs := []string{"README.md", "SECURITY.md"}
	for _, pattern := range []string{"docs/*.md", "examples/*/README.md"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		require.NoError(t, err)
		for _, p := range m {
			rel, err := filepath.Rel(root, p)
			require.NoError(t, err)
			docs = append(docs, rel)
		}
	}
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && p != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			rel, err := filepath.Rel(root, p)
			docs = append(docs, rel)
			return err
		}
		return nil
	}))
	exported := map[string]map[string]bool{}
	var missing []string
	checked := 0
	for _, doc := range docs {
		b, err := os.ReadFile(filepath.Join(root, doc))
		require.NoError(t, err)
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasSuffix(doc, ".go") {
				// Only the comment: code is checked by the compiler.
				c := strings.Index(line, "//")
				if c < 0 {
					continue
				}
				line = line[c:]
			}
			for _, m := range qualified.FindAllStringSubmatch(line, -1) {
				dirs, ok := aliases[m[1]]
				if !ok {
					continue
				}
				checked++
				found := false
				for _, d := range dirs {
					if exported[d] == nil {
						exported[d] = exportedNames(t, filepath.Join(root, d))
					}
					name := m[2]
					if m[3] != "" {
						name += "." + m[3]
					}
					found = found || exported[d][name]
				}
				if !found {
					missing = append(missing, doc+":"+strconv.Itoa(i+1)+": "+m[0])
				}
			}
		}
	}
	sort.Strings(missing)
	require.Empty(t, missing, "the docs name identifiers that do not exist (renamed? see CHANGELOG.md)")
	require.Greater(t, checked, 100, "the docs name rampart's API; the pattern must still find it")
}

// exportedNames returns the exported names of the package in dir: top-level
// names, "Type.Member" for the methods, struct fields and interface methods
// of its types, and the Test, Benchmark, Fuzz and Example functions of its
// test files, which the docs cite as evidence.
func exportedNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no package in %s", dir)
	names := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		if strings.HasSuffix(f, "_test.go") {
			for _, d := range file.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && testFunc.MatchString(fd.Name.Name) {
					names[fd.Name.Name] = true
				}
			}
			continue
		}
		for _, d := range file.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv == nil {
					names[d.Name.Name] = true
					continue
				}
				recv := d.Recv.List[0].Type
				if star, ok := recv.(*ast.StarExpr); ok {
					recv = star.X
				}
				if id, ok := recv.(*ast.Ident); ok {
					names[id.Name+"."+d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						names[s.Name.Name] = s.Name.IsExported()
						var fields *ast.FieldList
						switch tt := s.Type.(type) {
						case *ast.StructType:
							fields = tt.Fields
						case *ast.InterfaceType:
							fields = tt.Methods
						}
						if fields == nil {
							continue
						}
						for _, fl := range fields.List {
							for _, n := range fl.Names {
								names[s.Name.Name+"."+n.Name] = n.IsExported()
							}
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								names[n.Name] = true
							}
						}
					}
				}
			}
		}
	}
	return names
}

var testFunc = regexp.MustCompile(`^(Test|Benchmark|Fuzz|Example)`)
