package authn_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"

	"github.com/rampart-sdk/rampart/authn"
)

// The main use: hash a password, issue an API key, and authenticate a
// request with it through the middleware.
func Example() {
	ctx := context.Background()
	store := authn.NewMemoryStore()

	passwords, _ := authn.NewPasswords()
	hash, _ := passwords.Hash(context.Background(), "correct horse battery staple")
	needsRehash, err := passwords.Verify(context.Background(), "correct horse battery staple", hash)
	fmt.Println("password ok:", err == nil, "rehash:", needsRehash)

	// In production the pepper is a *keyring.BlindIndex.
	pepper, _ := authn.NewStaticPepper([]byte("an example pepper of 32+ bytes!!"))
	keys, _ := authn.NewAPIKeys(store, "atl_live", pepper)
	raw, key, _ := keys.Create(ctx, authn.NewAPIKey{Org: "org_1", Owner: "user_1", Scopes: []string{"invoices.read"}})
	fmt.Println("printing the key shows only its redacted form:", fmt.Sprint(raw) == key.Redacted())

	sessions, _ := authn.NewSessions(store)
	handler := authn.Middleware(sessions, keys)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := authn.IdentityFrom(r.Context())
		fmt.Println("identity:", id.Method, id.Org, id.Scopes)
	}))
	req := httptest.NewRequest("GET", "/invoices", nil)
	req.Header.Set("Authorization", "Bearer "+raw.Reveal())
	handler.ServeHTTP(httptest.NewRecorder(), req)
	// Output:
	// password ok: true rehash: false
	// printing the key shows only its redacted form: true
	// identity: api_key org_1 [invoices.read]
}

// principal is what a host's authorisation layer (for example rbac) takes.
type principal struct {
	ID, Org string
	Scopes  []string // nil: the user's full role
	MFAAt   string
}

// A host maps the request identity to its authorisation principal in a few
// lines, without authn importing rbac or rbac importing authn.
func ExampleIdentityFrom() {
	toPrincipal := func(r *http.Request) (principal, bool) {
		id, ok := authn.IdentityFrom(r.Context())
		if !ok {
			return principal{}, false
		}
		p := principal{ID: "user:" + id.UserID, Org: id.Org, Scopes: slices.Clone(id.Scopes)}
		if id.Method == authn.MethodAPIKey {
			p.ID = "apikey:" + id.KeyID // a key acts with its scopes only
		}
		return p, true
	}
	r := httptest.NewRequest("GET", "/", nil)
	r = r.WithContext(authn.ContextWithIdentity(r.Context(), authn.Identity{
		Method: authn.MethodAPIKey, UserID: "u1", KeyID: "AbCdEf123456", Org: "org_1", Scopes: []string{"reports.read"}}))
	p, _ := toPrincipal(r)
	fmt.Printf("%s in %s with %v\n", p.ID, p.Org, p.Scopes)
	// Output: apikey:AbCdEf123456 in org_1 with [reports.read]
}

// Magic links are single use.
func ExampleMagicLinks_Consume() {
	ctx := context.Background()
	links, _ := authn.NewMagicLinks(authn.NewMemoryStore())
	token, _ := links.Issue(ctx, authn.MagicLinkRequest{Email: "ann@example.com", Purpose: "login"})
	link, err := links.Consume(ctx, token.Reveal(), "login")
	fmt.Println(link.Email, err)
	_, err = links.Consume(ctx, token.Reveal(), "login")
	fmt.Println(errors.Is(err, authn.ErrMagicLinkUsed))
	// Output:
	// ann@example.com <nil>
	// true
}
