package authn

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Identity methods.
const (
	MethodSession = "session"
	MethodAPIKey  = "api_key"
)

// Identity is who a request authenticated as, put in the request context by
// Middleware. A host maps it to its authorisation principal (see the
// package example): the user or key, the organisation, the key's scopes,
// and for sessions when MFA was last verified.
type Identity struct {
	Method        string    // MethodSession or MethodAPIKey
	UserID        string    // the session's user, or the key's owner
	KeyID         string    // the API key's public ID (MethodAPIKey)
	Org           string    // organisation the credential belongs to
	Scopes        []string  // the key's scopes (MethodAPIKey); nil for sessions
	SessionID     string    // non-secret session ID (MethodSession)
	MFAVerifiedAt time.Time // when MFA was last verified in the session; zero if never
	AuthMethod    string    // how the session's user logged in ("password", "magic_link", "sso")
}

type identityKey struct{}

// ContextWithIdentity returns ctx carrying id; Middleware uses it, and tests
// of host handlers can too.
func ContextWithIdentity(ctx context.Context, id Identity) context.Context {
	id.Scopes = slices.Clone(id.Scopes)
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the request's identity, if Middleware authenticated
// one.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	if ok {
		id.Scopes = slices.Clone(id.Scopes)
	}
	return id, ok
}

// SessionMFA reports the request's session ID and when MFA was last verified
// in it. It has the shape of the host function mfa's step-up middleware
// takes; ok is false for anonymous and API-key requests.
func SessionMFA(r *http.Request) (sessionID string, verifiedAt time.Time, ok bool) {
	id, found := IdentityFrom(r.Context())
	if !found || id.Method != MethodSession {
		return "", time.Time{}, false
	}
	return id.SessionID, id.MFAVerifiedAt, true
}

// Middleware authenticates requests. An "Authorization: Bearer <api key>"
// header is verified with keys: if it fails, the request is answered 401
// (RFC 9457 problem details) and never reaches next. Otherwise the session
// cookie (CookieName) is looked up with sessions: an invalid or expired
// cookie is cleared and the request continues anonymous, so that login
// pages keep working. A store failure answers 503 with Retry-After: it never
// falls back to anonymous silently, and the client may send the request again. Either manager may be nil to disable that method.
// Authorisation (401 for anonymous, 403) stays with the host or rbac.
func Middleware(sessions *Sessions, keys *APIKeys) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h := r.Header.Get("Authorization"); h != "" {
				scheme, cred, _ := strings.Cut(h, " ")
				if !strings.EqualFold(scheme, "Bearer") || keys == nil {
					writeProblem(w, http.StatusUnauthorized, "Unauthorized", "unsupported authorization scheme")
					return
				}
				k, err := keys.Verify(r.Context(), strings.TrimSpace(cred))
				if err != nil {
					if isCredentialError(err) {
						w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
						writeProblem(w, http.StatusUnauthorized, "Unauthorized", "the api key is not valid")
						return
					}
					unavailable(w)
					return
				}
				id := Identity{Method: MethodAPIKey, UserID: k.Owner, KeyID: k.ID, Org: k.Org, Scopes: k.Scopes}
				next.ServeHTTP(w, r.WithContext(ContextWithIdentity(r.Context(), id)))
				return
			}
			if c, err := r.Cookie(CookieName); err == nil && sessions != nil {
				s, err := sessions.Lookup(r.Context(), c.Value)
				if err != nil {
					if !isCredentialError(err) {
						unavailable(w)
						return
					}
					http.SetCookie(w, ClearCookie())
					next.ServeHTTP(w, r)
					return
				}
				id := Identity{Method: MethodSession, UserID: s.UserID, Org: s.Org, SessionID: s.ID,
					MFAVerifiedAt: s.MFAVerifiedAt, AuthMethod: s.Method}
				next.ServeHTTP(w, r.WithContext(ContextWithIdentity(r.Context(), id)))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func isCredentialError(err error) bool {
	for _, e := range []error{ErrMalformedAPIKey, ErrInvalidAPIKey, ErrAPIKeyRevoked, ErrAPIKeyExpired,
		ErrMalformedToken, ErrSessionInvalid, ErrSessionExpired, ErrSSORequired} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// writeProblem answers with an RFC 9457 problem document that names nothing
// internal.
// unavailable answers a request whose credential could not be checked
// because the store failed: 503, and Retry-After so the client retries.
func unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeProblem(w, http.StatusServiceUnavailable, "Service Unavailable", "authentication is temporarily unavailable")
}

func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail})
}

// WriteThrottled answers a login refused by the throttle: if err is a
// *ThrottledError it writes 429 Too Many Requests as an RFC 9457 problem
// document (application/problem+json) with a Retry-After header in whole
// seconds, rounded up, and returns true; otherwise it writes nothing and
// returns false. The body is the same for unknown and known accounts.
func WriteThrottled(w http.ResponseWriter, err error) bool {
	var te *ThrottledError
	if !errors.As(err, &te) {
		return false
	}
	w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(te.RetryAfter), 10))
	writeProblem(w, http.StatusTooManyRequests, "Too Many Requests", "too many login attempts; retry later")
	return true
}
