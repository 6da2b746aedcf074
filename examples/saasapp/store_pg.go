package main

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
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
`

// pgStore is appStore on PostgreSQL.
type pgStore struct{ db *pgxpool.Pool }

func migrateApp(ctx context.Context, db *pgxpool.Pool) error {
	_, err := db.Exec(ctx, appSchema)
	return err
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
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO app_orgs (id, name, created_at) VALUES ($1, $2, $3)`,
			o.ID, o.Name, o.CreatedAt); err != nil {
			return err
		}
		return insertUser(ctx, tx, owner)
	})
}

func insertUser(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, u user) error {
	_, err := q.Exec(ctx, `INSERT INTO app_users (id, org, role, state, password_hash, name, email, email_idx, address, tax_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		u.ID, u.Org, u.Role, u.State, u.PasswordHash, u.Name, u.Email, u.EmailIdx, u.Address, u.TaxID, u.CreatedAt)
	if isUnique(err) {
		return errExists
	}
	return err
}

func (s *pgStore) Org(ctx context.Context, id string) (org, error) {
	var o org
	err := s.db.QueryRow(ctx, `SELECT id, name, created_at FROM app_orgs WHERE id = $1`, id).Scan(&o.ID, &o.Name, &o.CreatedAt)
	return o, notFound(err)
}

func (s *pgStore) AddUser(ctx context.Context, u user) error { return insertUser(ctx, s.db, u) }

const userColumns = `id, org, role, state, password_hash, name, email, email_idx, address, tax_id, created_at`

func scanUser(row pgx.Row) (user, error) {
	var u user
	err := row.Scan(&u.ID, &u.Org, &u.Role, &u.State, &u.PasswordHash, &u.Name, &u.Email, &u.EmailIdx, &u.Address, &u.TaxID, &u.CreatedAt)
	return u, notFound(err)
}

func (s *pgStore) User(ctx context.Context, orgID, id string) (user, error) {
	return scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM app_users WHERE org = $1 AND id = $2`, orgID, id))
}

func (s *pgStore) UserByEmail(ctx context.Context, idx [][]byte) (user, error) {
	return scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM app_users WHERE email_idx = ANY($1) LIMIT 1`, idx))
}

// pageSQL is the keyset condition and order of one page, served by an
// (org, created_at, id) index; $2, $3 and $4 are the cursor's time, its id
// and the limit (see pageArgs).
const pageSQL = ` AND (created_at, id) > ($2::timestamptz, $3::text) ORDER BY created_at, id LIMIT $4`

// pageArgs binds a page to pageSQL; the start of a list is the cursor
// ('-infinity', ”), before every row.
func pageArgs(p page) []any {
	if p.after == (cursor{}) {
		return []any{pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}, "", p.limit}
	}
	return []any{p.after.at, p.after.id, p.limit}
}

func (s *pgStore) Members(ctx context.Context, orgID string, p page) ([]user, error) {
	rows, err := s.db.Query(ctx, `SELECT `+userColumns+` FROM app_users WHERE org = $1`+pageSQL, append([]any{orgID}, pageArgs(p)...)...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (user, error) { return scanUser(r) })
}

func (s *pgStore) exec1(ctx context.Context, sql string, args ...any) error {
	tag, err := s.db.Exec(ctx, sql, args...)
	if err == nil && tag.RowsAffected() == 0 {
		return errNotFound
	}
	return err
}

func (s *pgStore) UpdateProfile(ctx context.Context, orgID, id string, name, address, taxID []byte) error {
	return s.exec1(ctx, `UPDATE app_users SET name = COALESCE($3, name), address = COALESCE($4, address),
		tax_id = COALESCE($5, tax_id) WHERE org = $1 AND id = $2`, orgID, id, name, address, taxID)
}

func (s *pgStore) SetRole(ctx context.Context, orgID, id, role string) error {
	return s.exec1(ctx, `UPDATE app_users SET role = $3 WHERE org = $1 AND id = $2`, orgID, id, role)
}

func (s *pgStore) SetState(ctx context.Context, orgID, id, state string) error {
	return s.exec1(ctx, `UPDATE app_users SET state = $3 WHERE org = $1 AND id = $2`, orgID, id, state)
}

func (s *pgStore) EraseUser(ctx context.Context, orgID, id string) (int64, error) {
	tag, err := s.db.Exec(ctx, `UPDATE app_users SET state = 'erased', password_hash = '',
		name = NULL, email = NULL, email_idx = NULL, address = NULL, tax_id = NULL WHERE org = $1 AND id = $2`, orgID, id)
	return tag.RowsAffected(), err
}

func (s *pgStore) AddPayout(ctx context.Context, p payout) error {
	_, err := s.db.Exec(ctx, `INSERT INTO app_payouts (id, org, amount_cents, currency, bank_account, status, created_by, approved_by, created_at)
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

func (s *pgStore) Payouts(ctx context.Context, orgID string, p page) ([]payout, error) {
	rows, err := s.db.Query(ctx, `SELECT `+payoutColumns+` FROM app_payouts WHERE org = $1`+pageSQL, append([]any{orgID}, pageArgs(p)...)...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (payout, error) { return scanPayout(r) })
}

func (s *pgStore) Payout(ctx context.Context, orgID, id string) (payout, error) {
	return scanPayout(s.db.QueryRow(ctx, `SELECT `+payoutColumns+` FROM app_payouts WHERE org = $1 AND id = $2`, orgID, id))
}

func (s *pgStore) ApprovePayout(ctx context.Context, orgID, id, approver string) (payout, error) {
	// The status condition makes approval happen once, even when two
	// approvers click at the same moment on two instances.
	p, err := scanPayout(s.db.QueryRow(ctx, `UPDATE app_payouts SET status = 'approved', approved_by = $3
		WHERE org = $1 AND id = $2 AND status = 'pending' RETURNING `+payoutColumns, orgID, id, approver))
	if errors.Is(err, errNotFound) {
		if _, err2 := scanPayout(s.db.QueryRow(ctx, `SELECT `+payoutColumns+` FROM app_payouts WHERE org = $1 AND id = $2`, orgID, id)); err2 == nil {
			return payout{}, errExists
		}
	}
	return p, err
}

func (s *pgStore) AddIntegration(ctx context.Context, i integration) error {
	_, err := s.db.Exec(ctx, `INSERT INTO app_integrations (id, org, provider, token, created_at) VALUES ($1, $2, $3, $4, $5)`,
		i.ID, i.Org, i.Provider, i.Token, i.CreatedAt)
	return err
}

func (s *pgStore) Integrations(ctx context.Context, orgID string, p page) ([]integration, error) {
	rows, err := s.db.Query(ctx, `SELECT id, org, provider, token, created_at FROM app_integrations WHERE org = $1`+pageSQL, append([]any{orgID}, pageArgs(p)...)...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (integration, error) {
		var i integration
		return i, r.Scan(&i.ID, &i.Org, &i.Provider, &i.Token, &i.CreatedAt)
	})
}

func (s *pgStore) PutSessionData(ctx context.Context, sessionID, orgID, userID string, payload []byte) error {
	_, err := s.db.Exec(ctx, `INSERT INTO app_session_data (session_id, org, user_id, payload) VALUES ($1, $2, $3, $4)
		ON CONFLICT (session_id) DO UPDATE SET payload = EXCLUDED.payload`, sessionID, orgID, userID, payload)
	return err
}

func (s *pgStore) SessionData(ctx context.Context, sessionID string) ([]byte, error) {
	var p []byte
	err := s.db.QueryRow(ctx, `SELECT payload FROM app_session_data WHERE session_id = $1`, sessionID).Scan(&p)
	return p, notFound(err)
}

func (s *pgStore) DeleteSessionData(ctx context.Context, orgID, userID string) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM app_session_data WHERE org = $1 AND user_id = $2`, orgID, userID)
	return tag.RowsAffected(), err
}

func (s *pgStore) AddLead(ctx context.Context, l lead) error {
	_, err := s.db.Exec(ctx, `INSERT INTO app_leads (id, org, payload, created_at) VALUES ($1, $2, $3, $4)`,
		l.ID, l.Org, l.Payload, l.CreatedAt)
	return err
}

func (s *pgStore) Leads(ctx context.Context, orgID string, p page) ([]lead, error) {
	rows, err := s.db.Query(ctx, `SELECT id, org, payload, created_at FROM app_leads WHERE org = $1`+pageSQL, append([]any{orgID}, pageArgs(p)...)...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (lead, error) {
		var l lead
		return l, r.Scan(&l.ID, &l.Org, &l.Payload, &l.CreatedAt)
	})
}

func (s *pgStore) AddEvent(ctx context.Context, e analyticsEvent) error {
	_, err := s.db.Exec(ctx, `INSERT INTO app_analytics_events (org, subject, name, at) VALUES ($1, $2, $3, $4)`,
		e.Org, e.Subject, e.Name, e.At)
	return err
}

func (s *pgStore) Events(ctx context.Context, orgID, subject string) ([]analyticsEvent, error) {
	rows, err := s.db.Query(ctx, `SELECT org, subject, name, at FROM app_analytics_events WHERE org = $1 AND subject = $2 ORDER BY at`, orgID, subject)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (analyticsEvent, error) {
		var e analyticsEvent
		return e, r.Scan(&e.Org, &e.Subject, &e.Name, &e.At)
	})
}

func (s *pgStore) RenameSubject(ctx context.Context, orgID, from, to string) (int64, error) {
	tag, err := s.db.Exec(ctx, `UPDATE app_analytics_events SET subject = $3 WHERE org = $1 AND subject = $2`, orgID, from, to)
	return tag.RowsAffected(), err
}
