package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/rbac"
)

// apiKeyPrefix starts every API key this app issues, so secret scanners
// (authn.APIKeyPattern) recognise a leaked one.
const apiKeyPrefix = "saas_live"

// wireAuth builds authn (passwords, sessions, API keys) and mfa.
func (a *app) wireAuth(authnStore authn.Store, mfaStore mfa.Store) (err error) {
	clock := authn.WithClock(a.now)
	if a.passwords, err = authn.NewPasswords(); err != nil {
		return err
	}
	// Password attempts are throttled per account, per client address and
	// per pair, in the shared store; a filled bucket is audited.
	if a.login, err = authn.NewPasswordLogin(a.passwords, authnStore, clock, authn.WithRecorder(a.audit)); err != nil {
		return err
	}
	if a.sessions, err = authn.NewSessions(authnStore, clock); err != nil {
		return err
	}
	// API key hashes are HMACs under a keyring blind-index scope: the pepper
	// lives with the keys, not in the database.
	if a.apiKeys, err = authn.NewAPIKeys(authnStore, apiKeyPrefix, a.keys.apiKeyPepper, clock); err != nil {
		return err
	}
	// TOTP secrets are sealed under their own scope, bound to the user's row.
	if a.mfa, err = mfa.New("SaaS Example", mfaStore, a.keys.totp, mfa.WithClock(a.now), mfa.WithRecorder(a.audit)); err != nil {
		return err
	}
	// Sensitive routes need an MFA verification within stepUpAge (stepUp).
	a.requireMFA, err = mfa.RequireRecent(stepUpAge, authn.SessionMFA, mfa.WithClock(a.now))
	return err
}

// mfaAccount says whose MFA is meant. Members with a privileged role count
// as staff for mfa: they must enrol, and the compliance report checks it.
func (a *app) mfaAccount(u user) mfa.Account {
	kind := mfa.KindMember
	switch u.Role {
	case "owner", "admin", "financial_admin", "engineer":
		kind = mfa.KindStaff
	}
	return mfa.Account{Org: u.Org, User: u.ID, Kind: kind}
}

// authenticate is the middleware in front of the router: authn turns the
// session cookie or API key into an Identity, and this turns the Identity
// into the rbac Principal the router checks, with the user's CURRENT role
// read from the app's membership table on every request.
func (a *app) authenticate(next http.Handler) http.Handler {
	principal := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := authn.IdentityFrom(r.Context())
		if !ok {
			next.ServeHTTP(w, r) // anonymous: the router answers 401 on protected routes
			return
		}
		u, err := a.store.User(r.Context(), id.Org, id.UserID)
		if errors.Is(err, errNotFound) || (err == nil && u.State != userActive) {
			// A deleted user's sessions were revoked; a key of a deleted
			// owner stops working at once.
			writeProblem(w, http.StatusUnauthorized, "Unauthorized", "the account no longer exists")
			return
		}
		if err != nil {
			unavailable(w, "authentication is temporarily unavailable")
			return
		}
		// The session's user, or the API key limited to its scopes AND its
		// owner's current role; an unknown role name is refused everywhere.
		c := rbac.Caller{Org: id.Org, UserID: id.UserID, KeyID: id.KeyID, Scopes: id.Scopes}
		p := a.ex.Policy.PrincipalFor(c, u.Role)
		next.ServeHTTP(w, r.WithContext(rbac.WithPrincipal(r.Context(), p)))
	})
	return authn.Middleware(a.sessions, a.apiKeys)(principal)
}

// currentUser returns the signed-in user of a session or the owner of an API key.
func (a *app) currentUser(r *http.Request) (user, error) {
	id, _ := authn.IdentityFrom(r.Context())
	return a.store.User(r.Context(), id.Org, id.UserID)
}

// normEmail is what the blind index and the stored email use.
func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// newUser seals a new member's personal data: each field under its own
// scope and bound to the row, so it cannot be copied to another user.
func (a *app) newUser(ctx context.Context, orgID, role, name, email, password string) (user, error) {
	u := user{ID: newID("usr"), Org: orgID, Role: role, State: userActive, CreatedAt: a.now().UTC()}
	var err error
	if u.PasswordHash, err = a.passwords.Hash(ctx, password); err != nil {
		return user{}, err
	}
	if u.Name, err = a.keys.name.Seal(u.ID, []byte(name)); err != nil {
		return user{}, err
	}
	if u.Email, err = a.keys.email.Seal(u.ID, []byte(normEmail(email))); err != nil {
		return user{}, err
	}
	u.EmailIdx = a.keys.emailIndex.Sum([]byte(normEmail(email)))
	return u, nil
}

type signupRequest struct {
	Organisation string `json:"organisation"`
	Name         string `json:"name"`
	Email        string `json:"email"`
	Password     string `json:"password"`
}

// POST /signup creates an organisation and its owner, and signs the owner in.
func (a *app) handleSignup(w http.ResponseWriter, r *http.Request) {
	var req signupRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Organisation == "" || req.Name == "" || !strings.Contains(req.Email, "@") {
		writeProblem(w, http.StatusBadRequest, "Bad request", "organisation, name, email and password are required")
		return
	}
	o := org{ID: newID("org"), Name: req.Organisation, CreatedAt: a.now().UTC()}
	owner, err := a.newUser(r.Context(), o.ID, "owner", req.Name, req.Email, req.Password)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "Bad request", "the password is not acceptable")
		return
	}
	if err := a.store.CreateOrg(r.Context(), o, owner); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.audit.Record(r.Context(), o.ID, "user:"+owner.ID, actOrgCreated, "org:"+o.ID,
		map[string]any{"role": owner.Role}); err != nil {
		a.fail(w, r, err)
		return
	}
	a.startSession(w, r, owner, "password", false)
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Code     string `json:"code,omitempty"` // TOTP code, required once enrolled
}

// POST /login checks the password, then the TOTP code of enrolled users,
// and starts a session. Wrong email and wrong password answer the same.
// Guesses are throttled by authn (per account, per client address and per
// pair of both, across instances): a refused attempt answers 429 with
// Retry-After, the same for unknown and known emails.
func (a *app) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !decode(w, r, &req) {
		return
	}
	u, err := a.store.UserByEmail(r.Context(), a.keys.emailIndex.Sums([]byte(normEmail(req.Email))))
	if err != nil && !errors.Is(err, errNotFound) {
		a.fail(w, r, err)
		return
	}
	found := err == nil && u.State == userActive
	acct := authn.Account{Found: found, Org: u.Org, PasswordHash: u.PasswordHash}
	_, err = a.login.Check(r.Context(), authn.Client{Login: normEmail(req.Email), Addr: clientIP(r)}, acct, req.Password)
	if authn.WriteThrottled(w, err) {
		return
	}
	if err != nil && !isLoginFailure(err) {
		a.fail(w, r, err)
		return
	}
	if err != nil || !found {
		writeProblem(w, http.StatusUnauthorized, "Unauthorized", "the email or password is wrong")
		return
	}
	challenge, err := a.mfa.CheckLogin(r.Context(), a.mfaAccount(u))
	if err != nil && !errors.Is(err, mfa.ErrEnrollmentRequired) {
		a.fail(w, r, err)
		return
	}
	verified := false
	if challenge {
		if req.Code == "" {
			writeProblem(w, http.StatusUnauthorized, "MFA code required", "send the code of your authenticator app as \"code\"")
			return
		}
		if err := a.mfa.Verify(r.Context(), a.mfaAccount(u), req.Code); err != nil {
			writeProblem(w, http.StatusUnauthorized, "Unauthorized", "the MFA code is wrong, reused or locked out")
			return
		}
		verified = true
	}
	a.startSession(w, r, u, "password", verified)
}

// startSession replaces any previous session (no fixation), sets the cookie
// and records the login.
func (a *app) startSession(w http.ResponseWriter, r *http.Request, u user, method string, mfaVerified bool) {
	prev := ""
	if c, err := r.Cookie(authn.CookieName); err == nil {
		prev = c.Value
	}
	n := authn.NewSession{Org: u.Org, UserID: u.ID, Method: method, IP: clientIP(r), UserAgent: r.UserAgent()}
	if mfaVerified {
		n.MFAVerifiedAt = a.now()
	}
	tok, sess, err := a.sessions.Login(r.Context(), prev, n)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.audit.Record(r.Context(), u.Org, "user:"+u.ID, actLogin, "session:"+sess.ID,
		map[string]any{"method": method, "mfa": mfaVerified}); err != nil {
		a.fail(w, r, err)
		return
	}
	status, err := a.mfa.Status(r.Context(), a.mfaAccount(u))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	required, _ := a.mfa.Required(r.Context(), a.mfaAccount(u))
	http.SetCookie(w, a.sessions.Cookie(tok, sess))
	writeJSON(w, http.StatusOK, map[string]any{
		"org": u.Org, "user": u.ID, "role": u.Role,
		"mfa_enrolled": status.Enrolled, "mfa_required": required, "mfa_verified": mfaVerified,
	})
}

// POST /logout ends the session.
func (a *app) handleLogout(w http.ResponseWriter, r *http.Request) {
	id, ok := authn.IdentityFrom(r.Context())
	if ok && id.Method == authn.MethodSession {
		if err := a.sessions.Revoke(r.Context(), id.Org, id.UserID, id.SessionID); err != nil {
			a.fail(w, r, err)
			return
		}
		if err := a.audit.Record(r.Context(), id.Org, "user:"+id.UserID, actLogout, "session:"+id.SessionID, nil); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, authn.ClearCookie())
	w.WriteHeader(http.StatusNoContent)
}

// clientIP is the peer address. Behind a proxy, read its header instead,
// and only from the proxy's address.
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host // IPv6 without its brackets, so the throttle can parse it
	}
	return r.RemoteAddr
}

// isLoginFailure tells a refused login (401) from a failure of the service.
func isLoginFailure(err error) bool {
	for _, e := range []error{authn.ErrPasswordMismatch, authn.ErrSSORequired, authn.ErrEmptyPassword,
		authn.ErrPasswordTooLong, authn.ErrMalformedHash, authn.ErrInvalidArgument} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
