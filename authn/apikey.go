package authn

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/rampart-sdk/rampart/internal/redact"
)

// Pepper is a keyed hash whose key lives outside the database, such as
// *keyring.BlindIndex. Sum hashes under the current (primary) key; Sums
// under every key still valid for lookup, primary first, so keys created
// before a pepper rotation keep verifying.
type Pepper interface {
	Sum(value []byte) []byte
	Sums(value []byte) [][]byte
}

// Hash algorithms of stored API keys.
const (
	APIKeyHashHMAC   = "hmac-sha256"
	APIKeyHashBcrypt = "bcrypt"
)

// Ranges of WithAPIKeyBcrypt's cache.
const (
	maxKeyCacheTTL  = time.Hour
	maxKeyCacheSize = 1_000_000
)

// WithAPIKeyBcrypt makes APIKeys hash new keys with bcrypt at cost 12
// instead of HMAC-SHA-256 under the pepper, for hosts whose policy demands a
// slow hash for every credential (NewAPIKeys). Verified keys are then
// cached for ttl (at most size entries, keyed by a SHA-256 of the raw key)
// so that a busy client does not pay ~250 ms per request; revocation and
// expiry are still checked against the store on every request. ttl is from
// one second to one hour (one minute is a good start), size from 1 to
// 1,000,000 entries (each about 100 bytes).
func WithAPIKeyBcrypt(ttl time.Duration, size int) APIKeysOption {
	return apiKeysOpt(func(c *config) {
		const name = "WithAPIKeyBcrypt"
		if c.checkDuration(name, "cache ttl", ttl, time.Second, maxKeyCacheTTL) &&
			c.checkInt(name, "cache size", size, 1, maxKeyCacheSize) {
			c.keyBcryptCost, c.keyCacheTTL, c.keyCacheSize = defaultBcryptCost, ttl, size
		}
	})
}

// APIKeys creates, verifies, lists and revokes API keys.
//
// The default hash is HMAC-SHA-256 under a pepper. A slow password hash
// protects low-entropy secrets that an attacker could guess; an API key's
// secret carries 190 random bits, so a stolen hash cannot be brute-forced at
// any speed, and a fast keyed hash loses nothing while keeping verification
// in microseconds. The pepper key, held outside the database, additionally
// makes a stolen table useless on its own.
type APIKeys struct {
	store  APIKeyStore
	prefix string
	pepper Pepper
	cfg    config

	cacheMu sync.Mutex
	cache   map[[32]byte]cachedKey
}

// String names the manager by its prefix. The cache of verified bcrypt keys
// (hashes of raw keys) never prints.
func (a *APIKeys) String() string { return "authn.APIKeys(" + a.prefix + ")" }

// Format prints String for every verb.
func (a *APIKeys) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, a.String()) }

type cachedKey struct {
	hash  []byte
	until time.Time
}

// NewAPIKeys returns the API key manager for keys starting with prefix (for
// example "atl_live": lower-case words joined by "_"). pepper may be nil only
// with WithAPIKeyBcrypt. Options: WithAPIKeyBcrypt, WithLastUsedInterval,
// WithClock.
func NewAPIKeys(store APIKeyStore, prefix string, pepper Pepper, opts ...APIKeysOption) (*APIKeys, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: api keys: nil store", ErrInvalidArgument)
	}
	if !validPrefix(prefix) {
		return nil, fmt.Errorf("%w: api key prefix %q: want lower-case words joined by _, at most %d bytes", ErrInvalidArgument, prefix, MaxAPIKeyPrefixLength)
	}
	cfg, err := configure("api keys", opts, APIKeysOption.applyAPIKeys)
	if err != nil {
		return nil, err
	}
	if cfg.keyBcryptCost > 0 && cfg.testBcryptCost != 0 {
		cfg.keyBcryptCost = cfg.testBcryptCost
	}
	if pepper == nil && cfg.keyBcryptCost == 0 {
		return nil, fmt.Errorf("%w: api keys: a pepper is required unless WithAPIKeyBcrypt is used", ErrInvalidArgument)
	}
	return &APIKeys{store: store, prefix: prefix, pepper: pepper, cfg: cfg,
		cache: map[[32]byte]cachedKey{}}, nil
}

// APIKey is an API key's metadata, as shown in listings: never the secret
// nor its hash.
type APIKey struct {
	ID         string    `json:"id"`
	Prefix     string    `json:"prefix"`
	Org        string    `json:"org"`
	Owner      string    `json:"owner"`
	Name       string    `json:"name,omitempty"`
	Scopes     []string  `json:"scopes"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

// Redacted is the key as it may be displayed after creation:
// prefix and public ID, secret elided.
func (k APIKey) Redacted() string { return redactAPIKey(k.Prefix, k.ID) }

func publicKey(r APIKeyRecord) APIKey {
	return APIKey{ID: r.ID, Prefix: r.Prefix, Org: r.Org, Owner: r.Owner, Name: r.Name,
		Scopes: slices.Clone(r.Scopes), CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
		LastUsedAt: r.LastUsedAt, RevokedAt: r.RevokedAt}
}

// NewAPIKey describes a key to create.
type NewAPIKey struct {
	Org       string    // organisation the key acts for (required)
	Owner     string    // user who owns it (required)
	Name      string    // label shown in listings
	Scopes    []string  // permission names the key is limited to
	ExpiresAt time.Time // zero: no expiry
}

// Create makes a key and returns it raw, exactly once: the store keeps only
// its hash, so it cannot be shown again.
func (a *APIKeys) Create(ctx context.Context, n NewAPIKey) (RawAPIKey, APIKey, error) {
	if n.Org == "" || n.Owner == "" {
		return RawAPIKey{}, APIKey{}, fmt.Errorf("%w: api key needs an org and an owner", ErrInvalidArgument)
	}
	if !validID(n.Org) || !validID(n.Owner) || !validID(n.Name) || slices.ContainsFunc(n.Scopes, func(s string) bool { return !validID(s) }) {
		return RawAPIKey{}, APIKey{}, fmt.Errorf("%w: api key org, owner, name and scopes must be UTF-8 without NUL", ErrInvalidArgument)
	}
	now := a.cfg.now()
	if !n.ExpiresAt.IsZero() && !n.ExpiresAt.After(now) {
		return RawAPIKey{}, APIKey{}, fmt.Errorf("%w: api key expiry is in the past", ErrInvalidArgument)
	}
	id := randomBase62(APIKeyIDLength)
	sec := randomBase62(APIKeySecretLength)
	rec := APIKeyRecord{ID: id, Prefix: a.prefix, Org: n.Org, Owner: n.Owner, Name: n.Name,
		Scopes: slices.Clone(n.Scopes), CreatedAt: now, ExpiresAt: n.ExpiresAt.UTC().Truncate(time.Microsecond)}
	if a.cfg.keyBcryptCost > 0 {
		h, err := bcrypt.GenerateFromPassword([]byte(sec), a.cfg.keyBcryptCost)
		if err != nil {
			return RawAPIKey{}, APIKey{}, fmt.Errorf("authn: api key: %w", err)
		}
		rec.HashAlg, rec.Hash = APIKeyHashBcrypt, h
	} else {
		rec.HashAlg, rec.Hash = APIKeyHashHMAC, a.pepper.Sum(hmacInput(id, sec))
	}
	if err := a.store.CreateAPIKey(ctx, rec); err != nil {
		return RawAPIKey{}, APIKey{}, fmt.Errorf("authn: create api key: %w", err)
	}
	raw := RawAPIKey{newSecret(formatAPIKey(a.prefix, id, sec), redactAPIKey(a.prefix, id))}
	return raw, publicKey(rec), nil
}

// hmacInput binds the secret to its public ID and to this use, so a pepper
// shared with another purpose (a blind index) never yields the same value.
func hmacInput(id, sec string) []byte {
	return []byte("rampart/authn/apikey/v1\x00" + id + "\x00" + sec)
}

// Verify authenticates a raw key from a request. A malformed key or a
// checksum mismatch fails with ErrMalformedAPIKey before the store is
// touched; an unknown key or wrong secret with ErrInvalidAPIKey; then
// ErrAPIKeyRevoked or ErrAPIKeyExpired. Only a key whose secret matched
// learns about revocation or expiry.
func (a *APIKeys) Verify(ctx context.Context, raw string) (APIKey, error) {
	pk, err := ParseAPIKey(raw)
	if err != nil {
		return APIKey{}, err
	}
	if pk.Prefix != a.prefix {
		return APIKey{}, fmt.Errorf("%w: prefix", ErrInvalidAPIKey)
	}
	rec, err := a.store.APIKeyByID(ctx, pk.ID)
	if errors.Is(err, ErrNotFound) {
		return APIKey{}, ErrInvalidAPIKey
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("authn: verify api key: %w", err)
	}
	// The stored prefix must be this manager's: the hash covers the public ID
	// and the secret only, so without this check a key issued under another
	// prefix sharing the store (atl_test) would verify here (atl_live) once
	// re-prefixed, its checksum being public.
	if !a.secretMatches(rec, raw, pk) || rec.Prefix != a.prefix {
		return APIKey{}, ErrInvalidAPIKey
	}
	now := a.cfg.now()
	if !rec.RevokedAt.IsZero() {
		return APIKey{}, ErrAPIKeyRevoked
	}
	if !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt) {
		return APIKey{}, ErrAPIKeyExpired
	}
	// Coalesced on the stored value, so all instances together write at
	// most about once per key per interval.
	if now.Sub(rec.LastUsedAt) >= a.cfg.touchInterval {
		// Best effort: a failed last-used write must not deny a valid key.
		if err := a.store.TouchAPIKey(ctx, rec.ID, now); err == nil && now.After(rec.LastUsedAt) {
			rec.LastUsedAt = now
		}
	}
	return publicKey(rec), nil
}

func (a *APIKeys) observe(alg string) {
	if a.cfg.keyHashObserver != nil {
		a.cfg.keyHashObserver(alg)
	}
}

func (a *APIKeys) secretMatches(rec APIKeyRecord, raw string, pk ParsedAPIKey) bool {
	switch rec.HashAlg {
	case APIKeyHashHMAC:
		if a.pepper == nil {
			return false
		}
		a.observe(APIKeyHashHMAC)
		ok := 0
		for _, s := range a.pepper.Sums(hmacInput(pk.ID, pk.sec.Reveal())) {
			ok |= subtle.ConstantTimeCompare(s, rec.Hash)
		}
		return ok == 1
	case APIKeyHashBcrypt:
		ck := sha256.Sum256([]byte(raw))
		now := a.cfg.clock()
		a.cacheMu.Lock()
		c, hit := a.cache[ck]
		a.cacheMu.Unlock()
		if hit && now.Before(c.until) && subtle.ConstantTimeCompare(c.hash, rec.Hash) == 1 {
			return true
		}
		if cost, err := bcrypt.Cost(rec.Hash); err != nil || cost > maxBcryptCost {
			return false // a tampered row must not keep the request hashing for hours
		}
		a.observe(APIKeyHashBcrypt)
		if bcrypt.CompareHashAndPassword(rec.Hash, []byte(pk.sec.Reveal())) != nil {
			return false
		}
		a.remember(ck, rec.Hash, now)
		return true
	}
	return false
}

// remember caches a verified bcrypt key, evicting expired entries (and, if
// still full, arbitrary ones) to stay within the configured size.
func (a *APIKeys) remember(ck [32]byte, hash []byte, now time.Time) {
	a.cacheMu.Lock()
	defer a.cacheMu.Unlock()
	if len(a.cache) >= a.cfg.keyCacheSize {
		for k, v := range a.cache {
			if !now.Before(v.until) {
				delete(a.cache, k)
			}
		}
		for k := range a.cache {
			if len(a.cache) < a.cfg.keyCacheSize {
				break
			}
			delete(a.cache, k)
		}
	}
	a.cache[ck] = cachedKey{hash: hash, until: now.Add(a.cfg.keyCacheTTL)}
}

// MaxListLimit is the largest page APIKeys.List and Sessions.List return.
const MaxListLimit = 1000

// defaultListLimit is the page size of a List asked for 0 keys or sessions.
const defaultListLimit = 100

// List returns one page of the organisation's keys, revoked ones included,
// without secrets or hashes, oldest first: up to limit keys (0 means
// 100; above MaxListLimit is ErrInvalidArgument) after cursor
// ("" is the start). next is the cursor of the following page, "" after the
// last one; cursors are opaque and stay valid while keys are added.
func (a *APIKeys) List(ctx context.Context, org, cursor string, limit int) (keys []APIKey, next string, err error) {
	p, err := listPage(cursor, limit)
	if err != nil {
		return nil, "", err
	}
	recs, err := a.store.ListAPIKeys(ctx, org, p)
	if err != nil {
		return nil, "", fmt.Errorf("authn: list api keys: %w", err)
	}
	if len(recs) == p.Limit {
		recs = recs[:p.Limit-1]
		last := recs[len(recs)-1]
		next = encodeListCursor(last.CreatedAt, last.ID)
	}
	keys = make([]APIKey, len(recs))
	for i, r := range recs {
		keys[i] = publicKey(r)
	}
	return keys, next, nil
}

// listPage is the store page for a List call: the position after cursor, and
// one record more than limit, which tells whether a next page exists.
func listPage(cursor string, limit int) (ListPage, error) {
	if limit == 0 {
		limit = defaultListLimit
	}
	if limit < 0 || limit > MaxListLimit {
		return ListPage{}, fmt.Errorf("%w: list limit %d, want 1 to %d", ErrInvalidArgument, limit, MaxListLimit)
	}
	p := ListPage{Limit: limit + 1}
	if cursor != "" {
		var err error
		if p.AfterCreated, p.AfterID, err = decodeListCursor(cursor); err != nil {
			return ListPage{}, err
		}
	}
	return p, nil
}

// encodeListCursor and decodeListCursor make a list position opaque.
func encodeListCursor(created time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(created.UTC().Format(time.RFC3339Nano) + "|" + id))
}

func decodeListCursor(s string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	ts, id, ok := strings.Cut(string(b), "|")
	if err != nil || !ok || id == "" {
		return time.Time{}, "", fmt.Errorf("%w: malformed list cursor", ErrInvalidArgument)
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("%w: malformed list cursor", ErrInvalidArgument)
	}
	return t, id, nil
}

// Revoke revokes the organisation's key id; it fails with ErrNotFound if
// the organisation has no such key, so one tenant cannot revoke another's.
func (a *APIKeys) Revoke(ctx context.Context, org, id string) error {
	if err := a.store.RevokeAPIKey(ctx, org, id, a.cfg.now()); err != nil {
		return fmt.Errorf("authn: revoke api key: %w", err)
	}
	return nil
}

// StaticPepper is a Pepper over fixed HMAC-SHA-256 keys, primary first, for
// hosts that do not use rampart's keyring (and for tests). Each key must be
// at least 32 bytes; load them from a secret manager, never from the
// database that holds the hashes.
type StaticPepper struct {
	// Each key is a redact.Secret: where fmt cannot call Format (a
	// StaticPepper in an unexported field), it prints addresses under every
	// verb, never key bytes.
	keys []redact.Secret[[]byte]
}

// NewStaticPepper returns a Pepper over keys, the first being primary.
func NewStaticPepper(keys ...[]byte) (*StaticPepper, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: pepper needs at least one key", ErrInvalidArgument)
	}
	p := &StaticPepper{}
	for i, k := range keys {
		if len(k) < 32 {
			return nil, fmt.Errorf("%w: pepper key %d is shorter than 32 bytes", ErrInvalidArgument, i)
		}
		p.keys = append(p.keys, redact.New(bytes.Clone(k), ""))
	}
	return p, nil
}

// Sum is HMAC-SHA-256 of value under the primary key.
func (p *StaticPepper) Sum(value []byte) []byte { return hmacSum(p.keys[0].Reveal(), value) }

// Sums is HMAC-SHA-256 of value under every key, primary first.
func (p *StaticPepper) Sums(value []byte) [][]byte {
	out := make([][]byte, len(p.keys))
	for i, k := range p.keys {
		out[i] = hmacSum(k.Reveal(), value)
	}
	return out
}

// String never prints the keys.
func (StaticPepper) String() string { return "authn.StaticPepper(redacted)" }

// Format prints String for every verb: without it %d or %x would print the
// key bytes.
func (p StaticPepper) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, p.String()) }

func hmacSum(key, value []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(value)
	return m.Sum(nil)
}
