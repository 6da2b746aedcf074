package authn

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// downStore fails every credential lookup, as a database that dropped its
// connections does.
type downStore struct{ Store }

var errDown = errors.New("conn closed")

func (downStore) APIKeyByID(context.Context, string) (APIKeyRecord, error) {
	return APIKeyRecord{}, errDown
}

func (downStore) SessionByTokenHash(context.Context, []byte) (SessionRecord, error) {
	return SessionRecord{}, errDown
}

// TestMiddlewareStoreDownAnswers503: a credential that cannot be checked
// because the store failed answers 503 with Retry-After, never 401 (the
// credential may be fine) and never anonymous.
func TestMiddlewareStoreDownAnswers503(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	healthy := NewMemoryStore()
	sessions, err := NewSessions(healthy)
	require.NoError(t, err)
	keys := newTestKeys(t, healthy)
	stok, sess, err := sessions.Create(ctx, NewSession{Org: "o", UserID: "u1", Method: "password"})
	require.NoError(t, err)
	raw, _, err := keys.Create(ctx, NewAPIKey{Org: "o", Owner: "u2"})
	require.NoError(t, err)

	down := downStore{healthy}
	downSessions, err := NewSessions(down)
	require.NoError(t, err)
	downKeys := newTestKeys(t, down)
	h := Middleware(downSessions, downKeys)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("a request whose credential could not be checked reached the handler")
	}))
	for name, mut := range map[string]func(*http.Request){
		"session": func(r *http.Request) { r.AddCookie(sessions.Cookie(stok, sess)) },
		"api key": func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+raw.Reveal()) },
	} {
		r := httptest.NewRequest("GET", "/", nil)
		mut(r)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, http.StatusServiceUnavailable, w.Code, name)
		require.Equal(t, "1", w.Header().Get("Retry-After"), name)
		require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"), name)
		require.NotContains(t, w.Body.String(), "conn closed", "no internals in the body")
	}
}
