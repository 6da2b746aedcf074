package authn

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ssoEnv is an organisation that requires SSO, with what a login path
// needs to be tried against it.
type ssoEnv struct {
	store    Store
	pw       *Passwords
	hash     string
	login    *PasswordLogin
	links    *MagicLinks
	sessions *Sessions
	pending  MagicToken   // a link issued before the organisation required SSO
	session  SessionToken // a password session created before
}

const ssoOrg = "org_sso"

func newSSOEnv(t *testing.T) *ssoEnv {
	t.Helper()
	ctx := context.Background()
	e := &ssoEnv{store: NewMemoryStore()}
	var err error
	e.pw, err = NewPasswords(WithArgon2id(Argon2Params{MemoryKiB: 7 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
	require.NoError(t, err)
	e.hash, err = e.pw.Hash(ctx, "pw")
	require.NoError(t, err)
	e.login, err = NewPasswordLogin(e.pw, e.store)
	require.NoError(t, err)
	e.links, err = NewMagicLinks(e.store)
	require.NoError(t, err)
	e.sessions, err = NewSessions(e.store)
	require.NoError(t, err)
	e.pending, err = e.links.Issue(ctx, MagicLinkRequest{Org: ssoOrg, Email: "ann@example.com", Purpose: "login"})
	require.NoError(t, err)
	e.session, _, err = e.sessions.Create(ctx, NewSession{Org: ssoOrg, UserID: "ann", Method: AuthPassword})
	require.NoError(t, err)
	require.NoError(t, RequireSSO(ctx, e.store, ssoOrg, true))
	return e
}

// ssoLoginPaths are every way into an organisation this package offers.
// Each tries its path for a member of an organisation that requires SSO
// and returns the error the attempt ends with; TestSSOSeamsEnumerated
// requires ErrSSORequired from each. A path that yields a credential
// (Sessions.Create, Login) is followed to where the credential is used.
var ssoLoginPaths = map[string]func(t *testing.T, e *ssoEnv) error{
	"PasswordLogin.Check": func(t *testing.T, e *ssoEnv) error {
		_, err := e.login.Check(context.Background(), Client{Login: "ann@example.com", Addr: "192.0.2.1"},
			Account{Found: true, Org: ssoOrg, PasswordHash: e.hash}, "pw")
		return err
	},
	"MagicLinks.Issue": func(t *testing.T, e *ssoEnv) error {
		_, err := e.links.Issue(context.Background(), MagicLinkRequest{Org: ssoOrg, Email: "ann@example.com", Purpose: "login"})
		return err
	},
	"MagicLinks.Send": func(t *testing.T, e *ssoEnv) error {
		return e.links.Send(context.Background(), MagicLinkRequest{Org: ssoOrg, Email: "ann@example.com", Purpose: "login"},
			func(context.Context, string) (bool, error) { return true, nil },
			func(context.Context, string, MagicToken) error { t.Error("link delivered"); return nil })
	},
	"MagicLinks.Consume": func(t *testing.T, e *ssoEnv) error {
		_, err := e.links.Consume(context.Background(), e.pending.Reveal(), "login")
		return err
	},
	"Sessions.Create": func(t *testing.T, e *ssoEnv) error {
		tok, _, err := e.sessions.Create(context.Background(), NewSession{Org: ssoOrg, UserID: "ann", Method: AuthMagicLink})
		require.NoError(t, err)
		_, err = e.sessions.Lookup(context.Background(), tok.Reveal())
		return err
	},
	"Sessions.Login": func(t *testing.T, e *ssoEnv) error {
		tok, _, err := e.sessions.Login(context.Background(), "", NewSession{Org: ssoOrg, UserID: "ann", Method: "webauthn"})
		require.NoError(t, err)
		_, err = e.sessions.Lookup(context.Background(), tok.Reveal())
		return err
	},
	"Sessions.Lookup": func(t *testing.T, e *ssoEnv) error {
		_, err := e.sessions.Lookup(context.Background(), e.session.Reveal())
		return err
	},
	"Sessions.Rotate": func(t *testing.T, e *ssoEnv) error {
		_, _, err := e.sessions.Rotate(context.Background(), e.session.Reveal())
		return err
	},
	"func Middleware": func(t *testing.T, e *ssoEnv) error {
		var saw bool
		h := Middleware(e.sessions, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, saw = IdentityFrom(r.Context())
		}))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: CookieName, Value: e.session.Reveal()})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.False(t, saw, "the request went on anonymous")
		require.Contains(t, w.Header().Get("Set-Cookie"), "Max-Age=0", "the cookie is cleared")
		_, err := e.sessions.Lookup(context.Background(), e.session.Reveal())
		require.ErrorIs(t, err, ErrSessionInvalid, "and the session deleted")
		return ErrSSORequired
	},
}

// notLoginPaths are the package's other exported functions and methods,
// each with why it is not a way into an organisation. Whole types are
// listed by name alone.
var notLoginPaths = map[string]string{
	"memoryStore":    "store adapter: persists, decides nothing",
	"secret":         "a secret value's printing",
	"ssoError":       "an error",
	"HashCostError":  "an error",
	"ThrottledError": "an error",
	"ParsedAPIKey":   "a parsed key's printing",
	"StaticPepper":   "a keyed hash",
	"APIKey":         "metadata",

	"APIKeys.Create": "API keys are machine credentials; created by an authenticated member (see doc: they keep working under SSO)",
	"APIKeys.Verify": "API keys keep working under SSO by decision (TestSSOAPIKeysKeepWorking)",
	"APIKeys.List":   "administration",
	"APIKeys.Revoke": "administration",
	"APIKeys.String": "printing",
	"APIKeys.Format": "printing",

	"Passwords.Hash":          "primitive without an organisation; logins go through PasswordLogin.Check",
	"Passwords.Verify":        "primitive without an organisation; logins go through PasswordLogin.Check",
	"Passwords.VerifyUnknown": "primitive without an organisation",

	"MagicLinks.Sweep":         "maintenance",
	"Sessions.Cookie":          "formats a cookie for a session already created",
	"Sessions.List":            "administration",
	"Sessions.MarkMFAVerified": "marks an existing session; its use still goes through Lookup",
	"Sessions.Revoke":          "ends sessions",
	"Sessions.RevokeAll":       "ends sessions",
	"Sessions.RevokeOthers":    "ends sessions",
	"Sessions.Sweep":           "maintenance",

	"Throttle.Buckets":       "administration",
	"Throttle.Unlock":        "administration",
	"Throttle.UnlockAddress": "administration",
	"Throttle.Sweep":         "maintenance",

	"func AuditActions":        "registration",
	"func ClearCookie":         "logout",
	"func ContextWithIdentity": "for tests of host handlers: the host already authenticated",
	"func IdentityFrom":        "reads what Middleware authenticated",
	"func SessionMFA":          "reads what Middleware authenticated",
	"func ParseAPIKey":         "pure function",
	"func RequireSSO":          "sets the policy",
	"func ThrottleLoginKey":    "pure function",
	"func WriteThrottled":      "writes a response",
}

// exportedAPI lists the package's exported functions ("func Name") and
// methods ("Type.Method"), from its source.
func exportedAPI(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	var out []string
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || !fd.Name.IsExported() {
				continue
			}
			if fd.Recv == nil {
				out = append(out, "func "+fd.Name.Name)
				continue
			}
			typ := fd.Recv.List[0].Type
			if s, ok := typ.(*ast.StarExpr); ok {
				typ = s.X
			}
			out = append(out, typ.(*ast.Ident).Name+"."+fd.Name.Name)
		}
	}
	slices.Sort(out)
	return out
}

// TestSSOSeamsEnumerated: every exported function and method of the
// package is either a login path, tried against an organisation that
// requires SSO and refused with ErrSSORequired, or listed with why it is
// not one. A new method (a WebAuthn login, say) fails this test until it
// is placed in one of the two tables.
func TestSSOSeamsEnumerated(t *testing.T) {
	t.Parallel()
	api := exportedAPI(t)
	require.Contains(t, api, "PasswordLogin.Check", "the parser sees the package")
	for _, name := range api {
		typ, _, _ := strings.Cut(name, ".")
		fn := strings.TrimPrefix(name, "func ")
		switch {
		case ssoLoginPaths[name] != nil:
		case notLoginPaths[name] != "", notLoginPaths[typ] != "":
		case strings.HasPrefix(fn, "New"), strings.HasPrefix(fn, "With"), strings.HasPrefix(fn, "Default"):
			// constructors, options and defaults: configuration
		default:
			t.Errorf("%s is neither a login path (ssoLoginPaths, tried against SSO) nor listed in notLoginPaths with a reason", name)
		}
	}
	for name, try := range ssoLoginPaths {
		t.Run(name, func(t *testing.T) {
			require.True(t, slices.Contains(api, name), "listed login path %s no longer exists", name)
			err := try(t, newSSOEnv(t))
			require.ErrorIs(t, err, ErrSSORequired)
		})
	}
}

// TestSSOAPIKeysKeepWorking: the decision for API keys. They are machine
// credentials of the organisation, scoped, listed and revocable by its
// administrators; turning SSO on does not break its integrations.
// Offboarding a member revokes their keys (APIKeys.List and Revoke).
func TestSSOAPIKeysKeepWorking(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSSOEnv(t)
	keys, err := NewAPIKeys(e.store, "atl_live", testPepper(t))
	require.NoError(t, err)
	raw, _, err := keys.Create(ctx, NewAPIKey{Org: ssoOrg, Owner: "ann"})
	require.NoError(t, err)
	_, err = keys.Verify(ctx, raw.Reveal())
	require.NoError(t, err)

	// And an SSO session of the organisation lives on.
	tok, _, err := e.sessions.Create(ctx, NewSession{Org: ssoOrg, UserID: "ann", Method: AuthSSO})
	require.NoError(t, err)
	_, err = e.sessions.Lookup(ctx, tok.Reveal())
	require.NoError(t, err)
}
