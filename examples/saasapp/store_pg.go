package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/tenant"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

// appSchema is the app's own tables. Every row carries its organisation.
// Sealed columns are bytea: keyring envelopes, which the guardrail counts per
// key ID straight from SQL. A real app would keep this in a migration tool;
// IF NOT EXISTS keeps the example idempotent without one.
const appSchema = `
CREATE TABLE IF NOT EXISTS app_orgs (
	id         text PRIMARY KEY,
	name       text NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS app_users (
	id            text PRIMARY KEY,
	org           text NOT NULL REFERENCES app_orgs (id),
	role          text NOT NULL,
	state         text NOT NULL,
	password_hash text NOT NULL DEFAULT '',
	name          bytea,
	email         bytea,
	email_idx     bytea UNIQUE,
	address       bytea,
	tax_id        bytea,
	created_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS app_users_org_page ON app_users (org, created_at, id);
DROP INDEX IF EXISTS app_users_org;
CREATE TABLE IF NOT EXISTS app_payouts (
	id           text PRIMARY KEY,
	org          text NOT NULL,
	amount_cents bigint NOT NULL,
	currency     text NOT NULL,
	bank_account bytea NOT NULL,
	status       text NOT NULL,
	created_by   text NOT NULL,
	approved_by  text NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS app_payouts_org_page ON app_payouts (org, created_at, id);
CREATE TABLE IF NOT EXISTS app_integrations (
	id         text PRIMARY KEY,
	org        text NOT NULL,
	provider   text NOT NULL,
	token      bytea NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS app_integrations_org_page ON app_integrations (org, created_at, id);
CREATE TABLE IF NOT EXISTS app_session_data (
	session_id text PRIMARY KEY,
	org        text NOT NULL,
	user_id    text NOT NULL,
	payload    bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS app_leads (
	id         text PRIMARY KEY,
	org        text NOT NULL,
	payload    bytea NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS app_leads_org_page ON app_leads (org, created_at, id);
CREATE TABLE IF NOT EXISTS app_analytics_events (
	org     text NOT NULL,
	subject text NOT NULL,
	name    text NOT NULL,
	at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS app_analytics_events_subject ON app_analytics_events (org, subject);
CREATE TABLE IF NOT EXISTS app_idempotency_keys (
	org          text NOT NULL,
	principal    text NOT NULL,
	key          text NOT NULL,
	request_hash bytea NOT NULL,
	status       int NOT NULL DEFAULT 0,
	response     bytea,
	created_at   timestamptz NOT NULL,
	PRIMARY KEY (org, principal, key)
);
CREATE INDEX IF NOT EXISTS app_idempotency_keys_org_created ON app_idempotency_keys (org, created_at);
`

// loginDirectorySQL keeps the login directory: the one cross-organisation
// read the app needs. Login knows an email, not an organisation, but
// app_users is under row-level security, forced on its owner too, so no
// query of the application role (nor of a SECURITY DEFINER function owned by
// the table's owner) can search it across organisations. The directory maps
// an email's blind index to its user's (organisation, id), and nothing else;
// a trigger on app_users keeps it in step, and the application role may only
// call app_login_lookup, which answers one email at a time. Its column is
// home_org, not org, because it is a global index by design, not a tenant's
// data: `rampart doctor --tenant-column org` does not ask to protect it.
// %[1]s is the schema, pinned in each SECURITY DEFINER function's
// search_path so that the caller cannot substitute a table of its own.
const loginDirectorySQL = `
CREATE TABLE IF NOT EXISTS app_login_directory (
	email_idx bytea PRIMARY KEY,
	home_org  text NOT NULL,
	user_id   text NOT NULL
);
REVOKE ALL ON app_login_directory FROM PUBLIC;
CREATE OR REPLACE FUNCTION app_login_directory_sync() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = %[1]s, pg_temp AS $$
BEGIN
	IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.email_idx IS NOT NULL THEN
		DELETE FROM app_login_directory WHERE email_idx = OLD.email_idx;
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.email_idx IS NOT NULL THEN
		INSERT INTO app_login_directory (email_idx, home_org, user_id) VALUES (NEW.email_idx, NEW.org, NEW.id);
	END IF;
	RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION app_login_directory_sync() FROM PUBLIC;
DROP TRIGGER IF EXISTS app_users_login_directory ON app_users;
CREATE TRIGGER app_users_login_directory AFTER INSERT OR DELETE OR UPDATE OF email_idx, org, id ON app_users
	FOR EACH ROW EXECUTE FUNCTION app_login_directory_sync();
-- Before app_users is protected (a database created by an older version):
-- the owner still sees every row. Afterwards the trigger keeps it.
INSERT INTO app_login_directory (email_idx, home_org, user_id)
	SELECT email_idx, org, id FROM app_users WHERE email_idx IS NOT NULL ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION app_login_lookup(idx bytea[]) RETURNS TABLE (org text, id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = %[1]s, pg_temp AS $$
	SELECT home_org, user_id FROM app_login_directory WHERE email_idx = ANY (idx) LIMIT 1
$$;
REVOKE ALL ON FUNCTION app_login_lookup(bytea[]) FROM PUBLIC;
`

// protectedTables are the app's organisation-scoped tables, each under
// tenant/pgstore's row-level security on its org column: the store's
// queries on them carry no WHERE org, the database filters them.
var protectedTables = []string{"app_users", "app_payouts", "app_integrations", "app_session_data", "app_leads", "app_analytics_events", "app_idempotency_keys"}

// pgStore is appStore on PostgreSQL. db is the serving pool: the
// application role when DATABASE_APP_URL is set (a role that owns none of
// the tables, so their policies bind it), else the owner's. A store bound
// to a unit of work's transaction (inTx) has tx set and runs every call in
// it, as the organisation org it was bound to.
type pgStore struct {
	db  *pgxpool.Pool
	tx  pgx.Tx
	org string
}

// inTx implements txStore: one transaction bound to orgID (s.as), in which
// fn's store calls and audit records all run.
func (s *pgStore) inTx(ctx context.Context, orgID string, fn func(ctx context.Context, st appStore, tx pgx.Tx) error) error {
	return s.as(ctx, orgID, func(ctx context.Context, tx pgx.Tx) error {
		return fn(ctx, &pgStore{db: s.db, tx: tx, org: orgID}, tx)
	})
}

// q is what single statements outside s.as run on: the bound transaction,
// else the pool.
func (s *pgStore) q() interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
} {
	if s.tx != nil {
		return s.tx
	}
	return s.db
}

// migrateApp creates the app's schema as the owner (DATABASE_URL), puts the
// organisation-scoped tables under row-level security and, when the app
// serves as another role (appRole != ""), grants it what it needs: rows of
// the app's tables and the login lookup, nothing else. Its steps (the schema,
// each table's Protect, the grant) run one transaction each, under the
// session's migration lock (migrationSteps).
func migrateApp(ctx context.Context, db *pgxpool.Pool, appRole string) error {
	return migrationSteps(ctx, db, func(conn *pgxpool.Conn) error {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, appSchema); err != nil {
				return err
			}
			var schema string
			if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(loginDirectorySQL, pgx.Identifier{schema}.Sanitize())); err != nil {
				return fmt.Errorf("login directory: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, t := range protectedTables {
			if err := tenantpg.Protect(ctx, conn, tenantpg.Table{Name: t, Column: "org"}); err != nil {
				return err
			}
		}
		if appRole == "" {
			return nil
		}
		role := pgx.Identifier{appRole}.Sanitize()
		_, err = conn.Exec(ctx, fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE, DELETE ON %[1]s TO %[2]s;
			GRANT SELECT, INSERT ON app_orgs TO %[2]s;
			GRANT EXECUTE ON FUNCTION app_login_lookup(bytea[]) TO %[2]s`, strings.Join(protectedTables, ", "), role))
		if err != nil {
			return fmt.Errorf("grant to %s: %w", appRole, err)
		}
		return nil
	})
}

// errCrossTenant: a store call names another organisation than the one the
// request was authorised for (rbac binds it with tenant.With).
var errCrossTenant = errors.New("saasapp: organisation differs from the authorised one")

// as runs fn in a transaction bound to organisation orgID (tenantpg.Run), so
// row-level security filters every statement of fn to that organisation's
// rows, whatever its WHERE says. In a request rbac has already bound the
// organisation it authorised: a call naming another one is refused. Calls
// outside a request (the authentication middleware, jobs, the public lead
// form) bind the organisation they act for.
func (s *pgStore) as(ctx context.Context, orgID string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	if s.tx != nil {
		// Bound to a unit of work: its transaction is already bound to
		// s.org, and each call runs in it, without a savepoint of its own.
		if orgID != s.org {
			return errCrossTenant
		}
		return fn(ctx, s.tx)
	}
	if bound, ok := tenant.From(ctx); ok {
		if bound != orgID {
			return errCrossTenant
		}
	} else {
		ctx = tenant.With(ctx, orgID)
	}
	return tenantpg.Run(ctx, s.db, fn)
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return errNotFound
	}
	return err
}

func (s *pgStore) CreateOrg(ctx context.Context, o org, owner user) error {
	return s.as(ctx, o.ID, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO app_orgs (id, name, created_at) VALUES ($1, $2, $3)`,
			o.ID, o.Name, o.CreatedAt); err != nil {
			return err
		}
		return insertUser(ctx, tx, owner)
	})
}

func insertUser(ctx context.Context, tx pgx.Tx, u user) error {
	_, err := tx.Exec(ctx, `INSERT INTO app_users (id, org, role, state, password_hash, name, email, email_idx, address, tax_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		u.ID, u.Org, u.Role, u.State, u.PasswordHash, u.Name, u.Email, u.EmailIdx, u.Address, u.TaxID, u.CreatedAt)
	if isUnique(err) {
		return errExists
	}
	return err
}

// Org reads app_orgs, which holds no tenant's data but its name: it is not
// under row-level security (its key is id, not org).
func (s *pgStore) Org(ctx context.Context, id string) (org, error) {
	var o org
	err := s.q().QueryRow(ctx, `SELECT id, name, created_at FROM app_orgs WHERE id = $1`, id).Scan(&o.ID, &o.Name, &o.CreatedAt)
	return o, notFound(err)
}

func (s *pgStore) AddUser(ctx context.Context, u user) error {
	return s.as(ctx, u.Org, func(ctx context.Context, tx pgx.Tx) error { return insertUser(ctx, tx, u) })
}

const userColumns = `id, org, role, state, password_hash, name, email, email_idx, address, tax_id, created_at`

func scanUser(row pgx.Row) (user, error) {
	var u user
	err := row.Scan(&u.ID, &u.Org, &u.Role, &u.State, &u.PasswordHash, &u.Name, &u.Email, &u.EmailIdx, &u.Address, &u.TaxID, &u.CreatedAt)
	return u, notFound(err)
}

// The queries below name no organisation: the transaction of s.as is bound
// to one, and row-level security returns and accepts only its rows.

func (s *pgStore) User(ctx context.Context, orgID, id string) (u user, err error) {
	err = s.as(ctx, orgID, func(ctx context.Context, tx pgx.Tx) error {
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM app_users WHERE id = $1`, id))
		return err
	})
	return u, err
}

// UserByEmail is the one lookup across organisations: the login directory
// (see loginDirectorySQL) names the user's organisation, and the user is
// then read bound to it.
func (s *pgStore) UserByEmail(ctx context.Context, idx [][]byte) (user, error) {
	var orgID, id string
	if err := s.q().QueryRow(ctx, `SELECT org, id FROM app_login_lookup($1)`, idx).Scan(&orgID, &id); err != nil {
		return user{}, notFound(err)
	}
	return s.User(ctx, orgID, id)
}

// pageSQL is the keyset condition and order of one page, served by an
// (org, created_at, id) index (row-level security adds the org); $1, $2 and
// $3 are the cursor's time, its id and the limit (see pageArgs).
const pageSQL = ` WHERE (created_at, id) > ($1::timestamptz, $2::text) ORDER BY created_at, id LIMIT $3`

// pageArgs binds a page to pageSQL; the start of a list is the cursor
// ('-infinity', ""), before every row.
func pageArgs(p page) []any {
	if p.after == (cursor{}) {
		return []any{pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}, "", p.limit}
	}
	return []any{p.after.at, p.after.id, p.limit}
}

// list runs a page query as orgID and collects its rows.
func list[T any](ctx context.Context, s *pgStore, orgID, sql string, p page, scan func(pgx.CollectableRow) (T, error)) (out []T, err error) {
	err = s.as(ctx, orgID, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sql+pageSQL, pageArgs(p)...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scan)
		return err
	})
	return out, err
}

func (s *pgStore) Members(ctx context.Context, orgID string, p page) ([]user, error) {
	return list(ctx, s, orgID, `SELECT `+userColumns+` FROM app_users`, p, func(r pgx.CollectableRow) (user, error) { return scanUser(r) })
}

// exec runs one statement as orgID and returns how many rows it touched.
func (s *pgStore) exec(ctx context.Context, orgID, sql string, args ...any) (n int64, err error) {
	err = s.as(ctx, orgID, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, args...)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

func (s *pgStore) exec1(ctx context.Context, orgID, sql string, args ...any) error {
	n, err := s.exec(ctx, orgID, sql, args...)
	if err == nil && n == 0 {
		return errNotFound
	}
	return err
}

func (s *pgStore) UpdateProfile(ctx context.Context, orgID, id string, name, address, taxID []byte) error {
	return s.exec1(ctx, orgID, `UPDATE app_users SET name = COALESCE($2, name), address = COALESCE($3, address),
		tax_id = COALESCE($4, tax_id) WHERE id = $1`, id, name, address, taxID)
}

func (s *pgStore) SetRole(ctx context.Context, orgID, id, role string) error {
	return s.exec1(ctx, orgID, `UPDATE app_users SET role = $2 WHERE id = $1`, id, role)
}

func (s *pgStore) SetState(ctx context.Context, orgID, id, state string) error {
	return s.exec1(ctx, orgID, `UPDATE app_users SET state = $2 WHERE id = $1`, id, state)
}

func (s *pgStore) EraseUser(ctx context.Context, orgID, id string) (int64, error) {
	return s.exec(ctx, orgID, `UPDATE app_users SET state = 'erased', password_hash = '',
		name = NULL, email = NULL, email_idx = NULL, address = NULL, tax_id = NULL WHERE id = $1`, id)
}

func (s *pgStore) AddPayout(ctx context.Context, p payout) error {
	_, err := s.exec(ctx, p.Org, `INSERT INTO app_payouts (id, org, amount_cents, currency, bank_account, status, created_by, approved_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		p.ID, p.Org, p.AmountCents, p.Currency, p.BankAccount, p.Status, p.CreatedBy, p.ApprovedBy, p.CreatedAt)
	return err
}

const payoutColumns = `id, org, amount_cents, currency, bank_account, status, created_by, approved_by, created_at`

func scanPayout(row pgx.Row) (payout, error) {
	var p payout
	err := row.Scan(&p.ID, &p.Org, &p.AmountCents, &p.Currency, &p.BankAccount, &p.Status, &p.CreatedBy, &p.ApprovedBy, &p.CreatedAt)
	return p, notFound(err)
}

// Payouts is the README's example: no WHERE org, and only the bound
// organisation's payouts come back.
func (s *pgStore) Payouts(ctx context.Context, orgID string, p page) ([]payout, error) {
	return list(ctx, s, orgID, `SELECT `+payoutColumns+` FROM app_payouts`, p, func(r pgx.CollectableRow) (payout, error) { return scanPayout(r) })
}

func (s *pgStore) Payout(ctx context.Context, orgID, id string) (po payout, err error) {
	err = s.as(ctx, orgID, func(ctx context.Context, tx pgx.Tx) error {
		po, err = scanPayout(tx.QueryRow(ctx, `SELECT `+payoutColumns+` FROM app_payouts WHERE id = $1`, id))
		return err
	})
	return po, err
}

func (s *pgStore) ApprovePayout(ctx context.Context, orgID, id, approver string) (po payout, err error) {
	err = s.as(ctx, orgID, func(ctx context.Context, tx pgx.Tx) error {
		// The status condition makes approval happen once, even when two
		// approvers click at the same moment on two instances.
		po, err = scanPayout(tx.QueryRow(ctx, `UPDATE app_payouts SET status = 'approved', approved_by = $2
			WHERE id = $1 AND status = 'pending' RETURNING `+payoutColumns, id, approver))
		if errors.Is(err, errNotFound) {
			if _, err2 := scanPayout(tx.QueryRow(ctx, `SELECT `+payoutColumns+` FROM app_payouts WHERE id = $1`, id)); err2 == nil {
				return errExists
			}
		}
		return err
	})
	return po, err
}

func (s *pgStore) AddIntegration(ctx context.Context, i integration) error {
	_, err := s.exec(ctx, i.Org, `INSERT INTO app_integrations (id, org, provider, token, created_at) VALUES ($1, $2, $3, $4, $5)`,
		i.ID, i.Org, i.Provider, i.Token, i.CreatedAt)
	return err
}

func (s *pgStore) Integrations(ctx context.Context, orgID string, p page) ([]integration, error) {
	return list(ctx, s, orgID, `SELECT id, org, provider, token, created_at FROM app_integrations`, p, func(r pgx.CollectableRow) (integration, error) {
		var i integration
		return i, r.Scan(&i.ID, &i.Org, &i.Provider, &i.Token, &i.CreatedAt)
	})
}

func (s *pgStore) PutSessionData(ctx context.Context, sessionID, orgID, userID string, payload []byte) error {
	_, err := s.exec(ctx, orgID, `INSERT INTO app_session_data (session_id, org, user_id, payload) VALUES ($1, $2, $3, $4)
		ON CONFLICT (session_id) DO UPDATE SET payload = EXCLUDED.payload`, sessionID, orgID, userID, payload)
	return err
}

// SessionData reads a session's data as the organisation the request is
// bound to (rbac's); with none bound it refuses (tenant.ErrNoOrg).
func (s *pgStore) SessionData(ctx context.Context, sessionID string) (p []byte, err error) {
	run := func(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
		return tenantpg.Run(ctx, s.db, fn)
	}
	if s.tx != nil {
		run = func(ctx context.Context, fn func(context.Context, pgx.Tx) error) error { return s.as(ctx, s.org, fn) }
	}
	err = run(ctx, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT payload FROM app_session_data WHERE session_id = $1`, sessionID).Scan(&p)
	})
	return p, notFound(err)
}

func (s *pgStore) DeleteSessionData(ctx context.Context, orgID, userID string) (int64, error) {
	return s.exec(ctx, orgID, `DELETE FROM app_session_data WHERE user_id = $1`, userID)
}

func (s *pgStore) AddLead(ctx context.Context, l lead) error {
	_, err := s.exec(ctx, l.Org, `INSERT INTO app_leads (id, org, payload, created_at) VALUES ($1, $2, $3, $4)`,
		l.ID, l.Org, l.Payload, l.CreatedAt)
	return err
}

func (s *pgStore) Leads(ctx context.Context, orgID string, p page) ([]lead, error) {
	return list(ctx, s, orgID, `SELECT id, org, payload, created_at FROM app_leads`, p, func(r pgx.CollectableRow) (lead, error) {
		var l lead
		return l, r.Scan(&l.ID, &l.Org, &l.Payload, &l.CreatedAt)
	})
}

func (s *pgStore) AddEvent(ctx context.Context, e analyticsEvent) error {
	_, err := s.exec(ctx, e.Org, `INSERT INTO app_analytics_events (org, subject, name, at) VALUES ($1, $2, $3, $4)`,
		e.Org, e.Subject, e.Name, e.At)
	return err
}

func (s *pgStore) Events(ctx context.Context, orgID, subject string) (out []analyticsEvent, err error) {
	err = s.as(ctx, orgID, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT org, subject, name, at FROM app_analytics_events WHERE subject = $1 ORDER BY at`, subject)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (analyticsEvent, error) {
			var e analyticsEvent
			return e, r.Scan(&e.Org, &e.Subject, &e.Name, &e.At)
		})
		return err
	})
	return out, err
}

func (s *pgStore) RenameSubject(ctx context.Context, orgID, from, to string) (int64, error) {
	return s.exec(ctx, orgID, `UPDATE app_analytics_events SET subject = $2 WHERE subject = $1`, from, to)
}
