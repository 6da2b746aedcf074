package authn

import (
	"context"
	"time"
)

// Store is everything this package persists. NewMemoryStore and
// authn/pgstore implement it, and authntest.TestStore checks an
// implementation (including a host's own) against the contract below.
//
// Secrets never reach a Store: it sees hashes of API keys, magic-link tokens
// and session tokens only. Operations that must be atomic across application
// instances (consuming a magic link, the per-email issue limit, rotating a
// session token) are single Store calls, so a database adapter can serialise
// them in the database.
type Store interface {
	APIKeyStore
	MagicLinkStore
	SessionStore
	PolicyStore
	ThrottleStore
}

// APIKeyRecord is an API key as stored: metadata and a hash, never the key.
type APIKeyRecord struct {
	ID         string // public ID, unique, the lookup key
	Prefix     string
	Org        string
	Owner      string
	Name       string
	Scopes     []string
	HashAlg    string // "hmac-sha256" or "bcrypt"
	Hash       []byte
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: active
}

// ListPage asks a store for one page of a list (an organisation's API
// keys, a user's sessions): up to Limit records that sort after
// (AfterCreated, AfterID); the zero position is the start.
type ListPage struct {
	AfterCreated time.Time
	AfterID      string
	Limit        int
}

// after reports whether a record created at c with id sorts after p's
// position.
func (p ListPage) after(c time.Time, id string) bool {
	if p.AfterID == "" && p.AfterCreated.IsZero() {
		return true
	}
	return c.After(p.AfterCreated) || c.Equal(p.AfterCreated) && id > p.AfterID
}

// APIKeyStore persists API key records.
type APIKeyStore interface {
	// CreateAPIKey inserts rec; an existing ID is ErrConflict.
	CreateAPIKey(ctx context.Context, rec APIKeyRecord) error
	// APIKeyByID returns the record with that public ID or ErrNotFound.
	APIKeyByID(ctx context.Context, id string) (APIKeyRecord, error)
	// ListAPIKeys returns one page of the org's keys (revoked included),
	// ordered by (CreatedAt, ID): up to p.Limit keys after p's position.
	ListAPIKeys(ctx context.Context, org string, p ListPage) ([]APIKeyRecord, error)
	// RevokeAPIKey sets RevokedAt of the org's key id (if not yet revoked);
	// ErrNotFound when the org has no such key.
	RevokeAPIKey(ctx context.Context, org, id string, at time.Time) error
	// TouchAPIKey raises LastUsedAt of key id to at (never lowers it).
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
}

// MagicLinkRecord is a magic link as stored: the SHA-256 of its token.
type MagicLinkRecord struct {
	TokenHash  []byte // SHA-256 of the raw token, unique
	Org        string // "" when the link is not tied to an organisation
	Email      string // normalised (trimmed, lower-case)
	Purpose    string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	ConsumedAt time.Time // zero: not consumed
}

// MagicLinkStore persists magic links.
type MagicLinkStore interface {
	// InsertMagicLink inserts rec unless limit links or more were created
	// for rec.Email at or after since, in which case it returns
	// ErrRateLimited. The check and the insert are atomic.
	InsertMagicLink(ctx context.Context, rec MagicLinkRecord, limit int, since time.Time) error
	// ConsumeMagicLink atomically marks the link with tokenHash consumed at
	// at and returns it. Of concurrent calls exactly one succeeds; the others
	// and any later call get ErrAlreadyConsumed. Unknown: ErrNotFound.
	ConsumeMagicLink(ctx context.Context, tokenHash []byte, at time.Time) (MagicLinkRecord, error)
	// DeleteMagicLinksBefore removes links that expired before t and returns
	// how many, for a periodic sweep.
	DeleteMagicLinksBefore(ctx context.Context, t time.Time) (int, error)
}

// SessionRecord is a session as stored: the SHA-256 of its token.
type SessionRecord struct {
	ID            string // non-secret session ID, unique
	TokenHash     []byte // SHA-256 of the current token, unique
	Org           string
	UserID        string
	Method        string // authentication method: "password", "magic_link", "sso", ...
	IP            string
	UserAgent     string
	CreatedAt     time.Time
	LastSeenAt    time.Time
	ExpiresAt     time.Time // absolute timeout
	MFAVerifiedAt time.Time // zero: never

	// OrgRequiresSSO is read, never written: SessionByTokenHash sets it to
	// whether the session's organisation requires SSO at the time of the
	// read (OrgPolicy.PasswordLoginDisabled; false for the empty
	// organisation), in the same query, so that Sessions.Lookup enforces a
	// policy change on the next request without another round trip.
	OrgRequiresSSO bool
}

// SessionStore persists sessions. Revocation deletes the row, so a revoked
// token is indistinguishable from one never issued.
type SessionStore interface {
	// CreateSession inserts rec; a duplicate ID or token hash is ErrConflict.
	CreateSession(ctx context.Context, rec SessionRecord) error
	// SessionByTokenHash returns the session whose current token hashes to
	// tokenHash, with OrgRequiresSSO read from its organisation's policy, or
	// ErrNotFound.
	SessionByTokenHash(ctx context.Context, tokenHash []byte) (SessionRecord, error)
	// SessionByID returns the session with that ID, or ErrNotFound.
	SessionByID(ctx context.Context, id string) (SessionRecord, error)
	// TouchSession raises LastSeenAt of session id to at.
	TouchSession(ctx context.Context, id string, at time.Time) error
	// RotateSessionToken replaces the token hash of session id, only if it is
	// still oldHash (so of two concurrent rotations one wins), and sets
	// LastSeenAt to at; otherwise ErrNotFound.
	RotateSessionToken(ctx context.Context, id string, oldHash, newHash []byte, at time.Time) error
	// SetSessionMFAVerified sets MFAVerifiedAt of session id; ErrNotFound if
	// there is no such session.
	SetSessionMFAVerified(ctx context.Context, id string, at time.Time) error
	// ListSessions returns one page of the sessions of userID in
	// organisation org (expired ones included), ordered by (CreatedAt, ID):
	// up to p.Limit sessions after p's position.
	ListSessions(ctx context.Context, org, userID string, p ListPage) ([]SessionRecord, error)
	// DeleteSession deletes session id of userID in org; ErrNotFound when
	// the user has no such session in that organisation.
	DeleteSession(ctx context.Context, org, userID, id string) error
	// DeleteUserSessions deletes every session of userID in org except
	// exceptID ("" deletes all) and returns how many it deleted; sessions in
	// other organisations are untouched.
	DeleteUserSessions(ctx context.Context, org, userID, exceptID string) (int, error)
	// DeleteSessionsBefore removes sessions whose absolute expiry is before
	// t, for a periodic sweep.
	DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error)
}

// OrgPolicy is an organisation's authentication policy.
type OrgPolicy struct {
	// PasswordLoginDisabled requires single sign-on (the name predates
	// magic links): every login path but SSO is refused for the
	// organisation's members. Password logins fail with
	// ErrPasswordLoginDisabled, magic links with ErrSSORequired, and the
	// organisation's sessions that were not created by SSO (Method
	// AuthSSO) fail at their next lookup with ErrSSORequired and are
	// deleted. API keys keep working (see the package doc).
	PasswordLoginDisabled bool
}

// PolicyStore persists organisation policies.
type PolicyStore interface {
	// OrgPolicy returns the org's policy; the zero policy if none was set.
	OrgPolicy(ctx context.Context, org string) (OrgPolicy, error)
	// SetOrgPolicy stores the org's policy.
	SetOrgPolicy(ctx context.Context, org string, p OrgPolicy) error
}
