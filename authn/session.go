package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rampart-sdk/rampart/internal/textclip"
)

// CookieName is the session cookie's name. The __Host- prefix makes
// browsers accept it only when Secure, with Path=/ and without Domain, so a
// sibling subdomain cannot plant or overwrite it.
const CookieName = "__Host-session"

// Sessions manages server-side sessions: opaque 256-bit tokens, stored as
// SHA-256 hashes, with idle and absolute timeouts, visible to their user
// (List) and revocable one by one, all but the current one, or all at once.
type Sessions struct {
	store SessionStore
	cfg   config
}

// NewSessions returns the session manager over store. Options:
// WithSessionTimeouts, WithLastUsedInterval, WithClock.
func NewSessions(store SessionStore, opts ...SessionsOption) (*Sessions, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: sessions: nil store", ErrInvalidArgument)
	}
	cfg, err := configure("sessions", opts, SessionsOption.applySessions)
	if err != nil {
		return nil, err
	}
	if cfg.touchInterval > cfg.idleTimeout/2 {
		// Coalesced last-seen writes must never let an active session idle out.
		cfg.touchInterval = cfg.idleTimeout / 2
	}
	return &Sessions{store: store, cfg: cfg}, nil
}

// NewSession describes a session to start after a successful login.
type NewSession struct {
	Org           string
	UserID        string
	Method        string // how the user authenticated: "password", "magic_link", "sso", ...
	IP            string
	UserAgent     string
	MFAVerifiedAt time.Time // when MFA was verified during this login, if it was
}

// Session is a session's metadata, as shown to its user: never the token.
type Session struct {
	ID            string    `json:"id"`
	Org           string    `json:"org"`
	UserID        string    `json:"user_id"`
	Method        string    `json:"method"`
	IP            string    `json:"ip,omitempty"`
	UserAgent     string    `json:"user_agent,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	LastSeenAt    time.Time `json:"last_seen_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	MFAVerifiedAt time.Time `json:"mfa_verified_at,omitzero"`
}

func publicSession(r SessionRecord) Session {
	return Session{ID: r.ID, Org: r.Org, UserID: r.UserID, Method: r.Method, IP: r.IP, UserAgent: r.UserAgent,
		CreatedAt: r.CreatedAt, LastSeenAt: r.LastSeenAt, ExpiresAt: r.ExpiresAt, MFAVerifiedAt: r.MFAVerifiedAt}
}

func truncateUTC(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// clip makes request metadata (user agent, IP, method) storable: invalid
// UTF-8 and NUL bytes, which a client controls and PostgreSQL's text type
// rejects, are replaced, and the result is cut to at most n bytes on a rune
// boundary. Without it a crafted User-Agent would make every login of that
// client fail with a store error.
func clip(s string, n int) string { return textclip.Clip(s, n) }

// validID reports whether s can be stored as an identifier (organisation,
// user, owner, email, purpose): valid UTF-8 without NUL. Identifiers are
// refused rather than rewritten, so two different inputs never map to one.
func validID(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// Create starts a session with a fresh token. The token is always generated
// here, never taken from the client, so it cannot be fixed by an attacker.
func (s *Sessions) Create(ctx context.Context, n NewSession) (SessionToken, Session, error) {
	if n.UserID == "" {
		return SessionToken{}, Session{}, fmt.Errorf("%w: session needs a user id", ErrInvalidArgument)
	}
	if !validID(n.UserID) || !validID(n.Org) {
		return SessionToken{}, Session{}, fmt.Errorf("%w: session user id and org must be UTF-8 without NUL", ErrInvalidArgument)
	}
	now := s.cfg.now()
	raw, hash := newToken(sessionTokenPrefix)
	rec := SessionRecord{ID: "sid_" + randomBase62(22), TokenHash: hash, Org: n.Org, UserID: n.UserID,
		Method: clip(n.Method, 64), IP: clip(n.IP, 64), UserAgent: clip(n.UserAgent, 512),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.absoluteTimeout), MFAVerifiedAt: truncateUTC(n.MFAVerifiedAt)}
	if err := s.store.CreateSession(ctx, rec); err != nil {
		return SessionToken{}, Session{}, fmt.Errorf("authn: create session: %w", err)
	}
	return sessionToken(raw), publicSession(rec), nil
}

func sessionToken(raw string) SessionToken {
	return SessionToken{newSecret(raw, redactToken(sessionTokenPrefix))}
}

// Login replaces whatever session previousToken names (an anonymous or
// another user's session; "" for none) with a new one, so a session token
// known before authentication is worthless after it.
func (s *Sessions) Login(ctx context.Context, previousToken string, n NewSession) (SessionToken, Session, error) {
	if previousToken != "" {
		if hash, err := parseToken(sessionTokenPrefix, previousToken); err == nil {
			if rec, err := s.store.SessionByTokenHash(ctx, hash); err == nil {
				if err := s.store.DeleteSession(ctx, rec.Org, rec.UserID, rec.ID); err != nil && !errors.Is(err, ErrNotFound) {
					return SessionToken{}, Session{}, fmt.Errorf("authn: login: revoke previous session: %w", err)
				}
			}
		}
	}
	return s.Create(ctx, n)
}

// Lookup returns the session a token names. A malformed token fails with
// ErrMalformedToken before the store is touched; an unknown or revoked one
// with ErrSessionInvalid; one past its idle or absolute timeout with
// ErrSessionExpired (and is deleted); one of an organisation that requires
// SSO, unless its Method is AuthSSO, with ErrSSORequired (and is deleted). The last-seen time is written at most
// once per WithLastUsedInterval.
func (s *Sessions) Lookup(ctx context.Context, token string) (Session, error) {
	rec, _, err := s.lookup(ctx, token)
	if err != nil {
		return Session{}, err
	}
	return publicSession(rec), nil
}

func (s *Sessions) lookup(ctx context.Context, token string) (SessionRecord, []byte, error) {
	hash, err := parseToken(sessionTokenPrefix, token)
	if err != nil {
		return SessionRecord{}, nil, err
	}
	rec, err := s.store.SessionByTokenHash(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return SessionRecord{}, nil, ErrSessionInvalid
	}
	if err != nil {
		return SessionRecord{}, nil, fmt.Errorf("authn: session lookup: %w", err)
	}
	now := s.cfg.now()
	if !now.Before(rec.ExpiresAt) || now.Sub(rec.LastSeenAt) >= s.cfg.idleTimeout {
		_ = s.store.DeleteSession(ctx, rec.Org, rec.UserID, rec.ID)
		return SessionRecord{}, nil, ErrSessionExpired
	}
	if rec.OrgRequiresSSO && rec.Org != "" && rec.Method != AuthSSO {
		// The organisation requires SSO now: a session that any other
		// login path created (before the change, or by a path the host
		// added) ends here, on every instance, at its next request.
		_ = s.store.DeleteSession(ctx, rec.Org, rec.UserID, rec.ID)
		return SessionRecord{}, nil, fmt.Errorf("%w: session was not created by sso", ErrSSORequired)
	}
	if now.Sub(rec.LastSeenAt) >= s.cfg.touchInterval {
		if err := s.store.TouchSession(ctx, rec.ID, now); err != nil {
			return SessionRecord{}, nil, fmt.Errorf("authn: session touch: %w", err)
		}
		rec.LastSeenAt = now
	}
	return rec, hash, nil
}

// Rotate replaces a valid session's token, keeping its ID and metadata, and
// returns the new token; the old one stops working at once. Call it on every
// privilege change (role change, MFA step-up, org switch). Of two
// concurrent rotations of the same token exactly one succeeds.
func (s *Sessions) Rotate(ctx context.Context, token string) (SessionToken, Session, error) {
	rec, oldHash, err := s.lookup(ctx, token)
	if err != nil {
		return SessionToken{}, Session{}, err
	}
	now := s.cfg.now()
	raw, newHash := newToken(sessionTokenPrefix)
	if err := s.store.RotateSessionToken(ctx, rec.ID, oldHash, newHash, now); err != nil {
		if errors.Is(err, ErrNotFound) {
			return SessionToken{}, Session{}, ErrSessionInvalid
		}
		return SessionToken{}, Session{}, fmt.Errorf("authn: rotate session: %w", err)
	}
	rec.LastSeenAt = now
	return sessionToken(raw), publicSession(rec), nil
}

// MarkMFAVerified records that the session's user completed MFA at at; mfa's
// step-up check reads it back through the request Identity.
func (s *Sessions) MarkMFAVerified(ctx context.Context, sessionID string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("%w: mark mfa verified: zero time", ErrInvalidArgument)
	}
	if err := s.store.SetSessionMFAVerified(ctx, sessionID, truncateUTC(at)); err != nil {
		if errors.Is(err, ErrNotFound) {
			return ErrSessionInvalid
		}
		return fmt.Errorf("authn: mark mfa verified: %w", err)
	}
	return nil
}

// List returns one page of the live sessions (expired ones are left out) of
// userID in organisation org, oldest first, for a "where you're logged in"
// page or an administrator's view: it reads up to limit sessions (0 means
// 100; above MaxListLimit is ErrInvalidArgument) after cursor
// ("" is the start), so a page may hold fewer live ones; next is the cursor
// of the following page, "" after the last. The organisation is part of the
// lookup so that an administrator of one organisation handed a user ID of
// another sees nothing, whether or not the host checked membership.
func (s *Sessions) List(ctx context.Context, org, userID, cursor string, limit int) (sessions []Session, next string, err error) {
	p, err := listPage(cursor, limit)
	if err != nil {
		return nil, "", err
	}
	recs, err := s.store.ListSessions(ctx, org, userID, p)
	if err != nil {
		return nil, "", fmt.Errorf("authn: list sessions: %w", err)
	}
	if len(recs) == p.Limit {
		recs = recs[:p.Limit-1]
		last := recs[len(recs)-1]
		next = encodeListCursor(last.CreatedAt, last.ID)
	}
	now := s.cfg.now()
	sessions = []Session{}
	for _, r := range recs {
		if now.Before(r.ExpiresAt) && now.Sub(r.LastSeenAt) < s.cfg.idleTimeout {
			sessions = append(sessions, publicSession(r))
		}
	}
	return sessions, next, nil
}

// Revoke ends one of the sessions of userID in org; ErrNotFound if the user
// has no session with that ID in that organisation (one user cannot revoke
// another's, and one organisation cannot revoke another's).
func (s *Sessions) Revoke(ctx context.Context, org, userID, sessionID string) error {
	if err := s.store.DeleteSession(ctx, org, userID, sessionID); err != nil {
		return fmt.Errorf("authn: revoke session: %w", err)
	}
	return nil
}

// RevokeOthers ends every session of userID in org except currentSessionID
// ("log out everywhere else") and returns how many it ended; the user's
// sessions in other organisations are untouched.
func (s *Sessions) RevokeOthers(ctx context.Context, org, userID, currentSessionID string) (int, error) {
	if currentSessionID == "" {
		return 0, fmt.Errorf("%w: revoke others: empty current session id", ErrInvalidArgument)
	}
	n, err := s.store.DeleteUserSessions(ctx, org, userID, currentSessionID)
	if err != nil {
		return n, fmt.Errorf("authn: revoke sessions: %w", err)
	}
	return n, nil
}

// RevokeAll ends every session of userID in org, for an administrator
// (suspected compromise, offboarding) or a password reset; it returns how
// many. Sessions of the same user ID in other organisations are untouched: a
// host whose users belong to several organisations calls it once per
// organisation it is entitled to act in.
func (s *Sessions) RevokeAll(ctx context.Context, org, userID string) (int, error) {
	n, err := s.store.DeleteUserSessions(ctx, org, userID, "")
	if err != nil {
		return n, fmt.Errorf("authn: revoke sessions: %w", err)
	}
	return n, nil
}

// Sweep deletes sessions past their absolute timeout, returning how many.
func (s *Sessions) Sweep(ctx context.Context) (int, error) {
	n, err := s.store.DeleteSessionsBefore(ctx, s.cfg.now())
	if err != nil {
		return n, fmt.Errorf("authn: sweep sessions: %w", err)
	}
	return n, nil
}

// Cookie returns the session cookie for token: __Host- prefixed, Secure,
// HttpOnly (no script can read it), SameSite=Lax (not sent on cross-site
// POSTs), Path=/, expiring with the session's absolute timeout.
func (s *Sessions) Cookie(token SessionToken, sess Session) *http.Cookie {
	return &http.Cookie{Name: CookieName, Value: token.Reveal(), Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Expires: sess.ExpiresAt}
}

// ClearCookie returns a cookie that deletes the session cookie (logout).
func ClearCookie() *http.Cookie {
	return &http.Cookie{Name: CookieName, Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: -1}
}
