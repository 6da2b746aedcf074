// Package pgstore is the PostgreSQL adapter of authn.Store (pgx/v5).
//
// Apply the schema with Migrate (or with goose/migrate from the embedded
// migrations/ files), then pass the Store that New(pool) returns to authn's
// managers. The operations that must hold across application instances are
// serialised by PostgreSQL itself: a magic link is consumed with a single
// UPDATE ... WHERE consumed_at IS NULL RETURNING, so of two concurrent
// clicks exactly one gets the row; the per-email issue limit counts and
// inserts under a transaction-scoped advisory lock on the email; a session
// token is rotated with UPDATE ... WHERE token_hash = old; the login
// throttle locks the rows of an attempt's buckets (SELECT ... FOR UPDATE, in
// key order) and counts in the same transaction. The lookups every request
// makes are coalesced under load (see Store).
//
// # Inside the host's transaction
//
// store.WithTx(tx) returns the store bound to a pgx.Tx of the host's, so the
// host commits its own change and authn's in one transaction: revoke a
// user's sessions and API keys together with the row that disables the
// user, and neither happens without the other.
//
//	tx, err := pool.Begin(ctx)
//	// ... the host's own writes on tx ...
//	sessions, _ := authn.NewSessions(store.WithTx(tx))
//	_, err = sessions.RevokeAll(ctx, org, userID)
//	// ... then tx.Commit(ctx): both or neither.
//
// Every operation joins tx. InsertMagicLink and TakeThrottle, which need a
// transaction of their own, run in a savepoint of tx: their advisory lock
// and row locks are then held until the host's transaction ends. A refused
// or failed operation leaves tx usable; a duplicate insert is reported as
// authn.ErrConflict without aborting tx.
//
// What does not join a caller's transaction, by design:
//   - Coalescing. A pool-bound store answers the session and API key lookups
//     of many requests with one query on a connection of its own; that query
//     serves callers in different transactions, so it can be in none of
//     them. A bound store runs each lookup on tx instead, uncoalesced, and
//     sees what tx wrote. Authenticate requests with the pool-bound store.
//   - The login throttle's purpose. TakeThrottle on a bound store counts an
//     attempt only if the host commits; a host that rolls back after a
//     failed login forgets the failure. Throttle logins on the pool-bound
//     store.
//
// # Row-level security (an option)
//
// Protect (or ProtectSQL, for goose or golang-migrate), run after Migrate
// by the migration role, puts authn_api_keys, authn_sessions and
// authn_org_policies under tenant/pgstore's policy: the application role
// sees and writes only the rows of the organisation bound in rampart.org,
// and none when nothing is bound. A store made with WithTenantBinding binds
// it for every organisation-scoped operation: the context's organisation
// (tenant.With, which rbac's router sets) when it has one, else the
// operation's. So a handler bound to organisation A that passes B's session
// or key IDs gets ErrNotFound from the database, not from a WHERE clause that
// might have been forgotten. A store bound to a caller's transaction that is
// already bound (tenant/pgstore.Run) trusts that binding.
//
// Lookups made before any organisation is known cannot be bound. They go
// through SECURITY DEFINER functions owned by the migration role, pinned to
// the schema (SET search_path), executable by the application role alone
// and answering exact keys only: authn_dir_sessions (sessions by token hash,
// with the organisation's SSO requirement), authn_dir_api_keys (keys by
// public ID), authn_dir_session_org and authn_dir_api_key_org (the
// organisation of one session or key ID, which the store then binds for
// touching, rotating or marking MFA on it), and authn_sweep_sessions (deletes
// expired sessions of every organisation, returns a count). What they expose
// to the application role: a session's row to the holder of its token's
// hash, a key's row (its hash, never the key) to the holder of its public
// ID, and the organisation of a session or key ID. They list nothing and
// match no pattern.
//
// Not protected, by design: authn_magic_links (a link exists before any
// organisation, may have none, and its issue limit counts per email across
// organisations) and authn_throttle (keyed by a login hash or an address,
// with no organisation). Both hold hashes only. Under tenant binding a
// session and an organisation policy need an organisation: the empty one is
// refused with authn.ErrInvalidArgument (authntest.WithOrganisationRequired).
// The cost (docs/BENCHMARKS.md, BenchmarkAuthnRLS): a bound operation on a
// pool is a transaction (BEGIN with the setting in one round trip, the
// statement, COMMIT), about 2x a single statement for a page of sessions;
// touching, rotating or marking a session by ID adds the directory round
// trip when the context carries no organisation (2.5-3.8x); the lookup by
// token hash stays one round trip but the SECURITY DEFINER function call
// costs about 35 us of server time (1.8-2.1x on a local server). Under load
// the coalescer answers many lookups with one call.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/internal/pgmigrate"
	"github.com/rampart-sdk/rampart/internal/pgq"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies authn's schema to the pool's current schema. It is
// idempotent and safe to call from several instances at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Apply(ctx, pool, "authn", Migrations())
}

// Migrations returns the schema as goose-compatible SQL files, for hosts that
// apply migrations with their own tool.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sub
}

// Store is authn.Store on PostgreSQL, plus WithTx. New returns it; the
// concrete type is unexported because its methods only restate authn's
// store interfaces.
//
// The two lookups every authenticated request makes, a session by token
// hash and an API key by public ID, are coalesced: while a few such queries
// are in flight, further lookups queue and the next query answers all of
// them at once (WHERE ... = ANY($1)). Under load that keeps a handful of
// backends busy instead of one per request, which is what holds the tail
// latency down on a small server; when idle, a lookup runs at once, alone.
// A lookup is only ever answered by a query that started after it was made,
// so a revocation that committed before a request is always seen by it.
//
// A Store from New runs on its pool; WithTx returns one bound to a
// transaction of the caller's (see the package documentation).
type Store interface {
	authn.Store

	// WithTx returns a store bound to tx: every operation runs in the
	// caller's transaction and commits or rolls back with it, and an
	// operation that needs a transaction of its own (InsertMagicLink,
	// TakeThrottle) runs in a savepoint of tx, so when it fails the
	// caller's transaction is still usable. Lookups by token hash and key
	// ID are not coalesced on a bound store: they run on tx, alone, and see
	// what tx wrote.
	//
	// Like tx itself, the returned store is for one goroutine at a time.
	// Once tx has committed or rolled back, every operation returns an
	// error that matches pgx.ErrTxClosed; a nil tx gives the same.
	WithTx(tx pgx.Tx) Store
}

// store is the Store that New returns.
type store struct {
	q        pgq.Querier
	sessions *coalescer[authn.SessionRecord] // nil when bound to a transaction
	keys     *coalescer[authn.APIKeyRecord]  // nil when bound to a transaction
	tenant   bool                            // WithTenantBinding
}

var _ Store = (*store)(nil)

// Option configures a Store.
type Option func(*storeConfig)

type storeConfig struct {
	lookups int
	tenant  bool
	err     error // the first invalid option, in argument order
}

// invalid records the first invalid option.
func (c *storeConfig) invalid(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: authn/pgstore."+format, append([]any{authn.ErrInvalidConfig}, args...)...)
	}
}

// WithLookupConcurrency sets how many session or API key lookup queries may
// run at once before further lookups are batched: 1 to 64 (default 2, or 1
// if the pool has fewer than 8 connections). A database server with many
// cores may take more; 1 puts every lookup behind one query at a time. A
// value outside 1..64 makes New fail with authn.ErrInvalidConfig.
func WithLookupConcurrency(n int) Option {
	return func(c *storeConfig) {
		if n < minLookupConcurrency || n > maxLookupConcurrency {
			c.invalid("WithLookupConcurrency(%d): must be %d to %d", n, minLookupConcurrency, maxLookupConcurrency)
			return
		}
		c.lookups = n
	}
}

// The range of WithLookupConcurrency. Above 64 the coalescer no longer
// protects the server: the queries would take a backend each.
const minLookupConcurrency, maxLookupConcurrency = 1, 64

// Lookups wider than this are split: a query stays small enough to plan and
// answer quickly.
const maxLookupBatch = 128

// lookupTimeout bounds a batched lookup query, which serves several callers
// and so cannot use any one caller's deadline.
const lookupTimeout = 10 * time.Second

// New returns a Store over pool; run Migrate first. A nil pool, a nil
// option or an option out of its documented range is an error wrapping
// authn.ErrInvalidConfig that names it.
func New(pool *pgxpool.Pool, opts ...Option) (Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: authn/pgstore.New: nil pool", authn.ErrInvalidConfig)
	}
	cfg := storeConfig{lookups: min(2, max(1, int(pool.Config().MaxConns)/4))}
	for i, o := range opts {
		if o == nil {
			cfg.invalid("New: option %d is nil", i)
			continue
		}
		o(&cfg)
	}
	if cfg.err != nil {
		return nil, cfg.err
	}
	s := &store{q: pool, tenant: cfg.tenant}
	s.sessions = &coalescer[authn.SessionRecord]{
		fetch: s.sessionsByTokenHash, clone: cloneSession,
		limit: cfg.lookups, maxBatch: maxLookupBatch, timeout: lookupTimeout,
	}
	s.keys = &coalescer[authn.APIKeyRecord]{
		fetch: s.apiKeysByID, clone: cloneAPIKey,
		limit: cfg.lookups, maxBatch: maxLookupBatch, timeout: lookupTimeout,
	}
	return s, nil
}

// WithTx implements Store.
func (s *store) WithTx(tx pgx.Tx) Store {
	return &store{q: pgq.Tx(tx), tenant: s.tenant}
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func wrap(op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("authn/pgstore: %s: %w", op, authn.ErrConflict)
	}
	return fmt.Errorf("authn/pgstore: %s: %w", op, err)
}

// CreateAPIKey implements authn.APIKeyStore.
func (s *store) CreateAPIKey(ctx context.Context, r authn.APIKeyRecord) error {
	if err := s.needOrg("create api key", r.Org); err != nil {
		return err
	}
	scopes := r.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	// ON CONFLICT DO NOTHING, not a unique violation: a duplicate must not
	// abort the transaction of a caller the store is bound to.
	var tag pgconn.CommandTag
	err := s.inOrg(ctx, r.Org, func(q pgq.Querier) (err error) {
		tag, err = q.Exec(ctx, `INSERT INTO authn_api_keys
		(id, prefix, org, owner, name, scopes, hash_alg, hash, created_at, expires_at, last_used_at, revoked_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT DO NOTHING`,
			r.ID, r.Prefix, r.Org, r.Owner, r.Name, scopes, r.HashAlg, r.Hash, r.CreatedAt,
			nullTime(r.ExpiresAt), nullTime(r.LastUsedAt), nullTime(r.RevokedAt))
		return err
	})
	if err != nil {
		return wrap("create api key", err)
	}
	if tag.RowsAffected() == 0 {
		return wrap("create api key", authn.ErrConflict)
	}
	return nil
}

const keyColumns = `id, prefix, org, owner, name, scopes, hash_alg, hash, created_at, expires_at, last_used_at, revoked_at`

func scanKey(row pgx.Row) (authn.APIKeyRecord, error) {
	var r authn.APIKeyRecord
	var exp, used, rev *time.Time
	if err := row.Scan(&r.ID, &r.Prefix, &r.Org, &r.Owner, &r.Name, &r.Scopes, &r.HashAlg, &r.Hash,
		&r.CreatedAt, &exp, &used, &rev); err != nil {
		return r, err
	}
	r.CreatedAt = r.CreatedAt.UTC()
	r.ExpiresAt, r.LastUsedAt, r.RevokedAt = fromNull(exp), fromNull(used), fromNull(rev)
	return r, nil
}

// APIKeyByID implements authn.APIKeyStore.
func (s *store) APIKeyByID(ctx context.Context, id string) (authn.APIKeyRecord, error) {
	if s.keys == nil {
		return lookupDirect(ctx, s.apiKeysByID, "api key by id", id)
	}
	return lookupOne(ctx, s.keys, "api key by id", id)
}

func (s *store) apiKeysByID(ctx context.Context, ids []string) (map[string]authn.APIKeyRecord, error) {
	sel := `SELECT ` + keyColumns + ` FROM authn_api_keys `
	if s.tenant {
		sel = `SELECT ` + keyColumns + ` FROM authn_dir_api_keys($1::text[]) `
	}
	key := func(r authn.APIKeyRecord) string { return r.ID }
	// An ID that text cannot hold (a NUL byte, invalid UTF-8) names no key.
	// Sent in the query it would fail the lookups of every caller that
	// shares it, so it is left out: its caller alone gets ErrNotFound.
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0 })
	if len(ids) == 0 {
		return map[string]authn.APIKeyRecord{}, nil
	}
	if s.tenant {
		rows, err := s.q.Query(ctx, sel, ids)
		return rowsByKey(rows, err, scanKey, key)
	}
	if len(ids) == 1 {
		rows, err := s.q.Query(ctx, sel+`WHERE id = $1`, ids[0])
		return rowsByKey(rows, err, scanKey, key)
	}
	rows, err := s.q.Query(ctx, sel+`WHERE id = ANY($1::text[])`, ids)
	return rowsByKey(rows, err, scanKey, key)
}

// lookupOne answers one key through c: the record, ErrNotFound, or the
// store's error.
func lookupOne[V any](ctx context.Context, c *coalescer[V], op, key string) (V, error) {
	r, ok, err := c.get(ctx, key)
	var zero V
	if err != nil {
		return zero, wrap(op, err)
	}
	if !ok {
		return zero, authn.ErrNotFound
	}
	return r, nil
}

// lookupDirect answers one key with its own query, on the store's
// transaction: a store bound to a transaction reads what that transaction
// wrote, which a coalesced query on another connection could not.
func lookupDirect[V any](ctx context.Context, fetch func(context.Context, []string) (map[string]V, error), op, key string) (V, error) {
	vals, err := fetch(ctx, []string{key})
	var zero V
	if err != nil {
		return zero, wrap(op, err)
	}
	r, ok := vals[key]
	if !ok {
		return zero, authn.ErrNotFound
	}
	return r, nil
}

// rowsByKey scans the result of a query and indexes the records by key.
func rowsByKey[V any](rows pgx.Rows, err error, scan func(pgx.Row) (V, error), key func(V) string) (map[string]V, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]V{}
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out[key(r)] = r
	}
	return out, rows.Err()
}

func cloneAPIKey(r authn.APIKeyRecord) authn.APIKeyRecord {
	r.Scopes = slices.Clone(r.Scopes)
	r.Hash = slices.Clone(r.Hash)
	return r
}

// pageAfter binds a page's position to a (created_at, id) keyset condition;
// the start is minus infinity and the empty ID, before every row.
func pageAfter(p authn.ListPage) (any, string) {
	if p.AfterID == "" && p.AfterCreated.IsZero() {
		return pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}, ""
	}
	return p.AfterCreated, p.AfterID
}

// ListAPIKeys implements authn.APIKeyStore.
func (s *store) ListAPIKeys(ctx context.Context, org string, p authn.ListPage) ([]authn.APIKeyRecord, error) {
	after, id := pageAfter(p)
	var out []authn.APIKeyRecord
	err := s.inOrg(ctx, org, func(q pgq.Querier) error {
		rows, err := q.Query(ctx, `SELECT `+keyColumns+` FROM authn_api_keys
		WHERE org = $1 AND (created_at, id) > ($2::timestamptz, $3::text) ORDER BY created_at, id LIMIT $4`,
			org, after, id, max(p.Limit, 0))
		out, err = collect(rows, err, scanKey)
		return err
	})
	if err != nil {
		return nil, wrap("list api keys", err)
	}
	return out, nil
}

// RevokeAPIKey implements authn.APIKeyStore.
func (s *store) RevokeAPIKey(ctx context.Context, org, id string, at time.Time) error {
	tag, err := s.exec(ctx, org, `UPDATE authn_api_keys SET revoked_at = COALESCE(revoked_at, $3)
		WHERE org = $1 AND id = $2`, org, id, at)
	if err != nil {
		return wrap("revoke api key", err)
	}
	if tag.RowsAffected() == 0 {
		return authn.ErrNotFound
	}
	return nil
}

// TouchAPIKey implements authn.APIKeyStore.
func (s *store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.execOf(ctx, "authn_dir_api_key_org", id, `UPDATE authn_api_keys SET last_used_at = $2
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`, id, at)
	if err != nil && !errors.Is(err, errNoRow) {
		return wrap("touch api key", err)
	}
	return nil
}

// InsertMagicLink implements authn.MagicLinkStore. The count and the insert
// run in one transaction holding an advisory lock on the email, so
// concurrent requests on any number of instances cannot exceed the limit.
func (s *store) InsertMagicLink(ctx context.Context, r authn.MagicLinkRecord, limit int, since time.Time) error {
	err := pgx.BeginFunc(ctx, s.q, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('rampart.authn.magic:' || $1, 0))`, r.Email); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM authn_magic_links WHERE email = $1 AND created_at >= $2`,
			r.Email, since).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			return authn.ErrRateLimited
		}
		_, err := tx.Exec(ctx, `INSERT INTO authn_magic_links (token_hash, org, email, purpose, created_at, expires_at, consumed_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7)`, r.TokenHash, r.Org, r.Email, r.Purpose, r.CreatedAt, r.ExpiresAt, nullTime(r.ConsumedAt))
		return err
	})
	if errors.Is(err, authn.ErrRateLimited) {
		return authn.ErrRateLimited
	}
	if err != nil {
		return wrap("insert magic link", err)
	}
	return nil
}

// ConsumeMagicLink implements authn.MagicLinkStore with one conditional
// UPDATE: PostgreSQL's row lock lets exactly one concurrent caller see
// consumed_at IS NULL.
func (s *store) ConsumeMagicLink(ctx context.Context, tokenHash []byte, at time.Time) (authn.MagicLinkRecord, error) {
	r := authn.MagicLinkRecord{TokenHash: tokenHash}
	var consumed *time.Time
	err := s.q.QueryRow(ctx, `UPDATE authn_magic_links SET consumed_at = $2
		WHERE token_hash = $1 AND consumed_at IS NULL
		RETURNING org, email, purpose, created_at, expires_at, consumed_at`, tokenHash, at).
		Scan(&r.Org, &r.Email, &r.Purpose, &r.CreatedAt, &r.ExpiresAt, &consumed)
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if err := s.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM authn_magic_links WHERE token_hash = $1)`, tokenHash).Scan(&exists); err != nil {
			return authn.MagicLinkRecord{}, wrap("consume magic link", err)
		}
		if exists {
			return authn.MagicLinkRecord{}, authn.ErrAlreadyConsumed
		}
		return authn.MagicLinkRecord{}, authn.ErrNotFound
	}
	if err != nil {
		return authn.MagicLinkRecord{}, wrap("consume magic link", err)
	}
	r.CreatedAt, r.ExpiresAt, r.ConsumedAt = r.CreatedAt.UTC(), r.ExpiresAt.UTC(), fromNull(consumed)
	return r, nil
}

// DeleteMagicLinksBefore implements authn.MagicLinkStore.
func (s *store) DeleteMagicLinksBefore(ctx context.Context, t time.Time) (int, error) {
	tag, err := s.q.Exec(ctx, `DELETE FROM authn_magic_links WHERE expires_at < $1`, t)
	if err != nil {
		return 0, wrap("delete magic links", err)
	}
	return int(tag.RowsAffected()), nil
}

// CreateSession implements authn.SessionStore.
func (s *store) CreateSession(ctx context.Context, r authn.SessionRecord) error {
	if err := s.needOrg("create session", r.Org); err != nil {
		return err
	}
	tag, err := s.exec(ctx, r.Org, `INSERT INTO authn_sessions
		(id, token_hash, org, user_id, method, ip, user_agent, created_at, last_seen_at, expires_at, mfa_verified_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT DO NOTHING`,
		r.ID, r.TokenHash, r.Org, r.UserID, r.Method, r.IP, r.UserAgent, r.CreatedAt, r.LastSeenAt, r.ExpiresAt, nullTime(r.MFAVerifiedAt))
	if err != nil {
		return wrap("create session", err)
	}
	if tag.RowsAffected() == 0 { // id or token hash taken; see CreateAPIKey
		return wrap("create session", authn.ErrConflict)
	}
	return nil
}

const sessionColumns = `id, token_hash, org, user_id, method, ip, user_agent, created_at, last_seen_at, expires_at, mfa_verified_at`

func scanSession(row pgx.Row) (authn.SessionRecord, error) {
	var r authn.SessionRecord
	var mfa *time.Time
	if err := row.Scan(&r.ID, &r.TokenHash, &r.Org, &r.UserID, &r.Method, &r.IP, &r.UserAgent,
		&r.CreatedAt, &r.LastSeenAt, &r.ExpiresAt, &mfa); err != nil {
		return r, err
	}
	r.CreatedAt, r.LastSeenAt, r.ExpiresAt, r.MFAVerifiedAt = r.CreatedAt.UTC(), r.LastSeenAt.UTC(), r.ExpiresAt.UTC(), fromNull(mfa)
	return r, nil
}

// SessionByTokenHash implements authn.SessionStore.
func (s *store) SessionByTokenHash(ctx context.Context, tokenHash []byte) (authn.SessionRecord, error) {
	if s.sessions == nil {
		return lookupDirect(ctx, s.sessionsByTokenHash, "session by token", string(tokenHash))
	}
	return lookupOne(ctx, s.sessions, "session by token", string(tokenHash))
}

// sessionLookup reads sessions with their organisation's SSO requirement,
// in one query: the policy join costs a primary-key probe, not a round
// trip.
var sessionLookup = `SELECT s.` + strings.ReplaceAll(sessionColumns, ", ", ", s.") +
	`, (s.org <> '' AND COALESCE(p.password_login_disabled, false))
	FROM authn_sessions s LEFT JOIN authn_org_policies p ON p.org = s.org `

func scanSessionWithPolicy(row pgx.Row) (authn.SessionRecord, error) {
	var r authn.SessionRecord
	var mfa *time.Time
	if err := row.Scan(&r.ID, &r.TokenHash, &r.Org, &r.UserID, &r.Method, &r.IP, &r.UserAgent,
		&r.CreatedAt, &r.LastSeenAt, &r.ExpiresAt, &mfa, &r.OrgRequiresSSO); err != nil {
		return r, err
	}
	r.CreatedAt, r.LastSeenAt, r.ExpiresAt, r.MFAVerifiedAt = r.CreatedAt.UTC(), r.LastSeenAt.UTC(), r.ExpiresAt.UTC(), fromNull(mfa)
	return r, nil
}

func (s *store) sessionsByTokenHash(ctx context.Context, hashes []string) (map[string]authn.SessionRecord, error) {
	key := func(r authn.SessionRecord) string { return string(r.TokenHash) }
	if len(hashes) == 1 && !s.tenant {
		rows, err := s.q.Query(ctx, sessionLookup+`WHERE s.token_hash = $1`, []byte(hashes[0]))
		return rowsByKey(rows, err, scanSessionWithPolicy, key)
	}
	arg := make([][]byte, len(hashes))
	for i, h := range hashes {
		arg[i] = []byte(h)
	}
	if s.tenant {
		rows, err := s.q.Query(ctx, `SELECT * FROM authn_dir_sessions($1::bytea[])`, arg)
		return rowsByKey(rows, err, scanSessionWithPolicy, key)
	}
	rows, err := s.q.Query(ctx, sessionLookup+`WHERE s.token_hash = ANY($1::bytea[])`, arg)
	return rowsByKey(rows, err, scanSessionWithPolicy, key)
}

func cloneSession(r authn.SessionRecord) authn.SessionRecord {
	r.TokenHash = slices.Clone(r.TokenHash)
	return r
}

// SessionByID implements authn.SessionStore.
func (s *store) SessionByID(ctx context.Context, id string) (authn.SessionRecord, error) {
	var r authn.SessionRecord
	err := s.inOrgOf(ctx, "authn_dir_session_org", id, func(q pgq.Querier) (err error) {
		r, err = scanSession(q.QueryRow(ctx, `SELECT `+sessionColumns+` FROM authn_sessions WHERE id = $1`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, errNoRow) {
		return authn.SessionRecord{}, authn.ErrNotFound
	}
	if err != nil {
		return authn.SessionRecord{}, wrap("session by id", err)
	}
	return r, nil
}

// TouchSession implements authn.SessionStore.
func (s *store) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := s.execOf(ctx, "authn_dir_session_org", id, `UPDATE authn_sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2`, id, at)
	if err != nil && !errors.Is(err, errNoRow) {
		return wrap("touch session", err)
	}
	return nil
}

// RotateSessionToken implements authn.SessionStore.
func (s *store) RotateSessionToken(ctx context.Context, id string, oldHash, newHash []byte, at time.Time) error {
	tag, err := s.execOf(ctx, "authn_dir_session_org", id, `UPDATE authn_sessions SET token_hash = $3, last_seen_at = GREATEST(last_seen_at, $4)
		WHERE id = $1 AND token_hash = $2`, id, oldHash, newHash, at)
	if errors.Is(err, errNoRow) {
		return authn.ErrNotFound
	}
	if err != nil {
		return wrap("rotate session", err)
	}
	if tag.RowsAffected() == 0 {
		return authn.ErrNotFound
	}
	return nil
}

// SetSessionMFAVerified implements authn.SessionStore.
func (s *store) SetSessionMFAVerified(ctx context.Context, id string, at time.Time) error {
	tag, err := s.execOf(ctx, "authn_dir_session_org", id, `UPDATE authn_sessions SET mfa_verified_at = $2 WHERE id = $1`, id, at)
	if errors.Is(err, errNoRow) {
		return authn.ErrNotFound
	}
	if err != nil {
		return wrap("set session mfa", err)
	}
	if tag.RowsAffected() == 0 {
		return authn.ErrNotFound
	}
	return nil
}

// ListSessions implements authn.SessionStore.
func (s *store) ListSessions(ctx context.Context, org, userID string, p authn.ListPage) ([]authn.SessionRecord, error) {
	after, id := pageAfter(p)
	var out []authn.SessionRecord
	err := s.inOrg(ctx, org, func(q pgq.Querier) error {
		rows, err := q.Query(ctx, `SELECT `+sessionColumns+` FROM authn_sessions
		WHERE org = $1 AND user_id = $2 AND (created_at, id) > ($3::timestamptz, $4::text) ORDER BY created_at, id LIMIT $5`,
			org, userID, after, id, max(p.Limit, 0))
		out, err = collect(rows, err, scanSession)
		return err
	})
	if err != nil {
		return nil, wrap("list sessions", err)
	}
	return out, nil
}

// DeleteSession implements authn.SessionStore.
func (s *store) DeleteSession(ctx context.Context, org, userID, id string) error {
	tag, err := s.exec(ctx, org, `DELETE FROM authn_sessions WHERE org = $1 AND user_id = $2 AND id = $3`, org, userID, id)
	if err != nil {
		return wrap("delete session", err)
	}
	if tag.RowsAffected() == 0 {
		return authn.ErrNotFound
	}
	return nil
}

// DeleteUserSessions implements authn.SessionStore.
func (s *store) DeleteUserSessions(ctx context.Context, org, userID, exceptID string) (int, error) {
	tag, err := s.exec(ctx, org, `DELETE FROM authn_sessions WHERE org = $1 AND user_id = $2 AND id <> $3`, org, userID, exceptID)
	if err != nil {
		return 0, wrap("delete user sessions", err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteSessionsBefore implements authn.SessionStore.
func (s *store) DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error) {
	if s.tenant {
		// Expired sessions of every organisation: the sweep runs before
		// and outside any of them, through a function that deletes and
		// returns nothing but a count.
		var n int64
		if err := s.q.QueryRow(ctx, `SELECT authn_sweep_sessions($1)`, t).Scan(&n); err != nil {
			return 0, wrap("delete sessions", err)
		}
		return int(n), nil
	}
	tag, err := s.q.Exec(ctx, `DELETE FROM authn_sessions WHERE expires_at < $1`, t)
	if err != nil {
		return 0, wrap("delete sessions", err)
	}
	return int(tag.RowsAffected()), nil
}

// OrgPolicy implements authn.PolicyStore.
func (s *store) OrgPolicy(ctx context.Context, org string) (authn.OrgPolicy, error) {
	var p authn.OrgPolicy
	err := s.inOrg(ctx, org, func(q pgq.Querier) error {
		return q.QueryRow(ctx, `SELECT password_login_disabled FROM authn_org_policies WHERE org = $1`, org).Scan(&p.PasswordLoginDisabled)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return authn.OrgPolicy{}, nil
	}
	if err != nil {
		return p, wrap("org policy", err)
	}
	return p, nil
}

// SetOrgPolicy implements authn.PolicyStore.
func (s *store) SetOrgPolicy(ctx context.Context, org string, p authn.OrgPolicy) error {
	if err := s.needOrg("set org policy", org); err != nil {
		return err
	}
	_, err := s.exec(ctx, org, `INSERT INTO authn_org_policies (org, password_login_disabled) VALUES ($1, $2)
		ON CONFLICT (org) DO UPDATE SET password_login_disabled = EXCLUDED.password_login_disabled`, org, p.PasswordLoginDisabled)
	if err != nil {
		return wrap("set org policy", err)
	}
	return nil
}

// errThrottleFull rolls back an attempt that a full bucket refused.
var errThrottleFull = errors.New("throttle full")

// TakeThrottle implements authn.ThrottleStore in one transaction: the
// buckets are created if missing, locked in key order (SELECT ... FOR
// UPDATE, so concurrent attempts on any instance queue on the same rows and
// cannot deadlock), checked, and counted only if none is full.
func (s *store) TakeThrottle(ctx context.Context, rules []authn.ThrottleRule, at time.Time) (authn.ThrottleResult, error) {
	var res authn.ThrottleResult
	if len(rules) == 0 {
		return res, nil
	}
	keys := make([]string, len(rules))
	for i, r := range rules {
		keys[i] = r.Key
	}
	err := pgx.BeginFunc(ctx, s.q, func(tx pgx.Tx) error {
		res = authn.ThrottleResult{}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO authn_throttle (key, count, window_end)
			SELECT k, 0, $2 FROM unnest($1::text[]) AS k ORDER BY k ON CONFLICT (key) DO NOTHING`, keys, at)
		b.Queue(`SELECT key, count, window_end FROM authn_throttle WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE`, keys)
		br := tx.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return err
		}
		rows, err := br.Query()
		if err != nil {
			_ = br.Close()
			return err
		}
		cur := map[string]authn.ThrottleBucket{}
		for rows.Next() {
			var bk authn.ThrottleBucket
			if err := rows.Scan(&bk.Key, &bk.Count, &bk.WindowEnd); err != nil {
				rows.Close()
				_ = br.Close()
				return err
			}
			cur[bk.Key] = bk
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			_ = br.Close()
			return err
		}
		if err := br.Close(); err != nil {
			return err
		}
		counts := make([]int32, len(rules))
		ends := make([]time.Time, len(rules))
		for i, r := range rules {
			bk := cur[r.Key]
			if !at.Before(bk.WindowEnd) {
				bk = authn.ThrottleBucket{Key: r.Key, WindowEnd: at.Add(r.Window)}
			}
			if bk.Count >= r.Limit {
				res.RetryAfter = max(res.RetryAfter, bk.WindowEnd.Sub(at))
			}
			counts[i], ends[i] = int32(bk.Count+1), bk.WindowEnd
			if bk.Count+1 == r.Limit {
				res.Filled = append(res.Filled, r.Key)
			}
		}
		if res.RetryAfter > 0 {
			res.Filled = nil
			return errThrottleFull
		}
		_, err = tx.Exec(ctx, `UPDATE authn_throttle AS t SET count = u.count, window_end = u.window_end
			FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS u(key, count, window_end) WHERE t.key = u.key`,
			keys, counts, ends)
		return err
	})
	if errors.Is(err, errThrottleFull) {
		return res, nil
	}
	if err != nil {
		return authn.ThrottleResult{}, wrap("take throttle", err)
	}
	return res, nil
}

// ThrottleBuckets implements authn.ThrottleStore.
func (s *store) ThrottleBuckets(ctx context.Context, keys []string, at time.Time) ([]authn.ThrottleBucket, error) {
	rows, err := s.q.Query(ctx, `SELECT key, count, window_end FROM authn_throttle
		WHERE key = ANY($1::text[]) AND window_end > $2 ORDER BY key`, keys, at)
	if err != nil {
		return nil, wrap("throttle buckets", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (authn.ThrottleBucket, error) {
		var b authn.ThrottleBucket
		err := row.Scan(&b.Key, &b.Count, &b.WindowEnd)
		b.WindowEnd = b.WindowEnd.UTC()
		return b, err
	})
	if err != nil {
		return nil, wrap("throttle buckets", err)
	}
	if out == nil {
		out = []authn.ThrottleBucket{}
	}
	return out, nil
}

// DeleteThrottle implements authn.ThrottleStore.
func (s *store) DeleteThrottle(ctx context.Context, prefix string) (int, error) {
	if prefix == "" {
		return 0, fmt.Errorf("authn/pgstore: delete throttle: %w: empty prefix", authn.ErrInvalidArgument)
	}
	// starts_with, not LIKE: a prefix is never a pattern.
	tag, err := s.q.Exec(ctx, `DELETE FROM authn_throttle WHERE starts_with(key, $1)`, prefix)
	if err != nil {
		return 0, wrap("delete throttle", err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteThrottleBefore implements authn.ThrottleStore.
func (s *store) DeleteThrottleBefore(ctx context.Context, t time.Time) (int, error) {
	tag, err := s.q.Exec(ctx, `DELETE FROM authn_throttle WHERE window_end < $1`, t)
	if err != nil {
		return 0, wrap("delete throttle", err)
	}
	return int(tag.RowsAffected()), nil
}
