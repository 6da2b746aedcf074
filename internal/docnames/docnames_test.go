// Package docnames checks that every package-qualified rampart identifier
// the docs name (pkg.Name or pkg.Type.Member, in README.md, SECURITY.md,
// docs/*.md, every package's Markdown, the examples' READMEs, and the comments
// of every Go file) still exists, so a rename cannot leave the package tour or
// a doc comment pointing at an API that is gone. A member is looked up through
// the types its type embeds, in whatever package they live. Unqualified names
// (Store.X inside a package's own comments) are not checked. CHANGELOG.md is
// not checked: it names the old identifiers on purpose.
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

const module = "github.com/rampart-sdk/rampart/"

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
	"svctest": {"privacy/internal/svctest"},
	"rbac":    {"rbac"}, "rbactest": {"rbac/rbactest"}, "examplepolicy": {"rbac/examplepolicy"},
	"tenant": {"tenant"}, "tenantpg": {"tenant/pgstore"},
	"pgfault": {"internal/pgfault"}, "pgmigrate": {"internal/pgmigrate"}, "pgq": {"internal/pgq"},
	"pgtenant": {"internal/pgtenant"}, "pgtest": {"internal/pgtest"}, "redact": {"internal/redact"},
	"testclock": {"internal/testclock"}, "textclip": {"internal/textclip"},
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
		rel, err := filepath.Rel(root, p)
		if err != nil || d.IsDir() {
			return err
		}
		inPackage := strings.Contains(filepath.ToSlash(rel), "/") // not the root's own Markdown
		if strings.HasSuffix(p, ".go") || (inPackage && strings.HasSuffix(p, ".md") && !strings.HasPrefix(rel, "docs")) {
			docs = append(docs, rel)
		}
		return nil
	}))
	ix := &index{root: root, pkgs: map[string]*pkg{}}
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
					found = found || ix.has(t, d, m[2], m[3], 0)
				}
				if !found {
					missing = append(missing, doc+":"+strconv.Itoa(i+1)+": "+m[0])
				}
			}
		}
	}
	sort.Strings(missing)
	require.Empty(t, missing, "the docs name identifiers that do not exist (renamed? see CHANGELOG.md)")
	t.Logf("%d qualified names checked in %d files", checked, len(docs))
	require.Greater(t, checked, 500, "the docs name rampart's API; the pattern must still find it")
}

// The index resolves names: a typo in a member it cannot resolve through an
// embedding is reported, a member an embedded interface brings is found.
func TestIndexResolvesEmbeddedMembers(t *testing.T) {
	ix := &index{root: filepath.Join("..", ".."), pkgs: map[string]*pkg{}}
	require.True(t, ix.has(t, "authn/pgstore", "Store", "SessionByTokenHash", 0), "through authn.Store")
	require.True(t, ix.has(t, "auditlog/pgstore", "Store", "AppendBatch", 0), "through auditlog.Store")
	require.True(t, ix.has(t, "privacy", "Store", "Transition", 0), "through SubjectStore")
	require.False(t, ix.has(t, "authn/pgstore", "Store", "NoSuchMethod", 0))
	require.False(t, ix.has(t, "privacy", "Lifecycle", "Store", 0), "removed in issue #22")
	require.True(t, ix.has(t, "keyring/pgstore", "TestReindexEmptyRowIDOnPostgres", "", 0), "tests are cited as evidence")
}

// pkg is what the docs may name in one package directory: its exported
// names (and Test, Benchmark, Fuzz and Example functions), "Type.Member"
// for methods, struct fields and interface methods, and what each type
// embeds.
type pkg struct {
	names  map[string]bool
	embeds map[string][]typeRef
}

type typeRef struct{ dir, name string }

type index struct {
	root string
	pkgs map[string]*pkg
}

// has reports whether dir's package has name, or name.member, looking the
// member up through embedded types.
func (ix *index) has(t *testing.T, dir, name, member string, depth int) bool {
	p := ix.load(t, dir)
	if p == nil || depth > 8 {
		return false
	}
	if member == "" {
		return p.names[name]
	}
	if p.names[name+"."+member] {
		return true
	}
	for _, e := range p.embeds[name] {
		if ix.has(t, e.dir, e.name, member, depth+1) {
			return true
		}
	}
	return false
}

var testFunc = regexp.MustCompile(`^(Test|Benchmark|Fuzz|Example)`)

// load parses dir's package once; it is nil for a directory outside the
// module (an embedded type of another module is not followed).
func (ix *index) load(t *testing.T, dir string) *pkg {
	t.Helper()
	if p, ok := ix.pkgs[dir]; ok {
		return p
	}
	files, err := filepath.Glob(filepath.Join(ix.root, dir, "*.go"))
	require.NoError(t, err)
	if len(files) == 0 {
		ix.pkgs[dir] = nil
		return nil
	}
	p := &pkg{names: map[string]bool{}, embeds: map[string][]typeRef{}}
	ix.pkgs[dir] = p
	fset := token.NewFileSet()
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		if strings.HasSuffix(f, "_test.go") {
			for _, d := range file.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && testFunc.MatchString(fd.Name.Name) {
					p.names[fd.Name.Name] = true
				}
			}
			continue
		}
		imports := map[string]string{} // local name -> directory in the module, "" outside it
		for _, im := range file.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			local := path[strings.LastIndex(path, "/")+1:]
			if im.Name != nil {
				local = im.Name.Name
			}
			imports[local] = strings.TrimPrefix(path, module)
			if !strings.HasPrefix(path, module) {
				imports[local] = ""
			}
		}
		for _, d := range file.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv == nil {
					p.names[d.Name.Name] = true
					continue
				}
				recv := d.Recv.List[0].Type
				if star, ok := recv.(*ast.StarExpr); ok {
					recv = star.X
				}
				if ix, ok := recv.(*ast.IndexExpr); ok {
					recv = ix.X
				}
				if id, ok := recv.(*ast.Ident); ok {
					p.names[id.Name+"."+d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						p.names[s.Name.Name] = s.Name.IsExported()
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
								p.names[s.Name.Name+"."+n.Name] = n.IsExported()
							}
							if len(fl.Names) == 0 {
								if ref, ok := embedded(fl.Type, dir, imports); ok {
									p.embeds[s.Name.Name] = append(p.embeds[s.Name.Name], ref)
								}
							}
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								p.names[n.Name] = true
							}
						}
					}
				}
			}
		}
	}
	return p
}

// embedded resolves an embedded field's type to its package directory and
// name: T (this package), *T, or pkg.T of an import within the module.
func embedded(e ast.Expr, dir string, imports map[string]string) (typeRef, bool) {
	if star, ok := e.(*ast.StarExpr); ok {
		e = star.X
	}
	switch e := e.(type) {
	case *ast.Ident:
		return typeRef{dir, e.Name}, true
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok && imports[x.Name] != "" {
			return typeRef{imports[x.Name], e.Sel.Name}, true
		}
	}
	return typeRef{}, false
}
