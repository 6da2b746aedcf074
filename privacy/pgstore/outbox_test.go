package pgstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
	auditpg "github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgfault"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/pgstore"
)

// outboxEnv is a schema with privacy's and the audit log's tables, a
// users table for a sweep to erase, and an audit log whose outbox privacy
// records through.
type outboxEnv struct {
	db    *pgtest.DB
	audit auditpg.Store
	log   *auditlog.Log
	rec   *auditpg.TxRecorder
}

func newOutboxEnv(t *testing.T) *outboxEnv {
	t.Helper()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	require.NoError(t, auditpg.Migrate(ctx, db.Pool))
	_, err := db.Pool.Exec(ctx, `CREATE TABLE users (org text, id text, name text)`)
	require.NoError(t, err)
	as := auditpg.New(db.Pool)
	l, err := auditlog.New(as, auditlog.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	for _, a := range privacy.AuditActions() {
		require.NoError(t, l.Register(auditlog.ActionType{Name: a, Category: auditlog.CategoryData, Description: a}))
	}
	return &outboxEnv{db: db, audit: as, log: l, rec: auditpg.NewTxRecorder(l)}
}

// manager is the privacy services over a store on pool that records through the
// outbox, with the users domain.
func (e *outboxEnv) manager(t *testing.T, pool *pgxpool.Pool, clock func() time.Time) *services {
	t.Helper()
	m := newServices(t, mustNew(t, pool, pgstore.WithAuditOutbox(e.rec)), privacy.WithClock(clock))
	users, err := pgstore.NewTableEraser(pool, pgstore.Table{Name: "users", OrgColumn: "org", SubjectColumn: "id"})
	require.NoError(t, err)
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: users}))
	return m
}

const day = 24 * time.Hour

// outboxRows counts the waiting outbox rows of action on target, as q
// sees them.
func outboxRows(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, action, target string) int {
	t.Helper()
	var n int
	require.NoError(t, q.QueryRow(context.Background(),
		`SELECT count(*) FROM auditlog_outbox WHERE action = $1 AND target = $2`, action, target).Scan(&n))
	return n
}

// drain runs the relay until the outbox is empty, then verifies chain and
// returns its entries.
func (e *outboxEnv) drain(t *testing.T, chain string) []auditlog.Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.log.RunOutbox(ctx, e.audit, auditlog.RelayOptions{Interval: time.Millisecond}) }()
	for {
		st, err := e.audit.OutboxStatus(ctx)
		if err == nil && st.Drained() {
			break
		}
		require.NoError(t, ctx.Err(), "outbox not drained: %+v, %v", st, err)
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	bg := context.Background()
	_, err := auditlog.Verify(bg, e.audit, chain, auditlog.VerifyOptions{})
	if errors.Is(err, auditlog.ErrNotFound) {
		return nil
	}
	require.NoError(t, err)
	var out []auditlog.Entry
	require.NoError(t, e.audit.Scan(bg, chain, 0, func(en *auditlog.Entry) error {
		out = append(out, *en)
		return nil
	}))
	return out
}

func entriesOf(es []auditlog.Entry, action, target string) int {
	n := 0
	for _, e := range es {
		if e.Action == action && e.Target == target {
			n++
		}
	}
	return n
}

// Through a Lifecycle over a store bound to the host's transaction, the
// transition and its audit entry commit with the host: rolled back, the
// subject is unchanged and no outbox row, hence no entry, ever exists; a
// transition the store refuses inside the host's transaction leaves no row
// and the transaction usable; committed, exactly one entry is sealed.
func TestAuditOutboxJoinsHostTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newOutboxEnv(t)
	store := mustNew(t, e.db.Pool, pgstore.WithAuditOutbox(e.rec))
	now := t0
	m := newServices(t, store, privacy.WithClock(func() time.Time { return now }))

	hostChangedItsMind := errors.New("host rolled back")
	err := pgx.BeginFunc(ctx, e.db.Pool, func(tx pgx.Tx) error {
		_, err := m.WithStore(store.WithTx(tx)).RequestDeletion(ctx, privacy.Ref{Org: "o", ID: "u1"}, "user:u1", "")
		require.NoError(t, err)
		require.Equal(t, 1, outboxRows(t, tx, privacy.ActionDeletionRequested, "subject:u1"), "recorded in tx")
		return hostChangedItsMind
	})
	require.ErrorIs(t, err, hostChangedItsMind)
	st, err := m.Status(ctx, privacy.Ref{Org: "o", ID: "u1"})
	require.NoError(t, err)
	require.Equal(t, privacy.StateActive, st.State)
	require.Zero(t, outboxRows(t, e.db.Pool, privacy.ActionDeletionRequested, "subject:u1"))

	// A subject leased to a sweeper: the store refuses the restore; the
	// host's transaction goes on and commits its other transition.
	_, err = m.RequestDeletion(ctx, privacy.Ref{Org: "o", ID: "u2"}, "user:u2", "")
	require.NoError(t, err)
	_, err = store.ClaimDue(ctx, privacy.Claim{Owner: "sweeper", Now: t0.Add(31 * day), Lease: time.Hour, Limit: 10})
	require.NoError(t, err)
	require.NoError(t, pgx.BeginFunc(ctx, e.db.Pool, func(tx pgx.Tx) error {
		bound := m.WithStore(store.WithTx(tx))
		_, err := bound.Restore(ctx, privacy.Ref{Org: "o", ID: "u2"}, "user:u2", "")
		require.ErrorIs(t, err, privacy.ErrConflict)
		_, err = bound.RequestDeletion(ctx, privacy.Ref{Org: "o", ID: "u1"}, "user:u1", "")
		return err
	}))
	require.Zero(t, outboxRows(t, e.db.Pool, privacy.ActionRestored, "subject:u2"))

	entries := e.drain(t, "org:o")
	require.Equal(t, 1, entriesOf(entries, privacy.ActionDeletionRequested, "subject:u1"))
	require.Equal(t, 1, entriesOf(entries, privacy.ActionDeletionRequested, "subject:u2"))
	require.Zero(t, entriesOf(entries, privacy.ActionRestored, "subject:u2"))
	require.Len(t, entries, 2)
}

// diesAfterRelease is a store whose AuditTx commits and then reports the
// process gone, as if the sweep died right after its release.
type diesAfterRelease struct{ pgstore.Store }

var errDied = errors.New("sweep process died")

func (s diesAfterRelease) AuditTx(ctx context.Context, fn func(privacy.Store, privacy.Recorder) error) error {
	released := false
	err := s.Store.AuditTx(ctx, func(bs privacy.Store, rec privacy.Recorder) error {
		return fn(releaseSpy{bs, &released}, rec)
	})
	if err == nil && released {
		return errDied
	}
	return err
}

type releaseSpy struct {
	privacy.Store
	released *bool
}

func (s releaseSpy) Release(ctx context.Context, owner string, rs []privacy.Release) ([]privacy.Ref, error) {
	*s.released = true
	return s.Store.Release(ctx, owner, rs)
}

// With the outbox, each erased subject has exactly one audit entry after
// the relay, carrying its event's ID, and no pending-audit marker is
// written, even when the sweep dies right after its release: the entry
// committed with it. A later sweep records nothing a second time.
func TestAuditOutboxSweep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newOutboxEnv(t)
	now := t0
	clock := func() time.Time { return now }
	m := e.manager(t, e.db.Pool, clock)
	subjects := []string{"u1", "u2", "u3"}
	for _, id := range subjects {
		_, err := e.db.Pool.Exec(ctx, `INSERT INTO users VALUES ('o', $1, 'N')`, id)
		require.NoError(t, err)
		_, err = m.RequestDeletion(ctx, privacy.Ref{Org: "o", ID: id}, "user:"+id, "")
		require.NoError(t, err)
	}
	now = now.Add(31 * day)
	dying := newServices(t, diesAfterRelease{mustNew(t, e.db.Pool, pgstore.WithAuditOutbox(e.rec))}, privacy.WithClock(clock))
	for _, d := range m.Domains() {
		require.NoError(t, dying.RegisterDomain(d))
	}
	_, err := dying.Sweep(ctx, privacy.SweepOptions{})
	require.ErrorIs(t, err, errDied)

	var pending int
	require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM privacy_audit_pending`).Scan(&pending))
	require.Zero(t, pending, "no marker needed")
	now = now.Add(day)
	rep, err := m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Zero(t, rep.Claimed+rep.AuditsRecovered, "nothing left to erase or to audit")

	entries := e.drain(t, "org:o")
	eventIDs := map[string]bool{}
	for _, id := range subjects {
		st, err := m.Status(ctx, privacy.Ref{Org: "o", ID: id})
		require.NoError(t, err)
		require.Equal(t, privacy.StateErased, st.State)
		require.Equal(t, 1, entriesOf(entries, privacy.ActionErased, "subject:"+id), id)
	}
	for _, en := range entries {
		if en.Action == privacy.ActionErased {
			var p map[string]any
			require.NoError(t, json.Unmarshal(en.Payload, &p))
			require.NotEmpty(t, p["event_id"])
			eventIDs[p["event_id"].(string)] = true
		}
	}
	require.Len(t, eventIDs, len(subjects))
	global := e.drain(t, auditlog.GlobalChain)
	require.Equal(t, 1, entriesOf(global, privacy.ActionSweepCompleted, ""), "the second sweep's summary; the first died before its own")
}

// Pending markers left by a sweep that ran without the outbox (before a
// host enabled it) are recorded through the outbox together with their
// removal: once, whatever fails when.
func TestAuditOutboxRecoversOldMarkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newOutboxEnv(t)
	now := t0
	clock := func() time.Time { return now }
	plain := newServices(t, mustNew(t, e.db.Pool), privacy.WithClock(clock), privacy.WithRecorder(failing{}))
	users, err := pgstore.NewTableEraser(e.db.Pool, pgstore.Table{Name: "users", OrgColumn: "org", SubjectColumn: "id"})
	require.NoError(t, err)
	require.NoError(t, plain.RegisterDomain(privacy.Domain{Name: "users", Eraser: users}))
	s, ev := deletionRequested("u1")
	require.NoError(t, mustNew(t, e.db.Pool).Transition(ctx, s, privacy.StateActive, ev))
	now = now.Add(31 * day)
	_, err = plain.Sweep(ctx, privacy.SweepOptions{})
	require.Error(t, err, "the audit log was down: the erasure stays pending")

	now = now.Add(day)
	rep, err := e.manager(t, e.db.Pool, clock).Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, rep.AuditsRecovered)
	var pending int
	require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM privacy_audit_pending`).Scan(&pending))
	require.Zero(t, pending)
	require.Equal(t, 1, entriesOf(e.drain(t, "org:o"), privacy.ActionErased, "subject:u1"))
}

type failing struct{}

func (failing) Record(context.Context, string, string, string, string, map[string]any) error {
	return errors.New("audit log down")
}

// TestFaultAuditOutbox kills the backend at every statement of a deletion
// request (on the pool, and inside a host transaction that deactivates the
// account) and of a sweep recording through the outbox: afterwards each
// subject has either its state change and exactly one outbox row for it,
// or neither; after a clean sweep and the relay, the chain verifies and
// holds exactly one entry per committed change.
func TestFaultAuditOutbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newOutboxEnv(t)
	fp := pgfault.New(t, e.db.URL, 2)
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	clean, faulty := e.manager(t, e.db.Pool, clock), e.manager(t, fp.Pool, clock)
	checkOutcome := func(o pgfault.Outcome) {
		if o.Err != nil {
			require.True(t, o.Killed, "an error without a kill: %v", o.Err)
			require.True(t, pgfault.ConnectionLost(o.Err), "point %d: %v", o.Point, o.Err)
		}
	}

	// Deletion requests.
	run := 0
	var requested []string
	points := fp.EachPoint(t, 30, func(ctx context.Context) error {
		run++
		id := fmt.Sprint("d", run)
		_, err := faulty.RequestDeletion(ctx, privacy.Ref{Org: "o", ID: id}, "user:"+id, "")
		return err
	}, func(o pgfault.Outcome) {
		checkOutcome(o)
		id := fmt.Sprint("d", run)
		st, err := clean.Status(ctx, privacy.Ref{Org: "o", ID: id})
		require.NoError(t, err)
		changed := st.State == privacy.StateDeletionRequested
		rows := outboxRows(t, e.db.Pool, privacy.ActionDeletionRequested, "subject:"+id)
		require.Equal(t, map[bool]int{true: 1, false: 0}[changed], rows, "point %d: changed=%v, %d outbox rows", o.Point, changed, rows)
		if changed {
			requested = append(requested, id)
		}
		if o.Err == nil {
			require.True(t, changed, "point %d: acknowledged", o.Point)
		}
	})
	t.Logf("deletion request: %d kill points", points)

	// Deletion requests inside a host transaction that also deactivates
	// the account: the three commit together or not at all.
	_, err := e.db.Pool.Exec(ctx, `CREATE TABLE accounts (id text PRIMARY KEY, active bool NOT NULL)`)
	require.NoError(t, err)
	faultyStore := faulty.Store.(pgstore.Store)
	run = 0
	points = fp.EachPoint(t, 30, func(ctx context.Context) error {
		run++
		id := fmt.Sprint("h", run)
		if _, err := e.db.Pool.Exec(ctx, `INSERT INTO accounts VALUES ($1, true)`, id); err != nil {
			return err
		}
		return pgx.BeginFunc(ctx, fp.Pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE accounts SET active = false WHERE id = $1`, id); err != nil {
				return err
			}
			_, err := faulty.WithStore(faultyStore.WithTx(tx)).RequestDeletion(ctx, privacy.Ref{Org: "o", ID: id}, "user:"+id, "")
			return err
		})
	}, func(o pgfault.Outcome) {
		checkOutcome(o)
		id := fmt.Sprint("h", run)
		var active bool
		require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT active FROM accounts WHERE id = $1`, id).Scan(&active))
		st, err := clean.Status(ctx, privacy.Ref{Org: "o", ID: id})
		require.NoError(t, err)
		changed := st.State == privacy.StateDeletionRequested
		rows := outboxRows(t, e.db.Pool, privacy.ActionDeletionRequested, "subject:"+id)
		require.Equal(t, !active, changed, "point %d: deactivated=%v, deletion requested=%v", o.Point, !active, changed)
		require.Equal(t, map[bool]int{true: 1, false: 0}[changed], rows, "point %d: changed=%v, %d outbox rows", o.Point, changed, rows)
		if changed {
			requested = append(requested, id)
		}
		if o.Err == nil {
			require.True(t, changed, "point %d: acknowledged", o.Point)
		}
	})
	t.Logf("deletion in a host transaction: %d kill points", points)

	// Sweeps: each run erases subjects of its own.
	run = 0
	var erased []string
	points = fp.EachPoint(t, 100, func(ctx context.Context) error {
		run++
		for i := range 2 {
			id := fmt.Sprintf("s%d-%d", run, i)
			_, err := e.db.Pool.Exec(ctx, `INSERT INTO users VALUES ('o', $1, 'N')`, id)
			require.NoError(t, err)
			_, err = clean.RequestDeletion(ctx, privacy.Ref{Org: "o", ID: id}, "user:"+id, "")
			require.NoError(t, err)
		}
		advance(31 * day)
		_, err := faulty.Sweep(ctx, privacy.SweepOptions{})
		return err
	}, func(o pgfault.Outcome) {
		checkOutcome(o)
		for i := range 2 {
			id := fmt.Sprintf("s%d-%d", run, i)
			st, err := clean.Status(ctx, privacy.Ref{Org: "o", ID: id})
			require.NoError(t, err)
			done := st.State == privacy.StateErased
			rows := outboxRows(t, e.db.Pool, privacy.ActionErased, "subject:"+id)
			require.Equal(t, map[bool]int{true: 1, false: 0}[done], rows, "point %d, %s: erased=%v, %d outbox rows", o.Point, id, done, rows)
			erased = append(erased, id)
		}
		// The next sweep, once the killed one's lease has passed,
		// finishes the work.
		advance(time.Hour)
		_, err := clean.Sweep(ctx, privacy.SweepOptions{})
		require.NoError(t, err, "point %d", o.Point)
	})
	t.Logf("sweep: %d kill points", points)

	var pending int
	require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM privacy_audit_pending`).Scan(&pending))
	require.Zero(t, pending, "no marker is ever written")
	entries := e.drain(t, "org:o")
	for _, id := range requested {
		require.Equal(t, 1, entriesOf(entries, privacy.ActionDeletionRequested, "subject:"+id), id)
	}
	for _, id := range erased {
		require.Equal(t, 1, entriesOf(entries, privacy.ActionErased, "subject:"+id), id)
	}
}

// AuditTx on a store built without WithAuditOutbox never writes without
// the entry: the write fails with ErrNoAuditOutbox and nothing is kept.
// (WithAuditOutbox(nil) is refused by New: TestNewRefusesInvalidConfig.)
func TestAuditOutboxWithoutRecorder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, plain := txDB(t)
	const name = "AuditTx without option"
	err := plain.AuditTx(ctx, func(s privacy.Store, rec privacy.Recorder) error {
		sub, ev := deletionRequested(name)
		if err := s.Transition(ctx, sub, privacy.StateActive, ev); err != nil {
			return err
		}
		return rec.Record(ctx, "o", "user:u", privacy.ActionDeletionRequested, "subject:"+name, nil)
	})
	require.ErrorIs(t, err, pgstore.ErrNoAuditOutbox)
	_, err = plain.Subject(ctx, "o", name)
	require.ErrorIs(t, err, privacy.ErrNotFound)
}
