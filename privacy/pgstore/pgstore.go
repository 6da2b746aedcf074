// Package pgstore is the PostgreSQL store of package privacy, and a helper
// that erases a subject from a host table in one statement.
//
// Due subjects are claimed with FOR UPDATE SKIP LOCKED and a lease, so any
// number of sweepers on any number of instances erase each subject once. The
// consent and lifecycle history tables are append-only, enforced by triggers.
//
// # Inside the host's transaction
//
// store.WithTx(tx) returns the store bound to a pgx.Tx of the host's, so a
// lifecycle transition commits with the host's own change: the account row
// that deactivates the user and privacy's "deletion requested" are both
// stored or neither is, and a failed host write cannot leave a subject in
// cooldown while the user is still active. Requests, holds and consent
// records join the same way. Transition and Release run in a savepoint of
// tx; a refusal (privacy.ErrConflict) leaves tx usable.
//
// # Audit entries in the same transaction
//
// With WithAuditOutbox(auditlog/pgstore.NewTxRecorder(log)), the store
// records the audit entry of every write a privacy.Lifecycle or
// privacy.Requests makes in that write's transaction, as a row of the
// audit log's transactional outbox (the store is a privacy.AuditingStore): the transition and its entry, or
// a sweep's release and the entries of its erasures, commit together or
// not at all, on the pool or inside the host's transaction (WithTx keeps
// the option). The audit log's relay (auditlog.Log.RunOutbox) must run to
// seal the entries into their chains. The package does not import
// auditlog: it declares TxRecorder, the one method it needs.
//
// What does not join a caller's transaction, by design: the sweep
// (privacy.Lifecycle.Sweep, through ClaimDue, SetProgress, Release,
// ClaimPendingAudits and MarkAudited). A sweep claims subjects with a lease
// that other sweepers must see committed, and records each erasure step as
// it is done, because the steps cannot be undone: a subject key destroyed
// for crypto-shredding stays destroyed even if a transaction that recorded
// the progress rolls back, and a sweep that forgot it would retry and
// report a failure. Run the sweep on the pool-bound store; NewTableEraser's
// eraser, one of its erasure steps, takes the pool for the same reason.
//
// # Row-level security (an option)
//
// Protect (or ProtectSQL), run after Migrate by the migration role, puts
// every privacy table (subjects, events, progress, holds, requests,
// consent, pending audits) under tenant/pgstore's policy: the application
// role sees and writes only the rows of the organisation bound in
// rampart.org, none when nothing is bound. A store made with
// WithTenantBinding binds, for each operation of one organisation, the
// context's organisation (tenant.With) when it has one, else the
// operation's: a handler bound to organisation A that passes B's subject or
// request finds nothing and changes nothing of B's.
//
// The sweep claims due subjects across organisations, and the overdue
// request report reads every organisation's requests. No binding serves an
// operation that spans organisations, and a directory function would have
// to reimplement the claim, the release and its events; so they run on a
// maintenance pool (WithMaintenancePool) that logs in as a role that reads
// every row: the tables' owner, whom Protect's rampart_owner policy admits,
// or a role with BYPASSRLS. Give that role to the sweeper's process, not to
// request handlers. Without a maintenance pool those operations fail with
// ErrNoMaintenancePool rather than silently find nothing, and a store bound
// to a transaction refuses them (ErrCrossOrgInTx). With WithAuditOutbox the
// Lifecycle runs the sweep's releases in AuditTx's transaction: give the
// sweeping Lifecycle a store of its own over the maintenance pool, without tenant
// binding, so each release and its audit entries still commit together. A
// NewTableEraser or NewTableExporter on a host table that is itself
// protected needs the same maintenance pool.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/internal/pgmigrate"
	"github.com/rampart-sdk/rampart/internal/pgq"
	"github.com/rampart-sdk/rampart/internal/pgtenant"
	"github.com/rampart-sdk/rampart/privacy"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the schema as goose-compatible SQL files, for hosts that
// apply migrations with their own tool.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sub
}

// Migrate applies the package's embedded schema; it is idempotent and safe
// to call from several instances at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Apply(ctx, pool, "privacy", Migrations())
}

// Store is the PostgreSQL privacy.Store, and a privacy.AuditingStore:
// RecordsAudit says whether it was built WithAuditOutbox. A Store from New
// runs on its pool; WithTx returns one bound to a transaction of the
// caller's.
type Store interface {
	privacy.AuditingStore
	// WithTx returns the store bound to tx: every operation runs in the
	// caller's transaction and commits or rolls back with it, and an
	// operation that needs a transaction of its own (Transition, Release)
	// runs in a savepoint of tx, so when it fails or is refused
	// (privacy.ErrConflict) the caller's transaction is still usable. See
	// the package documentation for what belongs on the pool instead.
	//
	// Like tx itself, the returned store is for one goroutine at a time.
	// Once tx has committed or rolled back, every operation returns an
	// error that matches pgx.ErrTxClosed; a nil tx gives the same. It keeps
	// the store's options: with WithAuditOutbox, the audit entries of a
	// Lifecycle over it are outbox rows of tx.
	WithTx(tx pgx.Tx) Store
}

// store is the Store, on a pool or bound to a transaction.
type store struct {
	q pgq.Querier // the pool, or the caller's transaction (WithTx)
	// audit records the audit entries of privacy's writes in their
	// transaction, when auditing (WithAuditOutbox).
	audit    TxRecorder
	auditing bool
	tenant   bool          // WithTenantBinding
	maint    *pgxpool.Pool // WithMaintenancePool
}

var (
	_ Store                 = (*store)(nil)
	_ privacy.AuditingStore = (*store)(nil)
)

// TxRecorder records one audit entry inside tx, a transaction of the
// caller's, with the arguments of privacy.Recorder. auditlog/pgstore's
// *TxRecorder satisfies it: the entry is a row of the audit log's
// transactional outbox, which commits or rolls back with tx.
type TxRecorder interface {
	RecordTx(ctx context.Context, tx pgx.Tx, org, actor, action, target string, payload map[string]any) error
}

// Option configures a Store.
type Option func(*config)

// WithAuditOutbox makes the store record the audit entry of every write a
// privacy.Lifecycle or privacy.Requests makes (lifecycle transitions,
// holds, request changes, the sweep's releases, and exports and sweep
// summaries too) in the write's transaction, through r: typically
// auditlog/pgstore.NewTxRecorder(log), with the log's relay
// (auditlog.Log.RunOutbox) running. A committed change then always has its
// entry and a change that did not commit has none; a sweep's erasure needs
// no pending-audit marker; their Recorder is no longer used. The option is
// kept by WithTx. A nil r does not silently fall back to the Recorder: New
// fails with privacy.ErrInvalidConfig.
func WithAuditOutbox(r TxRecorder) Option {
	return func(c *config) {
		if r == nil {
			c.invalid("WithAuditOutbox: nil recorder; omit the option to audit through the Recorder")
			return
		}
		c.audit = r
	}
}

// config is what the options set; New validates it.
type config struct {
	audit  TxRecorder
	tenant bool
	maint  *pgxpool.Pool
	err    error // the first invalid option, in argument order
}

// invalid records the first invalid option.
func (c *config) invalid(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: privacy/pgstore."+format, append([]any{privacy.ErrInvalidConfig}, args...)...)
	}
}

// New returns a store over pool, whose schema Migrate has applied. A nil
// pool, a nil option, WithAuditOutbox(nil), WithMaintenancePool(nil) or a
// maintenance pool without WithTenantBinding (it would never be used) is an
// error wrapping privacy.ErrInvalidConfig that names it.
func New(pool *pgxpool.Pool, opts ...Option) (Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: privacy/pgstore.New: nil pool", privacy.ErrInvalidConfig)
	}
	var c config
	for i, o := range opts {
		if o == nil {
			c.invalid("New: option %d is nil", i)
			continue
		}
		o(&c)
	}
	if c.err != nil {
		return nil, c.err
	}
	if c.maint != nil && !c.tenant {
		// Without tenant binding the store's own pool already reads every
		// organisation, so the maintenance pool would never be used: a host
		// that passes it most likely forgot WithTenantBinding.
		return nil, fmt.Errorf("%w: privacy/pgstore.WithMaintenancePool: only used with WithTenantBinding, which is missing", privacy.ErrInvalidConfig)
	}
	return &store{q: pool, audit: c.audit, auditing: c.audit != nil, tenant: c.tenant, maint: c.maint}, nil
}

// RecordsAudit implements privacy.AuditingStore: true with WithAuditOutbox.
func (s *store) RecordsAudit() bool { return s.auditing }

// AuditTx implements privacy.AuditingStore: fn runs in one transaction (a
// savepoint of the caller's, on a store from WithTx) with the store bound
// to it and a recorder that records through the outbox in it.
func (s *store) AuditTx(ctx context.Context, fn func(privacy.Store, privacy.Recorder) error) error {
	var fnErr error
	err := pgx.BeginFunc(ctx, s.q, func(tx pgx.Tx) error {
		fnErr = fn(s.bound(tx), outboxRecorder{tx: tx, r: s.audit})
		return fnErr
	})
	if err != nil && fnErr == nil { // BEGIN or COMMIT failed
		return wrap("audit transaction", err)
	}
	return err
}

// bound is s bound to tx, with s's options.
func (s *store) bound(tx pgx.Tx) *store {
	b := *s
	b.q = pgq.Tx(tx)
	return &b
}

// outboxRecorder is the privacy.Recorder of one AuditTx.
type outboxRecorder struct {
	tx pgx.Tx
	r  TxRecorder
}

func (o outboxRecorder) Record(ctx context.Context, org, actor, action, target string, payload map[string]any) error {
	if o.r == nil {
		return ErrNoAuditOutbox
	}
	return o.r.RecordTx(ctx, o.tx, org, actor, action, target, payload)
}

// WithTx implements Store.WithTx.
func (s *store) WithTx(tx pgx.Tx) Store { return s.bound(tx) }

func ts(t time.Time) pgtype.Timestamptz { return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()} }

func tv(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("privacy/pgstore: %s: %w", op, privacy.ErrNotFound)
	}
	return fmt.Errorf("privacy/pgstore: %s: %w", op, err)
}

const subjectCols = `org, subject_id, state, deletion_requested_at, erase_after, erased_at, next_due`

func scanSubject(row pgx.Row) (privacy.Subject, error) {
	var s privacy.Subject
	var st string
	var req, after, erased, due pgtype.Timestamptz
	if err := row.Scan(&s.Org, &s.ID, &st, &req, &after, &erased, &due); err != nil {
		return s, err
	}
	s.State = privacy.State(st)
	s.DeletionRequestedAt, s.EraseAfter, s.ErasedAt, s.NextDue = tv(req), tv(after), tv(erased), tv(due)
	return s, nil
}

// Subject implements privacy.Store.
func (s *store) Subject(ctx context.Context, org, id string) (sub privacy.Subject, err error) {
	if s.inOrg(ctx, org, &err, func(b *store) { sub, err = b.Subject(ctx, org, id) }) {
		return sub, err
	}
	sub, err = scanSubject(s.q.QueryRow(ctx, `SELECT `+subjectCols+` FROM privacy_subjects WHERE org = $1 AND subject_id = $2`, org, id))
	return sub, wrap("subject", err)
}

// Transition implements privacy.Store.
func (s *store) Transition(ctx context.Context, next privacy.Subject, from privacy.State, ev privacy.Event) (err error) {
	if err := pgtenant.NeedOrg(s.tenant, next.Org); err != nil {
		return fmt.Errorf("privacy/pgstore: transition: %w: %w", privacy.ErrInvalid, err)
	}
	if s.inOrg(ctx, next.Org, &err, func(b *store) { err = b.Transition(ctx, next, from, ev) }) {
		return err
	}
	err = pgx.BeginFunc(ctx, s.q, func(tx pgx.Tx) error {
		var cur string
		var after pgtype.Timestamptz
		var leased bool
		err := tx.QueryRow(ctx, `SELECT state, erase_after, lease_owner IS NOT NULL FROM privacy_subjects
			WHERE org = $1 AND subject_id = $2 FOR UPDATE`,
			next.Org, next.ID).Scan(&cur, &after, &leased)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if from != privacy.StateActive {
				return fmt.Errorf("%w: subject %q is active, not %s", privacy.ErrConflict, next.ID, from)
			}
			tag, err := tx.Exec(ctx, `INSERT INTO privacy_subjects (`+subjectCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT DO NOTHING`, next.Org, next.ID, string(next.State),
				ts(next.DeletionRequestedAt), ts(next.EraseAfter), ts(next.ErasedAt), ts(next.NextDue))
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("%w: subject %q created concurrently", privacy.ErrConflict, next.ID)
			}
		case err != nil:
			return err
		default:
			if leased {
				return fmt.Errorf("%w: subject %q is being erased by a sweeper", privacy.ErrConflict, next.ID)
			}
			if privacy.State(cur) != from {
				return fmt.Errorf("%w: subject %q is %s, not %s", privacy.ErrConflict, next.ID, cur, from)
			}
			if from == privacy.StateDeletionRequested && next.State == privacy.StateActive && after.Valid && !ev.At.Before(after.Time) {
				return fmt.Errorf("%w: cooldown of subject %q ended", privacy.ErrConflict, next.ID)
			}
			if _, err := tx.Exec(ctx, `UPDATE privacy_subjects SET state = $3, deletion_requested_at = $4, erase_after = $5,
				erased_at = $6, next_due = $7 WHERE org = $1 AND subject_id = $2`, next.Org, next.ID, string(next.State),
				ts(next.DeletionRequestedAt), ts(next.EraseAfter), ts(next.ErasedAt), ts(next.NextDue)); err != nil {
				return err
			}
		}
		return insertEvents(ctx, tx, []privacy.Event{ev})
	})
	if errors.Is(err, privacy.ErrConflict) {
		return err
	}
	return wrap("transition", err)
}

func insertEvents(ctx context.Context, tx pgx.Tx, evs []privacy.Event) error {
	if len(evs) == 0 {
		return nil
	}
	n := len(evs)
	org, sub, act, from, to, actor, reason := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	at := make([]time.Time, n)
	for i, e := range evs {
		org[i], sub[i], at[i], act[i], from[i], to[i], actor[i], reason[i] = e.Org, e.SubjectID, e.At, e.Action, string(e.From), string(e.To), e.Actor, e.Reason
	}
	_, err := tx.Exec(ctx, `INSERT INTO privacy_events (org, subject_id, at, action, from_state, to_state, actor, reason)
		SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])`,
		org, sub, at, act, from, to, actor, reason)
	return err
}

// Events implements privacy.Store.
func (s *store) Events(ctx context.Context, org, id string) (evs []privacy.Event, err error) {
	if s.inOrg(ctx, org, &err, func(b *store) { evs, err = b.Events(ctx, org, id) }) {
		return evs, err
	}
	rows, err := s.q.Query(ctx, `SELECT org, subject_id, at, action, from_state, to_state, actor, reason
		FROM privacy_events WHERE org = $1 AND subject_id = $2 ORDER BY seq`, org, id)
	if err != nil {
		return nil, wrap("events", err)
	}
	evs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (privacy.Event, error) {
		var e privacy.Event
		var from, to string
		err := r.Scan(&e.Org, &e.SubjectID, &e.At, &e.Action, &from, &to, &e.Actor, &e.Reason)
		e.From, e.To = privacy.State(from), privacy.State(to)
		return e, err
	})
	return evs, wrap("events", err)
}

func collectSubjects(rows pgx.Rows, err error) ([]privacy.Subject, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (privacy.Subject, error) { return scanSubject(r) })
}

func sortDue(ss []privacy.Subject) {
	sort.Slice(ss, func(i, j int) bool {
		a, b := ss[i], ss[j]
		if !a.NextDue.Equal(b.NextDue) {
			return a.NextDue.Before(b.NextDue)
		}
		if a.Org != b.Org {
			return a.Org < b.Org
		}
		return a.ID < b.ID
	})
}

// claimDueSQL claims due subjects ($1 owner, $2 lease end, $3 now, $4
// limit).
//
// The rows locked by the due-index scan are updated by their ctid: a TID
// scan in every plan, whatever the statistics say. Joined back on the
// primary key, the planner chose (in the custom plans of a statement's
// first executions on a connection) a hash join over a sequential scan of
// the whole table, 100,000 rows read per batch of 1,000 at 100,000
// subjects (EXPLAIN in docs/BENCHMARKS.md), a cost per batch that grows
// with the table.
// A locked row whose newest version is younger than the statement's
// snapshot (released by another sweeper a moment before) is not visible to
// the TID scan: it is left unclaimed, for the next claim.
const claimDueSQL = `
		UPDATE privacy_subjects s SET lease_owner = $1, lease_until = $2, last_run = $1
		WHERE s.ctid = ANY (ARRAY(SELECT ctid FROM privacy_subjects
		      WHERE next_due <= $3 AND (lease_until IS NULL OR lease_until <= $3) AND last_run IS DISTINCT FROM $1
		      ORDER BY next_due, org, subject_id LIMIT $4 FOR UPDATE SKIP LOCKED))
		RETURNING s.org, s.subject_id, s.state, s.deletion_requested_at, s.erase_after, s.erased_at, s.next_due`

// ClaimDue implements privacy.Store with FOR UPDATE SKIP LOCKED and a lease:
// concurrent sweepers skip each other's rows instead of waiting on them.
func (s *store) ClaimDue(ctx context.Context, c privacy.Claim) ([]privacy.Subject, error) {
	q, err := s.sweepQuerier()
	if err != nil {
		return nil, err
	}
	ss, err := collectSubjects(q.Query(ctx, claimDueSQL,
		c.Owner, c.Now.Add(c.Lease), c.Now, c.Limit))
	if err != nil {
		return nil, wrap("claim", err)
	}
	sortDue(ss)
	return ss, nil
}

// DueSubjects implements privacy.Store.
func (s *store) DueSubjects(ctx context.Context, now time.Time, limit int) ([]privacy.Subject, error) {
	q, err := s.sweepQuerier()
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 1 << 30
	}
	ss, err := collectSubjects(q.Query(ctx, `SELECT `+subjectCols+` FROM privacy_subjects
		WHERE next_due <= $1 ORDER BY next_due, org, subject_id LIMIT $2`, now, limit))
	return ss, wrap("due subjects", err)
}

// Progress implements privacy.Store.
func (s *store) Progress(ctx context.Context, refs []privacy.Ref) ([]privacy.Progress, error) {
	q, err := s.sweepQuerier()
	if err != nil {
		return nil, err
	}
	orgs, ids := make([]string, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		orgs[i], ids[i] = r.Org, r.ID
	}
	rows, err := q.Query(ctx, `SELECT p.org, p.subject_id, p.domain, p.phase, p.at, p.retain_until
		FROM privacy_progress p JOIN unnest($1::text[], $2::text[]) AS r(org, subject_id)
		ON p.org = r.org AND p.subject_id = r.subject_id`, orgs, ids)
	if err != nil {
		return nil, wrap("progress", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (privacy.Progress, error) {
		var p privacy.Progress
		var phase string
		var until pgtype.Timestamptz
		err := r.Scan(&p.Org, &p.SubjectID, &p.Domain, &phase, &p.At, &until)
		p.Phase, p.RetainUntil = privacy.Phase(phase), tv(until)
		return p, err
	})
	return ps, wrap("progress", err)
}

// SetProgress implements privacy.Store.
func (s *store) SetProgress(ctx context.Context, ps []privacy.Progress) error {
	q, err := s.sweepQuerier()
	if err != nil {
		return err
	}
	n := len(ps)
	org, sub, dom, phase := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	at, until := make([]time.Time, n), make([]pgtype.Timestamptz, n)
	for i, p := range ps {
		org[i], sub[i], dom[i], phase[i], at[i], until[i] = p.Org, p.SubjectID, p.Domain, string(p.Phase), p.At, ts(p.RetainUntil)
	}
	_, err = q.Exec(ctx, `INSERT INTO privacy_progress (org, subject_id, domain, phase, at, retain_until)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[])
		ON CONFLICT (org, subject_id, domain) DO UPDATE
		SET phase = EXCLUDED.phase, at = EXCLUDED.at, retain_until = EXCLUDED.retain_until
		WHERE privacy_progress.phase <> 'erased'`, org, sub, dom, phase, at, until)
	return wrap("set progress", err)
}

// releaseSQL writes a batch's outcomes back to the subjects still leased
// to $1 ($2 to $6: org, subject_id, state, erased_at, next_due per subject).
//
// The owner is a column of u, not a condition on s alone: a new
// sweep's owner is in no statistics, so the planner took s.lease_owner
// = $1 for one row, scanned the whole table for it and joined u
// against each of the batch's rows (a million comparisons and 1.3 s
// per batch of 1,000 at 100,000 subjects, in the custom plans of the
// statement's first executions on a connection). As a join condition it
// leaves the planner the primary key probe per row of u.
const releaseSQL = `UPDATE privacy_subjects s
			SET state = u.state, erased_at = u.erased_at, next_due = u.next_due, lease_owner = NULL, lease_until = NULL
			FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], array_fill($1::text, ARRAY[cardinality($2::text[])]))
				AS u(org, subject_id, state, erased_at, next_due, owner)
			WHERE s.org = u.org AND s.subject_id = u.subject_id AND s.lease_owner = u.owner
			RETURNING s.org, s.subject_id`

// Release implements privacy.Store: one statement for the batch, only for
// rows still leased to owner, and their events in the same transaction.
func (s *store) Release(ctx context.Context, owner string, rs []privacy.Release) ([]privacy.Ref, error) {
	q, err := s.sweepQuerier()
	if err != nil {
		return nil, err
	}
	n := len(rs)
	org, sub, state := make([]string, n), make([]string, n), make([]string, n)
	erased, due := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	for i, r := range rs {
		org[i], sub[i], state[i], erased[i], due[i] = r.Subject.Org, r.Subject.ID, string(r.Subject.State), ts(r.Subject.ErasedAt), ts(r.Subject.NextDue)
	}
	var released []privacy.Ref
	err = pgx.BeginFunc(ctx, q, func(tx pgx.Tx) error {
		released = released[:0]
		rows, err := tx.Query(ctx, releaseSQL, owner, org, sub, state, erased, due)
		if err != nil {
			return err
		}
		owned := map[privacy.Ref]bool{}
		var o, id string
		if _, err := pgx.ForEachRow(rows, []any{&o, &id}, func() error {
			owned[privacy.Ref{Org: o, ID: id}] = true
			released = append(released, privacy.Ref{Org: o, ID: id})
			return nil
		}); err != nil {
			return err
		}
		var evs, pendingEvs []privacy.Event
		var pendingIDs []string
		for _, r := range rs {
			if r.Event != nil && owned[privacy.Ref{Org: r.Subject.Org, ID: r.Subject.ID}] {
				evs = append(evs, *r.Event)
				if r.AuditID != "" {
					pendingEvs, pendingIDs = append(pendingEvs, *r.Event), append(pendingIDs, r.AuditID)
				}
			}
		}
		if err := insertEvents(ctx, tx, evs); err != nil {
			return err
		}
		return insertPending(ctx, tx, pendingIDs, pendingEvs)
	})
	if err != nil {
		return nil, wrap("release", err)
	}
	return released, nil
}

// insertPending keeps evs pending audit under ids, in the release's
// transaction.
func insertPending(ctx context.Context, tx pgx.Tx, ids []string, evs []privacy.Event) error {
	if len(evs) == 0 {
		return nil
	}
	n := len(evs)
	org, sub, act, from, to, actor, reason := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	at := make([]time.Time, n)
	for i, e := range evs {
		org[i], sub[i], at[i], act[i], from[i], to[i], actor[i], reason[i] = e.Org, e.SubjectID, e.At, e.Action, string(e.From), string(e.To), e.Actor, e.Reason
	}
	_, err := tx.Exec(ctx, `INSERT INTO privacy_audit_pending (id, org, subject_id, at, action, from_state, to_state, actor, reason)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])`,
		ids, org, sub, at, act, from, to, actor, reason)
	return err
}

// ClaimPendingAudits implements privacy.Store.
func (s *store) ClaimPendingAudits(ctx context.Context, c privacy.Claim) ([]privacy.PendingAudit, error) {
	q, err := s.sweepQuerier()
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `
		UPDATE privacy_audit_pending p SET lease_owner = $1, lease_until = $2
		FROM (SELECT id FROM privacy_audit_pending
		      WHERE at <= $3 AND (lease_until IS NULL OR lease_until <= $4)
		      ORDER BY at, id LIMIT $5 FOR UPDATE SKIP LOCKED) c
		WHERE p.id = c.id
		RETURNING p.id, p.org, p.subject_id, p.at, p.action, p.from_state, p.to_state, p.actor, p.reason`,
		c.Owner, c.Now.Add(c.Lease), c.Now.Add(-c.Lease), c.Now, c.Limit)
	if err != nil {
		return nil, wrap("claim pending audits", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (privacy.PendingAudit, error) {
		var p privacy.PendingAudit
		var from, to string
		err := r.Scan(&p.ID, &p.Event.Org, &p.Event.SubjectID, &p.Event.At, &p.Event.Action, &from, &to, &p.Event.Actor, &p.Event.Reason)
		p.Event.From, p.Event.To = privacy.State(from), privacy.State(to)
		return p, err
	})
	if err != nil {
		return nil, wrap("claim pending audits", err)
	}
	// RETURNING does not keep the subquery's order.
	sort.SliceStable(ps, func(i, j int) bool {
		if !ps[i].Event.At.Equal(ps[j].Event.At) {
			return ps[i].Event.At.Before(ps[j].Event.At)
		}
		return ps[i].ID < ps[j].ID
	})
	return ps, nil
}

// MarkAudited implements privacy.Store.
func (s *store) MarkAudited(ctx context.Context, ids []string) error {
	q, err := s.sweepQuerier()
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	_, err = q.Exec(ctx, `DELETE FROM privacy_audit_pending WHERE id = ANY($1)`, ids)
	return wrap("mark audited", err)
}

const holdCols = `org, id, subject_id, domain, reason, owner, placed_at, placed_by, until, lifted_at, lifted_by`

func scanHold(r pgx.Row) (privacy.Hold, error) {
	var h privacy.Hold
	var until, lifted pgtype.Timestamptz
	err := r.Scan(&h.Org, &h.ID, &h.SubjectID, &h.Domain, &h.Reason, &h.Owner, &h.PlacedAt, &h.PlacedBy, &until, &lifted, &h.LiftedBy)
	h.Until, h.LiftedAt = tv(until), tv(lifted)
	return h, err
}

// PutHold implements privacy.Store.
func (s *store) PutHold(ctx context.Context, h privacy.Hold) (err error) {
	if err := pgtenant.NeedOrg(s.tenant, h.Org); err != nil {
		return fmt.Errorf("privacy/pgstore: put hold: %w: %w", privacy.ErrInvalid, err)
	}
	if s.inOrg(ctx, h.Org, &err, func(b *store) { err = b.PutHold(ctx, h) }) {
		return err
	}
	_, err = s.q.Exec(ctx, `INSERT INTO privacy_holds (`+holdCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		h.Org, h.ID, h.SubjectID, h.Domain, h.Reason, h.Owner, h.PlacedAt, h.PlacedBy, ts(h.Until), ts(h.LiftedAt), h.LiftedBy)
	return wrap("put hold", err)
}

// LiftHold implements privacy.Store.
func (s *store) LiftHold(ctx context.Context, org, id string, at time.Time, by string) (h privacy.Hold, err error) {
	if s.inOrg(ctx, org, &err, func(b *store) { h, err = b.LiftHold(ctx, org, id, at, by) }) {
		return h, err
	}
	h, err = scanHold(s.q.QueryRow(ctx, `UPDATE privacy_holds SET lifted_at = $3, lifted_by = $4
		WHERE org = $1 AND id = $2 AND lifted_at IS NULL RETURNING `+holdCols, org, id, at, by))
	return h, wrap("lift hold", err)
}

// Holds implements privacy.Store.
func (s *store) Holds(ctx context.Context, org string) (hs []privacy.Hold, err error) {
	if s.inOrg(ctx, org, &err, func(b *store) { hs, err = b.Holds(ctx, org) }) {
		return hs, err
	}
	rows, err := s.q.Query(ctx, `SELECT `+holdCols+` FROM privacy_holds WHERE org = $1 AND lifted_at IS NULL ORDER BY placed_at, id`, org)
	if err != nil {
		return nil, wrap("holds", err)
	}
	hs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (privacy.Hold, error) { return scanHold(r) })
	return hs, wrap("holds", err)
}

const reqCols = `org, id, subject_id, kind, received_at, identity_verified, due_at, extended_reason, status, closed_at, resolution, jurisdiction`

func scanRequest(r pgx.Row) (privacy.Request, error) {
	var q privacy.Request
	var kind, status, jurisdiction string
	var closed pgtype.Timestamptz
	err := r.Scan(&q.Org, &q.ID, &q.SubjectID, &kind, &q.ReceivedAt, &q.IdentityVerified, &q.DueAt, &q.ExtendedReason, &status, &closed, &q.Resolution, &jurisdiction)
	q.Kind, q.Status, q.ClosedAt = privacy.RequestKind(kind), privacy.RequestStatus(status), tv(closed)
	q.Jurisdiction = privacy.Jurisdiction(jurisdiction)
	return q, err
}

func collectRequests(rows pgx.Rows, err error) ([]privacy.Request, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (privacy.Request, error) { return scanRequest(r) })
}

// PutRequest implements privacy.Store.
func (s *store) PutRequest(ctx context.Context, r privacy.Request) (err error) {
	if err := pgtenant.NeedOrg(s.tenant, r.Org); err != nil {
		return fmt.Errorf("privacy/pgstore: put request: %w: %w", privacy.ErrInvalid, err)
	}
	if s.inOrg(ctx, r.Org, &err, func(b *store) { err = b.PutRequest(ctx, r) }) {
		return err
	}
	j := r.Jurisdiction
	if j == "" {
		j = privacy.GDPR // as the column's default says of requests stored before jurisdictions
	}
	if !j.Valid() {
		return fmt.Errorf("%w: unknown jurisdiction %q", privacy.ErrInvalid, string(j))
	}
	tag, err := s.q.Exec(ctx, `INSERT INTO privacy_requests (`+reqCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (org, id) DO NOTHING`,
		r.Org, r.ID, r.SubjectID, string(r.Kind), r.ReceivedAt, r.IdentityVerified, r.DueAt, r.ExtendedReason, string(r.Status), ts(r.ClosedAt), r.Resolution,
		string(j))
	if err != nil {
		return wrap("put request", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: request %q exists", privacy.ErrConflict, r.ID)
	}
	return nil
}

// UpdateRequest implements privacy.Store: one conditional UPDATE.
func (s *store) UpdateRequest(ctx context.Context, prev, next privacy.Request) (err error) {
	if s.inOrg(ctx, prev.Org, &err, func(b *store) { err = b.UpdateRequest(ctx, prev, next) }) {
		return err
	}
	if next.Org != prev.Org || next.ID != prev.ID {
		return fmt.Errorf("%w: request %q: organisation and id cannot change", privacy.ErrConflict, prev.ID)
	}
	tag, err := s.q.Exec(ctx, `UPDATE privacy_requests SET identity_verified = $3, due_at = $4, extended_reason = $5,
		status = $6, closed_at = $7, resolution = $8
		WHERE org = $1 AND id = $2 AND status = $9 AND identity_verified = $10 AND extended_reason = $11`,
		prev.Org, prev.ID, next.IdentityVerified, next.DueAt, next.ExtendedReason, string(next.Status), ts(next.ClosedAt), next.Resolution,
		string(prev.Status), prev.IdentityVerified, prev.ExtendedReason)
	if err != nil {
		return wrap("update request", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: request %q changed concurrently", privacy.ErrConflict, prev.ID)
	}
	return nil
}

// Request implements privacy.Store.
func (s *store) Request(ctx context.Context, org, id string) (r privacy.Request, err error) {
	if s.inOrg(ctx, org, &err, func(b *store) { r, err = b.Request(ctx, org, id) }) {
		return r, err
	}
	r, err = scanRequest(s.q.QueryRow(ctx, `SELECT `+reqCols+` FROM privacy_requests WHERE org = $1 AND id = $2`, org, id))
	return r, wrap("request", err)
}

// Requests implements privacy.Store.
func (s *store) Requests(ctx context.Context, org, subjectID string) (rs []privacy.Request, err error) {
	if s.inOrg(ctx, org, &err, func(b *store) { rs, err = b.Requests(ctx, org, subjectID) }) {
		return rs, err
	}
	rs, err = collectRequests(s.q.Query(ctx, `SELECT `+reqCols+` FROM privacy_requests
		WHERE org = $1 AND subject_id = $2 ORDER BY received_at, id`, org, subjectID))
	return rs, wrap("requests", err)
}

// OpenRequestsDueBefore implements privacy.Store.
func (s *store) OpenRequestsDueBefore(ctx context.Context, t time.Time) ([]privacy.Request, error) {
	q, err := s.sweepQuerier()
	if err != nil {
		return nil, err
	}
	rs, err := collectRequests(q.Query(ctx, `SELECT `+reqCols+` FROM privacy_requests
		WHERE status = 'open' AND due_at < $1 ORDER BY due_at, org, id`, t))
	return rs, wrap("overdue requests", err)
}

// AppendConsent implements privacy.Store.
func (s *store) AppendConsent(ctx context.Context, c privacy.ConsentRecord) (err error) {
	if err := pgtenant.NeedOrg(s.tenant, c.Org); err != nil {
		return fmt.Errorf("privacy/pgstore: append consent: %w: %w", privacy.ErrInvalid, err)
	}
	if s.inOrg(ctx, c.Org, &err, func(b *store) { err = b.AppendConsent(ctx, c) }) {
		return err
	}
	_, err = s.q.Exec(ctx, `INSERT INTO privacy_consent (org, who, purpose, granted, version, at, source)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.Org, c.Who, c.Purpose, c.Granted, c.Version, c.At, c.Source)
	return wrap("append consent", err)
}

const consentCols = `org, who, purpose, granted, version, at, source`

func scanConsent(r pgx.Row) (privacy.ConsentRecord, error) {
	var c privacy.ConsentRecord
	err := r.Scan(&c.Org, &c.Who, &c.Purpose, &c.Granted, &c.Version, &c.At, &c.Source)
	return c, err
}

// LatestConsent implements privacy.Store.
func (s *store) LatestConsent(ctx context.Context, org, who, purpose string) (c privacy.ConsentRecord, err error) {
	if s.inOrg(ctx, org, &err, func(b *store) { c, err = b.LatestConsent(ctx, org, who, purpose) }) {
		return c, err
	}
	c, err = scanConsent(s.q.QueryRow(ctx, `SELECT `+consentCols+` FROM privacy_consent
		WHERE org = $1 AND who = $2 AND purpose = $3 ORDER BY seq DESC LIMIT 1`, org, who, purpose))
	return c, wrap("latest consent", err)
}

// ConsentHistory implements privacy.Store.
func (s *store) ConsentHistory(ctx context.Context, org, who string) (cs []privacy.ConsentRecord, err error) {
	if s.inOrg(ctx, org, &err, func(b *store) { cs, err = b.ConsentHistory(ctx, org, who) }) {
		return cs, err
	}
	rows, err := s.q.Query(ctx, `SELECT `+consentCols+` FROM privacy_consent WHERE org = $1 AND who = $2 ORDER BY seq`, org, who)
	if err != nil {
		return nil, wrap("consent history", err)
	}
	cs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (privacy.ConsentRecord, error) { return scanConsent(r) })
	return cs, wrap("consent history", err)
}
