// Package pgstore is the PostgreSQL adapter of mfa.Store.
//
// Everything that must happen once is decided by the database, so any number
// of application instances can share it. The replay guard and the attempt
// limit live on the enrolment row and are decided together by one
// conditional UPDATE of that row (last_step < $step and fewer than the limit
// of failures in the window), whose row count says whether this request won;
// a failure is counted by another conditional UPDATE of the same row, so the
// row lock orders them. A recovery code is used by a DELETE whose row count
// decides, under the enrolment row's lock.
//
// Statements per call: Enrollment 1; AcceptStep 1 (plus 1 read when it
// refuses); RecordFailure 1 (plus 1 read when it is not counted);
// UseRecoveryCode 1; none opens an explicit transaction.
//
// # Inside the host's transaction
//
// store.WithTx(tx) returns the store bound to a pgx.Tx of the host's, so an
// enrolment change commits with the host's own: reset a user's second
// factor (DeleteEnrollment) in the transaction that records the support
// ticket, or require MFA for an organisation (SetOrgPolicy) with the
// settings row that shows it. Operations of several statements run in a
// savepoint of tx; a refusal (mfa.ErrNotPending, mfa.ErrNotEnrolled) or a
// failure leaves tx usable.
//
// What does not belong in a caller's transaction, by design: verifying a
// code. The replay guard and the attempt limit (AcceptStep, RecordFailure)
// and the use of a recovery code (UseRecoveryCode) must commit whatever the
// request does next. On a bound store they commit only with the host: a host
// that rolls back after a wrong code forgets the failed attempt (unlimited
// guesses), and one that rolls back after a right code lets the same code
// be used again. The store cannot tell which transaction is meant to be
// kept, so verify codes through an mfa.Manager on the pool-bound store, and
// join the host's transaction for enrolment changes.
//
// # Row-level security (an option)
//
// Protect (or ProtectSQL), run after Migrate by the migration role, puts
// mfa_enrollments, mfa_recovery_codes and mfa_org_policies under
// tenant/pgstore's policy: the application role sees and writes only the
// rows of the organisation bound in rampart.org, none when nothing is
// bound. A store made with WithTenantBinding binds, for each operation, the
// context's organisation (tenant.With) when it has one, else the
// operation's; a handler bound to organisation A that passes B's
// organisation finds no enrolment, uses no code and writes no row of B's.
// Every mfa operation names its organisation, so mfa needs no directory
// function. The cost: on a pool each operation is a transaction (BEGIN with
// the setting in one round trip, the statements, COMMIT) instead of one
// autocommitted statement.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/internal/pgmigrate"
	"github.com/rampart-sdk/rampart/internal/pgq"
	"github.com/rampart-sdk/rampart/internal/pgtenant"
	"github.com/rampart-sdk/rampart/mfa"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the schema as goose-compatible SQL files, for hosts that
// apply migrations with their own tool.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory always exists
	}
	return sub
}

// Migrate creates or upgrades mfa's tables in the pool's search_path schema.
// It is idempotent and safe to run from several instances at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Apply(ctx, pool, "mfa", Migrations())
}

// Store is mfa.Store on PostgreSQL, plus WithTx. New returns it; the
// concrete type is unexported because its methods only restate mfa.Store. A
// Store from New runs on its pool; WithTx returns one bound to a
// transaction of the caller's.
type Store interface {
	mfa.Store

	// WithTx returns a store bound to tx: every operation runs in the
	// caller's transaction and commits or rolls back with it, and an
	// operation that needs a transaction of its own (ConfirmEnrollment,
	// ReplaceRecoveryCodes) runs in a savepoint of tx, so when it fails the
	// caller's transaction is still usable. See the package documentation
	// for what belongs on the pool instead.
	//
	// Like tx itself, the returned store is for one goroutine at a time.
	// Once tx has committed or rolled back, every operation returns an
	// error that matches pgx.ErrTxClosed; a nil tx gives the same.
	WithTx(tx pgx.Tx) Store
}

// store is the Store that New returns.
type store struct {
	pool   pgq.Querier // the pool, or the caller's transaction (WithTx)
	tenant bool        // WithTenantBinding
}

// Option configures a Store.
type Option func(*config)

type config struct {
	tenant bool
	err    error // the first invalid option, in argument order
}

// WithTenantBinding makes the store run every operation bound to its
// organisation, for tables that Protect put under row-level security: the
// context's organisation (tenant.With) when it has one, else the
// operation's, so code bound to organisation A that passes B's IDs finds
// nothing of B's. On a pool each operation becomes a transaction of its own
// (tenant/pgstore.Run: BEGIN and the setting in one round trip, then COMMIT);
// a store bound to a caller's transaction keeps the caller's binding when
// it has one (tenant/pgstore.RunFor). An enrolment or policy of the empty
// organisation is refused with an error matching tenant.ErrInvalidOrg.
func WithTenantBinding() Option { return func(c *config) { c.tenant = true } }

// New returns a Store on pool; run Migrate first. A nil pool or a nil
// option is an error wrapping mfa.ErrInvalidConfig that names it.
func New(pool *pgxpool.Pool, opts ...Option) (Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: mfa/pgstore.New: nil pool", mfa.ErrInvalidConfig)
	}
	var c config
	for i, o := range opts {
		if o == nil {
			if c.err == nil {
				c.err = fmt.Errorf("%w: mfa/pgstore.New: option %d is nil", mfa.ErrInvalidConfig, i)
			}
			continue
		}
		o(&c)
	}
	if c.err != nil {
		return nil, c.err
	}
	return &store{pool: pool, tenant: c.tenant}, nil
}

// WithTx implements Store.
func (s *store) WithTx(tx pgx.Tx) Store { return &store{pool: pgq.Tx(tx), tenant: s.tenant} }

var _ Store = (*store)(nil)

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("mfa/pgstore: %s: %w", op, err)
}

// BeginEnrollment implements mfa.Store.
func (s *store) BeginEnrollment(ctx context.Context, e mfa.Enrollment) (err error) {
	if err := pgtenant.NeedOrg(s.tenant, e.Org); err != nil {
		return wrap("begin enrolment", err)
	}
	if s.bound(ctx, e.Org, &err, func(b *store) { err = b.BeginEnrollment(ctx, e) }) {
		return err
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO mfa_enrollments (org, user_id, id, sealed_secret, algorithm, digits, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (org, user_id) DO UPDATE
		SET id = EXCLUDED.id, sealed_secret = EXCLUDED.sealed_secret, algorithm = EXCLUDED.algorithm,
		    digits = EXCLUDED.digits, created_at = EXCLUDED.created_at, last_step = -1, confirmed_at = NULL
		WHERE NOT mfa_enrollments.confirmed`,
		e.Org, e.User, e.ID, e.SealedSecret, string(e.Algorithm), e.Digits, e.CreatedAt)
	if err != nil {
		return wrap("begin enrolment", err)
	}
	if tag.RowsAffected() == 0 {
		return mfa.ErrAlreadyEnrolled
	}
	return nil
}

// Enrollment implements mfa.Store.
func (s *store) Enrollment(ctx context.Context, org, user string) (e mfa.Enrollment, err error) {
	if s.bound(ctx, org, &err, func(b *store) { e, err = b.Enrollment(ctx, org, user) }) {
		return e, err
	}
	e = mfa.Enrollment{Org: org, User: user}
	var alg string
	var confirmedAt *time.Time
	err = s.pool.QueryRow(ctx, `
		SELECT id, sealed_secret, algorithm, digits, confirmed, last_step, created_at, confirmed_at, failures
		FROM mfa_enrollments WHERE org = $1 AND user_id = $2`, org, user).
		Scan(&e.ID, &e.SealedSecret, &alg, &e.Digits, &e.Confirmed, &e.LastStep, &e.CreatedAt, &confirmedAt, &e.Failures)
	if errors.Is(err, pgx.ErrNoRows) {
		return mfa.Enrollment{}, mfa.ErrNotEnrolled
	}
	if err != nil {
		return mfa.Enrollment{}, wrap("read enrolment", err)
	}
	e.Algorithm = mfa.Algorithm(alg)
	if confirmedAt != nil {
		e.ConfirmedAt = *confirmedAt
	}
	return e, nil
}

// ConfirmEnrollment implements mfa.Store.
func (s *store) ConfirmEnrollment(ctx context.Context, org, user, id string, step int64, at, since time.Time, limit int, codeHashes [][]byte) (err error) {
	if s.bound(ctx, org, &err, func(b *store) { err = b.ConfirmEnrollment(ctx, org, user, id, step, at, since, limit, codeHashes) }) {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE mfa_enrollments SET confirmed = true, last_step = $4, confirmed_at = $5, failures = '{}'
			WHERE org = $1 AND user_id = $2 AND id = $3 AND NOT confirmed AND `+underLimit("$6", "$7"),
			org, user, id, step, at, since, limit)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return replaceCodes(ctx, tx, org, user, codeHashes)
		}
		// Refused: say why from the row as it is now.
		var n int
		err = tx.QueryRow(ctx, `SELECT `+failuresAfter("$4")+` FROM mfa_enrollments
			WHERE org = $1 AND user_id = $2 AND id = $3 AND NOT confirmed`, org, user, id, since).Scan(&n)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return mfa.ErrNotPending
		case err != nil:
			return err
		case n >= limit:
			return mfa.ErrTooManyAttempts
		}
		return mfa.ErrNotPending
	})
	if errors.Is(err, mfa.ErrNotPending) || errors.Is(err, mfa.ErrTooManyAttempts) {
		return err
	}
	return wrap("confirm enrolment", err)
}

// failuresAfter is the SQL count of the row's failures after the
// timestamptz parameter since (e.g. "$5").
func failuresAfter(since string) string {
	return `(SELECT count(*) FROM unnest(failures) AS f WHERE f > ` + since + `::timestamptz)`
}

// underLimit is the SQL condition that the row holds fewer than the int
// parameter limit of failures after since.
func underLimit(since, limit string) string {
	return failuresAfter(since) + ` < ` + limit + `::int`
}

func replaceCodes(ctx context.Context, tx pgx.Tx, org, user string, codeHashes [][]byte) error {
	if _, err := tx.Exec(ctx, `DELETE FROM mfa_recovery_codes WHERE org = $1 AND user_id = $2`, org, user); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO mfa_recovery_codes (org, user_id, code_hash)
		SELECT $1, $2, h FROM unnest($3::bytea[]) AS h`, org, user, codeHashes)
	return err
}

// DeleteEnrollment implements mfa.Store.
func (s *store) DeleteEnrollment(ctx context.Context, org, user string) (err error) {
	if s.bound(ctx, org, &err, func(b *store) { err = b.DeleteEnrollment(ctx, org, user) }) {
		return err
	}
	// The recovery codes go with it (ON DELETE CASCADE), and so do the
	// failed attempts, which live on the row.
	_, err = s.pool.Exec(ctx, `DELETE FROM mfa_enrollments WHERE org = $1 AND user_id = $2`, org, user)
	return wrap("delete enrolment", err)
}

// AcceptStep implements mfa.Store: one conditional UPDATE of the enrolment
// row decides the replay guard and the attempt limit together. The row lock
// orders it with concurrent AcceptStep and RecordFailure calls, and READ
// COMMITTED re-evaluates the whole condition on the row as they left it.
func (s *store) AcceptStep(ctx context.Context, org, user, id string, step int64, since time.Time, limit int) (v mfa.Verdict, err error) {
	if s.bound(ctx, org, &err, func(b *store) { v, err = b.AcceptStep(ctx, org, user, id, step, since, limit) }) {
		return v, err
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE mfa_enrollments SET last_step = $4, failures = '{}'
		WHERE org = $1 AND user_id = $2 AND id = $3 AND confirmed AND last_step < $4 AND `+underLimit("$5", "$6"),
		org, user, id, step, since, limit)
	if err != nil {
		return 0, wrap("accept step", err)
	}
	if tag.RowsAffected() == 1 {
		return mfa.Accepted, nil
	}
	// Refused (a replay, a lock-out or a reset: rare). The decision is
	// taken; this read only names it, from the row as it is now.
	var lastStep int64
	var n int
	err = s.pool.QueryRow(ctx, `
		SELECT last_step, `+failuresAfter("$4")+` FROM mfa_enrollments
		WHERE org = $1 AND user_id = $2 AND id = $3 AND confirmed`,
		org, user, id, since).Scan(&lastStep, &n)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return mfa.Stale, nil
	case err != nil:
		return 0, wrap("accept step", err)
	case n >= limit:
		return mfa.LockedOut, nil
	case lastStep >= step:
		return mfa.Replayed, nil
	}
	return mfa.Stale, nil
}

// RecordFailure implements mfa.Store: one conditional UPDATE of the
// enrolment row, ordered by its lock with AcceptStep.
func (s *store) RecordFailure(ctx context.Context, org, user string, now, since time.Time, limit int) (fs []time.Time, counted bool, err error) {
	if s.bound(ctx, org, &err, func(b *store) { fs, counted, err = b.RecordFailure(ctx, org, user, now, since, limit) }) {
		return fs, counted, err
	}
	var failures []time.Time
	err = s.pool.QueryRow(ctx, `
		UPDATE mfa_enrollments
		SET failures = ARRAY(SELECT f FROM unnest(failures) AS f WHERE f > $4::timestamptz ORDER BY f) || $3::timestamptz
		WHERE org = $1 AND user_id = $2 AND `+underLimit("$4", "$5")+`
		RETURNING failures`, org, user, now, since, limit).Scan(&failures)
	if err == nil {
		return failures, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, wrap("record failure", err)
	}
	// Not counted: locked out, or no enrolment.
	err = s.pool.QueryRow(ctx, `
		SELECT ARRAY(SELECT f FROM unnest(failures) AS f WHERE f > $3::timestamptz ORDER BY f)
		FROM mfa_enrollments WHERE org = $1 AND user_id = $2`, org, user, since).Scan(&failures)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, mfa.ErrNotEnrolled
	}
	if err != nil {
		return nil, false, wrap("record failure", err)
	}
	return failures, false, nil
}

// ReplaceRecoveryCodes implements mfa.Store.
func (s *store) ReplaceRecoveryCodes(ctx context.Context, org, user string, codeHashes [][]byte) (err error) {
	if s.bound(ctx, org, &err, func(b *store) { err = b.ReplaceRecoveryCodes(ctx, org, user, codeHashes) }) {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM mfa_enrollments WHERE org = $1 AND user_id = $2 AND confirmed FOR UPDATE`,
			org, user).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return mfa.ErrNotEnrolled
		}
		if err != nil {
			return err
		}
		return replaceCodes(ctx, tx, org, user, codeHashes)
	})
	if errors.Is(err, mfa.ErrNotEnrolled) {
		return err
	}
	return wrap("replace recovery codes", err)
}

// UseRecoveryCode implements mfa.Store in one statement: lock the confirmed
// enrolment row if it is under the attempt limit, DELETE the code (the row
// count decides), forget the failures if it was used, and count what is left.
func (s *store) UseRecoveryCode(ctx context.Context, org, user string, codeHash []byte, since time.Time, limit int) (ok bool, left int, err error) {
	if s.bound(ctx, org, &err, func(b *store) { ok, left, err = b.UseRecoveryCode(ctx, org, user, codeHash, since, limit) }) {
		return ok, left, err
	}
	var used, before int
	err = s.pool.QueryRow(ctx, `
		WITH e AS (
			SELECT org, user_id FROM mfa_enrollments
			WHERE org = $1 AND user_id = $2 AND confirmed AND `+underLimit("$4", "$5")+`
			FOR UPDATE
		), d AS (
			DELETE FROM mfa_recovery_codes c USING e
			WHERE c.org = e.org AND c.user_id = e.user_id AND c.code_hash = $3
			RETURNING 1
		), cleared AS (
			UPDATE mfa_enrollments SET failures = '{}'
			WHERE org = $1 AND user_id = $2 AND EXISTS (SELECT FROM d)
		)
		SELECT (SELECT count(*) FROM d),
		       (SELECT count(*) FROM mfa_recovery_codes WHERE org = $1 AND user_id = $2)`,
		org, user, codeHash, since, limit).Scan(&used, &before)
	if err != nil {
		return false, 0, wrap("use recovery code", err)
	}
	// The count reads the statement's snapshot, taken before the DELETE.
	return used == 1, max(before-used, 0), nil
}

// RecoveryCodesLeft implements mfa.Store.
func (s *store) RecoveryCodesLeft(ctx context.Context, org, user string) (n int, err error) {
	if s.bound(ctx, org, &err, func(b *store) { n, err = b.RecoveryCodesLeft(ctx, org, user) }) {
		return n, err
	}
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM mfa_recovery_codes WHERE org = $1 AND user_id = $2`, org, user).Scan(&n)
	return n, wrap("count recovery codes", err)
}

// SetOrgPolicy implements mfa.Store.
func (s *store) SetOrgPolicy(ctx context.Context, org string, requireAll bool) (err error) {
	if err := pgtenant.NeedOrg(s.tenant, org); err != nil {
		return wrap("set org policy", err)
	}
	if s.bound(ctx, org, &err, func(b *store) { err = b.SetOrgPolicy(ctx, org, requireAll) }) {
		return err
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO mfa_org_policies (org, require_all, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (org) DO UPDATE SET require_all = EXCLUDED.require_all, updated_at = now()`, org, requireAll)
	return wrap("set org policy", err)
}

// OrgPolicy implements mfa.Store.
func (s *store) OrgPolicy(ctx context.Context, org string) (req bool, err error) {
	if s.bound(ctx, org, &err, func(b *store) { req, err = b.OrgPolicy(ctx, org) }) {
		return req, err
	}
	err = s.pool.QueryRow(ctx, `SELECT require_all FROM mfa_org_policies WHERE org = $1`, org).Scan(&req)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return req, wrap("read org policy", err)
}

// bound runs op on an unbound copy of the store whose querier is bound to
// org, when tenant binding is on (pgtenant.Bound).
func (s *store) bound(ctx context.Context, org string, err *error, op func(b *store)) bool {
	return pgtenant.Bound(ctx, s.tenant, s.pool, org, err, func(q pgq.Querier) { op(&store{pool: q}) })
}
