// Package pgstore is the PostgreSQL adapter of compliance.Store (escalation
// ladder state and judgements, audit runs, report history), of
// monitor.Store (job heartbeats) and of nec1099.Store (1099 filing
// generations): one Store implements all three.
//
// One adapter serves the three packages because their tables were created
// by one migration (001_compliance.sql) before compliance was split into
// compliance, compliance/monitor and compliance/nec1099. Splitting the
// adapter would split that migration, and existing databases, which have it
// recorded as applied under the "compliance" component, would either miss
// the new components' versions or apply them twice. So Migrate (and
// "rampart migrate up --only compliance") still creates every table, under
// the same names.
//
// What must hold across application instances holds in the database: a
// member is judged at most once per (audit, period) (primary key plus a row
// lock on the member's state), filing records and judgements are
// append-only (triggers), and two generators racing on the same payee lose
// with nec1099.ErrConflict (unique key) instead of filing twice.
//
// # Inside the host's transaction
//
// store.WithTx(tx) returns the store bound to a pgx.Tx of the host's, so a
// judgement, a report or a filing generation commits with the host's own
// change: the payout run that produced a 1099 generation and the
// generation itself are both stored or neither is. Advance and
// SaveGeneration run in a savepoint of tx; one that fails or loses a race
// (compliance.ErrConflict, nec1099.ErrConflict) leaves tx usable.
//
// What does not belong in a caller's transaction, by design: heartbeats
// (RegisterJob, RecordSignal, through monitor.Monitor). A heartbeat
// reports that a job started, succeeded or failed, and a failing job is
// exactly the one whose transaction rolls back: bound to it, the failure and
// its cause would be rolled back too, and the dead-man switch would only
// notice the missed success later, without the cause. Record heartbeats on
// the pool-bound store.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/compliance/monitor"
	"github.com/rampart-sdk/rampart/compliance/nec1099"
	"github.com/rampart-sdk/rampart/internal/pgmigrate"
	"github.com/rampart-sdk/rampart/internal/pgq"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the SQL migrations, for hosts that apply them with
// their own tool (goose reads the same files).
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// Migrate applies the schema to the pool's current schema; it is
// idempotent and safe to call from every instance at startup.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Apply(ctx, pool, "compliance", Migrations())
}

// Store is compliance.Store, monitor.Store and nec1099.Store on
// PostgreSQL, plus WithTx. New returns it; the concrete type is unexported
// because its methods only restate those interfaces. A Store from New runs
// on its pool; WithTx returns one bound to a transaction of the caller's.
type Store interface {
	compliance.Store
	monitor.Store
	nec1099.Store

	// WithTx returns a store bound to tx: every operation runs in the
	// caller's transaction and commits or rolls back with it, and an
	// operation that needs a transaction of its own (Advance,
	// SaveGeneration) runs in a savepoint of tx, so when it fails or loses
	// a race (an ErrConflict) the caller's transaction is still usable. See
	// the package documentation for what belongs on the pool instead.
	//
	// Like tx itself, the returned store is for one goroutine at a time.
	// Once tx has committed or rolled back, every operation returns an
	// error that matches pgx.ErrTxClosed; a nil tx gives the same.
	WithTx(tx pgx.Tx) Store
}

// store is the Store that New returns.
type store struct {
	q pgq.Querier // the pool, or the caller's transaction (WithTx)
}

var _ Store = (*store)(nil)

// New returns a Store on pool. Call Migrate first.
func New(pool *pgxpool.Pool) Store { return &store{q: pool} }

// WithTx implements Store.
func (s *store) WithTx(tx pgx.Tx) Store { return &store{q: pgq.Tx(tx)} }

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func wrap(op string, err error) error {
	return fmt.Errorf("compliance/pgstore: %s: %w", op, err)
}

// Advance implements compliance.LadderStore. The member's state row is
// locked for the transaction, so concurrent runs of the same period on
// other instances wait and then see the judgement already stored.
func (s *store) Advance(ctx context.Context, key compliance.MemberKey, j compliance.Judgement, fn func(compliance.MemberState) (compliance.MemberState, error)) (compliance.MemberState, bool, error) {
	var out compliance.MemberState
	applied := false
	err := pgx.BeginFunc(ctx, s.q, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO compliance_ladder_state (org, audit, member) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, key.Org, key.Audit, key.Member); err != nil {
			return err
		}
		prev, err := scanState(tx.QueryRow(ctx, `SELECT level, fails, passes, last_period, updated_at
			FROM compliance_ladder_state WHERE org = $1 AND audit = $2 AND member = $3 FOR UPDATE`, key.Org, key.Audit, key.Member))
		if err != nil {
			return err
		}
		out = prev
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM compliance_ladder_judgements
			WHERE org = $1 AND audit = $2 AND member = $3 AND period = $4)`, key.Org, key.Audit, key.Member, j.Period).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		next, err := fn(prev)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO compliance_ladder_judgements
			(org, audit, member, period, pass, reason, from_level, to_level, judged_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			key.Org, key.Audit, key.Member, j.Period, j.Pass, j.Reason, prev.Level, next.Level, j.At); err != nil {
			return err
		}
		var updated *time.Time
		if !next.UpdatedAt.IsZero() {
			updated = &next.UpdatedAt
		}
		if _, err := tx.Exec(ctx, `UPDATE compliance_ladder_state SET level = $4, fails = $5, passes = $6, last_period = $7, updated_at = $8
			WHERE org = $1 AND audit = $2 AND member = $3`,
			key.Org, key.Audit, key.Member, next.Level, next.Fails, next.Passes, next.LastPeriod, updated); err != nil {
			return err
		}
		out, applied = next, true
		return nil
	})
	if err != nil {
		if isUnique(err) { // a racing instance stored the same period first
			st, serr := s.MemberState(ctx, key)
			if serr != nil {
				return compliance.MemberState{}, false, wrap("advance", serr)
			}
			return st, false, nil
		}
		return compliance.MemberState{}, false, wrap("advance", err)
	}
	return out, applied, nil
}

func scanState(row pgx.Row) (compliance.MemberState, error) {
	var st compliance.MemberState
	var updated *time.Time
	if err := row.Scan(&st.Level, &st.Fails, &st.Passes, &st.LastPeriod, &updated); err != nil {
		return st, err
	}
	if updated != nil {
		st.UpdatedAt = *updated
	}
	return st, nil
}

// MemberState implements compliance.LadderStore.
func (s *store) MemberState(ctx context.Context, key compliance.MemberKey) (compliance.MemberState, error) {
	st, err := scanState(s.q.QueryRow(ctx, `SELECT level, fails, passes, last_period, updated_at
		FROM compliance_ladder_state WHERE org = $1 AND audit = $2 AND member = $3`, key.Org, key.Audit, key.Member))
	if errors.Is(err, pgx.ErrNoRows) {
		return compliance.MemberState{}, nil
	}
	if err != nil {
		return st, wrap("member state", err)
	}
	return st, nil
}

// Judgements implements compliance.LadderStore.
func (s *store) Judgements(ctx context.Context, key compliance.MemberKey) ([]compliance.Judgement, error) {
	rows, err := s.q.Query(ctx, `SELECT period, pass, reason, from_level, to_level, judged_at
		FROM compliance_ladder_judgements WHERE org = $1 AND audit = $2 AND member = $3 ORDER BY seq`, key.Org, key.Audit, key.Member)
	if err != nil {
		return nil, wrap("judgements", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (compliance.Judgement, error) {
		var j compliance.Judgement
		err := r.Scan(&j.Period, &j.Pass, &j.Reason, &j.FromLevel, &j.ToLevel, &j.At)
		return j, err
	})
	if err != nil {
		return nil, wrap("judgements", err)
	}
	return out, nil
}

// SaveAuditRun implements compliance.LadderStore.
func (s *store) SaveAuditRun(ctx context.Context, r compliance.AuditRun) error {
	_, err := s.q.Exec(ctx, `INSERT INTO compliance_audit_runs
		(org, audit, period, started_at, finished_at, members, passed, failed, escalated, deescalated, already_judged, errors)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		r.Org, r.Audit, r.Period, r.StartedAt, r.FinishedAt, r.Members, r.Passed, r.Failed, r.Escalated, r.Deescalated, r.AlreadyJudged, r.Errors)
	if err != nil {
		return wrap("save audit run", err)
	}
	return nil
}

// AuditRuns implements compliance.LadderStore.
func (s *store) AuditRuns(ctx context.Context, org, audit string) ([]compliance.AuditRun, error) {
	rows, err := s.q.Query(ctx, `SELECT org, audit, period, started_at, finished_at, members, passed, failed, escalated,
		deescalated, already_judged, errors FROM compliance_audit_runs WHERE org = $1 AND audit = $2 ORDER BY id`, org, audit)
	if err != nil {
		return nil, wrap("audit runs", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (compliance.AuditRun, error) {
		var a compliance.AuditRun
		err := r.Scan(&a.Org, &a.Audit, &a.Period, &a.StartedAt, &a.FinishedAt, &a.Members, &a.Passed, &a.Failed,
			&a.Escalated, &a.Deescalated, &a.AlreadyJudged, &a.Errors)
		return a, err
	})
	if err != nil {
		return nil, wrap("audit runs", err)
	}
	return out, nil
}

// RegisterJob implements monitor.Store. The ping URL is not
// stored: it embeds the check's secret and belongs to process config.
func (s *store) RegisterJob(ctx context.Context, spec monitor.JobSpec, at time.Time) error {
	if spec.Name == "" || spec.Period <= 0 || spec.Grace < 0 || spec.MaxRuntime < 0 {
		return fmt.Errorf("%w: %q needs a name and a positive period", monitor.ErrInvalidJob, spec.Name)
	}
	_, err := s.q.Exec(ctx, `INSERT INTO compliance_jobs (name, period_ns, grace_ns, max_runtime_ns, registered_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name) DO UPDATE SET period_ns = EXCLUDED.period_ns, grace_ns = EXCLUDED.grace_ns,
			max_runtime_ns = EXCLUDED.max_runtime_ns`,
		spec.Name, int64(spec.Period), int64(spec.Grace), int64(spec.MaxRuntime), at)
	if err != nil {
		return wrap("register job", err)
	}
	return nil
}

// RecordSignal implements monitor.Store. Timestamps only move
// forward, so a delayed signal from a slow instance cannot rewind a job.
func (s *store) RecordSignal(ctx context.Context, job string, sig monitor.Signal, at time.Time, cause string) error {
	var q string
	args := []any{job, at}
	switch sig {
	case monitor.SignalStart:
		q = `UPDATE compliance_jobs SET last_start = GREATEST(last_start, $2) WHERE name = $1`
	case monitor.SignalSuccess:
		q = `UPDATE compliance_jobs SET last_success = GREATEST(last_success, $2) WHERE name = $1`
	case monitor.SignalFail:
		q = `UPDATE compliance_jobs SET last_failure = GREATEST(last_failure, $2),
			last_cause = CASE WHEN last_failure IS NULL OR last_failure <= $2 THEN $3 ELSE last_cause END WHERE name = $1`
		args = append(args, cause)
	default:
		return fmt.Errorf("compliance/pgstore: unknown signal %q", sig)
	}
	tag, err := s.q.Exec(ctx, q, args...)
	if err != nil {
		return wrap("record signal", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %q", monitor.ErrUnknownJob, job)
	}
	return nil
}

// Jobs implements monitor.Store.
func (s *store) Jobs(ctx context.Context) ([]monitor.JobRecord, error) {
	rows, err := s.q.Query(ctx, `SELECT name, period_ns, grace_ns, max_runtime_ns, registered_at, last_start, last_success,
		last_failure, last_cause FROM compliance_jobs ORDER BY name`)
	if err != nil {
		return nil, wrap("jobs", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (monitor.JobRecord, error) {
		var j monitor.JobRecord
		var period, grace, maxRun int64
		var start, success, failure *time.Time
		err := r.Scan(&j.Name, &period, &grace, &maxRun, &j.RegisteredAt, &start, &success, &failure, &j.LastCause)
		j.Period, j.Grace, j.MaxRuntime = time.Duration(period), time.Duration(grace), time.Duration(maxRun)
		j.LastStart, j.LastSuccess, j.LastFailure = deref(start), deref(success), deref(failure)
		return j, err
	})
	if err != nil {
		return nil, wrap("jobs", err)
	}
	return out, nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// SaveReport implements compliance.ReportStore.
func (s *store) SaveReport(ctx context.Context, r compliance.ReportRecord) error {
	// ON CONFLICT DO NOTHING, not a unique violation: a duplicate must not
	// abort the transaction of a caller the store is bound to.
	tag, err := s.q.Exec(ctx, `INSERT INTO compliance_reports (id, org, generated_at, pass, body) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, r.ID, r.Org, r.GeneratedAt, r.Pass, string(r.JSON))
	if err != nil {
		return wrap("save report", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: report %s exists", compliance.ErrConflict, r.ID)
	}
	return nil
}

// Reports implements compliance.ReportStore.
func (s *store) Reports(ctx context.Context, org string, limit int) ([]compliance.ReportRecord, error) {
	q := `SELECT id, org, generated_at, pass, body::text FROM compliance_reports WHERE org = $1 ORDER BY generated_at DESC, id DESC`
	args := []any{org}
	if limit > 0 {
		q += ` LIMIT $2`
		args = append(args, limit)
	}
	rows, err := s.q.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap("reports", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (compliance.ReportRecord, error) {
		var rec compliance.ReportRecord
		var body string
		err := r.Scan(&rec.ID, &rec.Org, &rec.GeneratedAt, &rec.Pass, &body)
		rec.JSON = []byte(body)
		return rec, err
	})
	if err != nil {
		return nil, wrap("reports", err)
	}
	return out, nil
}

// SaveGeneration implements nec1099.Store.
func (s *store) SaveGeneration(ctx context.Context, g nec1099.Generation, records []nec1099.FilingRecord) error {
	err := pgx.BeginFunc(ctx, s.q, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO compliance_filing_generations
			(id, org, tax_year, generated_at, threshold_cents, threshold_source, records, corrections, missing_tax_ids)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			g.ID, g.Org, g.TaxYear, g.GeneratedAt, g.ThresholdCents, g.ThresholdSource, g.Records, g.Corrections, g.MissingTaxIDs); err != nil {
			return err
		}
		for _, r := range records {
			var orig *string
			if r.OriginalID != "" {
				orig = &r.OriginalID
			}
			if _, err := tx.Exec(ctx, `INSERT INTO compliance_filings
				(id, org, tax_year, payee_id, seq, generation_id, amount_cents, corrected, original_id, tax_id_missing, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
				r.ID, r.Org, r.TaxYear, r.PayeeID, r.Seq, r.GenerationID, r.AmountCents, r.Corrected, orig, r.TaxIDMissing, r.CreatedAt); err != nil {
				return err
			}
		}
		return nil
	})
	if isUnique(err) {
		return fmt.Errorf("%w: filing records of tax year %d", nec1099.ErrConflict, g.TaxYear)
	}
	if err != nil {
		return wrap("save generation", err)
	}
	return nil
}

// FilingHistory implements nec1099.Store.
func (s *store) FilingHistory(ctx context.Context, org string, taxYear int) ([]nec1099.FilingRecord, error) {
	rows, err := s.q.Query(ctx, `SELECT id, org, tax_year, payee_id, seq, generation_id, amount_cents, corrected,
		COALESCE(original_id, ''), tax_id_missing, created_at FROM compliance_filings
		WHERE org = $1 AND tax_year = $2 ORDER BY payee_id, seq`, org, taxYear)
	if err != nil {
		return nil, wrap("filing history", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (nec1099.FilingRecord, error) {
		var f nec1099.FilingRecord
		err := r.Scan(&f.ID, &f.Org, &f.TaxYear, &f.PayeeID, &f.Seq, &f.GenerationID, &f.AmountCents, &f.Corrected,
			&f.OriginalID, &f.TaxIDMissing, &f.CreatedAt)
		return f, err
	})
	if err != nil {
		return nil, wrap("filing history", err)
	}
	return out, nil
}

// Generations implements nec1099.Store.
func (s *store) Generations(ctx context.Context, org string, taxYear int) ([]nec1099.Generation, error) {
	rows, err := s.q.Query(ctx, `SELECT id, org, tax_year, generated_at, threshold_cents, threshold_source, records,
		corrections, missing_tax_ids FROM compliance_filing_generations WHERE org = $1 AND tax_year = $2 ORDER BY seq`, org, taxYear)
	if err != nil {
		return nil, wrap("generations", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (nec1099.Generation, error) {
		var g nec1099.Generation
		err := r.Scan(&g.ID, &g.Org, &g.TaxYear, &g.GeneratedAt, &g.ThresholdCents, &g.ThresholdSource, &g.Records,
			&g.Corrections, &g.MissingTaxIDs)
		return g, err
	})
	if err != nil {
		return nil, wrap("generations", err)
	}
	return out, nil
}
