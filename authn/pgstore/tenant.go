package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/internal/pgq"
	"github.com/rampart-sdk/rampart/internal/pgtenant"
	"github.com/rampart-sdk/rampart/tenant"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

// protection is what Protect applies. The organisation-scoped tables are
// API keys, sessions and organisation policies. Magic links and the login
// throttle are not protected: both exist before any organisation is known
// (a magic link may have none, its issue limit counts per email across
// organisations, a throttle bucket is keyed by a login or an address), and
// they hold only hashes of single-use tokens and of logins.
var protection = pgtenant.Spec{
	Tables: []tenantpg.Table{
		{Name: "authn_api_keys", Column: "org"},
		{Name: "authn_sessions", Column: "org"},
		{Name: "authn_org_policies", Column: "org"},
	},
	// Each function answers an exact key and nothing wider: no pattern,
	// no range, no listing. The lookups are plpgsql, whose statements keep
	// their plans for the session: a SQL function that is not inlined (and
	// SECURITY DEFINER ones never are) is planned again on every call; in a
	// server-side loop of 5,000 lookups the SQL version took 67 us a call,
	// the plpgsql one 40 us, the bare query 5 us (docs/BENCHMARKS.md).
	Functions: `
CREATE OR REPLACE FUNCTION {schema}.authn_dir_sessions(hashes bytea[])
RETURNS TABLE (id text, token_hash bytea, org text, user_id text, method text, ip text, user_agent text,
	created_at timestamptz, last_seen_at timestamptz, expires_at timestamptz, mfa_verified_at timestamptz, requires_sso boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
BEGIN
	RETURN QUERY SELECT s.id, s.token_hash, s.org, s.user_id, s.method, s.ip, s.user_agent, s.created_at, s.last_seen_at,
	       s.expires_at, s.mfa_verified_at, (s.org <> '' AND COALESCE(p.password_login_disabled, false))
	FROM authn_sessions s LEFT JOIN authn_org_policies p ON p.org = s.org
	WHERE s.token_hash = ANY (hashes);
END
$$;
CREATE OR REPLACE FUNCTION {schema}.authn_dir_api_keys(ids text[])
RETURNS SETOF {schema}.authn_api_keys
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
BEGIN
	RETURN QUERY SELECT * FROM authn_api_keys k WHERE k.id = ANY (ids);
END
$$;
CREATE OR REPLACE FUNCTION {schema}.authn_dir_session_org(session_id text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
BEGIN
	RETURN (SELECT s.org FROM authn_sessions s WHERE s.id = session_id);
END
$$;
CREATE OR REPLACE FUNCTION {schema}.authn_dir_api_key_org(key_id text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
BEGIN
	RETURN (SELECT k.org FROM authn_api_keys k WHERE k.id = key_id);
END
$$;
CREATE OR REPLACE FUNCTION {schema}.authn_sweep_sessions(before timestamptz) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
	WITH d AS (DELETE FROM authn_sessions WHERE expires_at < before RETURNING 1) SELECT count(*) FROM d
$$;
`,
	Signatures: []string{"authn_dir_sessions(bytea[])", "authn_dir_api_keys(text[])", "authn_dir_session_org(text)",
		"authn_dir_api_key_org(text)", "authn_sweep_sessions(timestamptz)"},
}

// ProtectedTables returns the tables Protect puts under row-level security;
// rampart doctor checks them once any of them is protected.
func ProtectedTables() []string { return protection.Names() }

// ProtectSQL returns the statements Protect runs, for hosts that apply
// migrations with goose or golang-migrate (in a goose file, between
// "-- +goose StatementBegin" and "-- +goose StatementEnd": they hold
// dollar-quoted bodies): row-level security on authn's
// organisation-scoped tables in schema, and its directory functions, which
// only appRole may call. Apply it after Migrations, as the tables' owner.
func ProtectSQL(schema, appRole string) (string, error) {
	return protection.SQL(schema, appRole)
}

// Protect puts authn's organisation-scoped tables (API keys, sessions,
// organisation policies) in the pool's current schema under row-level
// security, keyed on the rampart.org setting as tenant/pgstore.Protect
// does, and creates the directory functions that a store with
// WithTenantBinding calls; appRole, the role the application logs in as, is
// the only one granted EXECUTE on them. Run it after Migrate, as the
// tables' owner (the migration role), never as appRole. It is idempotent.
func Protect(ctx context.Context, db tenantpg.Beginner, appRole string) error {
	if err := protection.Apply(ctx, db, appRole); err != nil {
		return wrap("protect", err)
	}
	return nil
}

// WithTenantBinding makes the store run every organisation-scoped
// operation bound to its organisation, for tables that Protect put under
// row-level security. The organisation is the context's (tenant.With) when
// it has one, else the operation's own: a request bound to organisation A
// whose code passes organisation B's IDs gets ErrNotFound or an empty list,
// from the database. A pool-bound store opens a transaction per operation
// (tenant/pgstore.Run); a store bound to a caller's transaction (WithTx)
// runs in the caller's binding when it has one, else binds the operation's
// organisation in a savepoint for that operation only (tenant/pgstore.RunFor).
// Lookups that come before any organisation (a session by token hash, an API
// key by ID) go through the directory functions, exact key by exact key.
// A session, API key or policy of the empty organisation is refused with an
// error matching authn.ErrInvalidArgument and tenant.ErrInvalidOrg.
func WithTenantBinding() Option {
	return func(c *storeConfig) { c.tenant = true }
}

// inOrg runs fn on the store's querier, bound to org under tenant binding
// (pgtenant.InOrg).
func (s *store) inOrg(ctx context.Context, org string, fn func(q pgq.Querier) error) error {
	return pgtenant.InOrg(ctx, s.tenant, s.q, org, fn)
}

// errNoRow: the directory knows no row with that key.
var errNoRow = errors.New("no such row")

// inOrgOf runs fn bound to the organisation of the row whose key is id,
// which dirFunc (a directory function) names; the context's organisation,
// when it has one, is bound instead. A key that the directory does not know
// returns errNoRow without running fn.
func (s *store) inOrgOf(ctx context.Context, dirFunc, id string, fn func(q pgq.Querier) error) error {
	if !s.tenant {
		return fn(s.q)
	}
	org, ok := tenant.From(ctx)
	if !ok {
		var found *string
		if err := s.q.QueryRow(ctx, `SELECT `+dirFunc+`($1)`, id).Scan(&found); err != nil {
			return err
		}
		if found == nil {
			return errNoRow
		}
		org = *found
	}
	return s.inOrg(ctx, org, fn)
}

// exec runs one statement for org (see inOrg).
func (s *store) exec(ctx context.Context, org, sql string, args ...any) (pgconn.CommandTag, error) {
	return pgtenant.Exec(ctx, s.tenant, s.q, org, sql, args...)
}

// execOf runs one statement for the organisation of the row whose key is
// id (see inOrgOf).
func (s *store) execOf(ctx context.Context, dirFunc, id, sql string, args ...any) (tag pgconn.CommandTag, err error) {
	err = s.inOrgOf(ctx, dirFunc, id, func(q pgq.Querier) error {
		tag, err = q.Exec(ctx, sql, args...)
		return err
	})
	return tag, err
}

// collect scans every row of a query; never nil, so an empty page is [].
func collect[V any](rows pgx.Rows, err error, scan func(pgx.Row) (V, error)) ([]V, error) {
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (V, error) { return scan(r) })
	if out == nil && err == nil {
		out = []V{}
	}
	return out, err
}

// needOrg refuses, before the database, a write of a row without an
// organisation under tenant binding.
func (s *store) needOrg(op, org string) error {
	if err := pgtenant.NeedOrg(s.tenant, org); err != nil {
		return fmt.Errorf("authn/pgstore: %s: %w: %w", op, authn.ErrInvalidArgument, err)
	}
	return nil
}
