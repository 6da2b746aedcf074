package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
	"github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// outboxDB is a migrated schema with a business table, biz, whose rows the
// host transactions insert next to their audit entry.
func outboxDB(t *testing.T) *pgtest.DB {
	t.Helper()
	db := pgtest.New(t)
	ctx := context.Background()
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	_, err := db.Pool.Exec(ctx, `CREATE TABLE biz (id bigint PRIMARY KEY, org text NOT NULL)`)
	require.NoError(t, err)
	return db
}

func newOutboxLog(t testing.TB, s auditlog.Store) *auditlog.Log {
	t.Helper()
	// The relay logs each lost connection; the fault tests cause hundreds.
	l, err := auditlog.New(s, auditlog.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	require.NoError(t, l.Register(auditlogtest.Actions...))
	return l
}

// hostTx is the host's action: one business row and its audit entry, in
// one transaction.
func hostTx(ctx context.Context, pool *pgxpool.Pool, l *auditlog.Log, org string, id int64) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO biz (id, org) VALUES ($1, $2)`, id, org); err != nil {
			return err
		}
		return pgstore.RecordTx(ctx, tx, l, auditlog.Entry{Org: org, Actor: "user:1", Action: "test.created",
			Target: "biz:" + strconv.FormatInt(id, 10), Payload: []byte(`{"id":` + strconv.FormatInt(id, 10) + `}`)})
	})
}

// drain runs l's relay over s until the outbox is empty (checked on
// status, a clean store), at most a minute.
func drain(t *testing.T, l *auditlog.Log, s pgstore.Store, status pgstore.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.RunOutbox(ctx, s, auditlog.RelayOptions{Interval: time.Millisecond}) }()
	for {
		st, err := status.OutboxStatus(ctx)
		if err == nil && st.Drained() {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("outbox not drained: %+v, %v", st, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

// chainTargets verifies chain and returns its entries' targets in order.
func chainTargets(t *testing.T, s auditlog.Store, chain string) []string {
	t.Helper()
	ctx := context.Background()
	_, err := auditlog.Verify(ctx, s, chain, auditlog.VerifyOptions{})
	require.NoError(t, err)
	var out []string
	require.NoError(t, s.Scan(ctx, chain, 0, func(e *auditlog.Entry) error {
		out = append(out, e.Target)
		return nil
	}))
	return out
}

// bizTargets lists org's committed business rows as entry targets, by id.
func bizTargets(t *testing.T, pool *pgxpool.Pool, org string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT 'biz:' || id FROM biz WHERE org = $1 ORDER BY id`, org)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

func sortedTargets(ts []string) []string {
	out := slices.Clone(ts)
	slices.SortFunc(out, func(a, b string) int {
		x, _ := strconv.ParseInt(strings.TrimPrefix(a, "biz:"), 10, 64)
		y, _ := strconv.ParseInt(strings.TrimPrefix(b, "biz:"), 10, 64)
		return int(x - y)
	})
	return out
}

// Committed host transactions have their entry, in commit order; rolled
// back ones have none; a defective entry fails RecordTx, not the relay.
func TestOutboxRecordTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := outboxDB(t)
	s := pgstore.New(db.Pool)
	l := newOutboxLog(t, s)

	for i := range int64(6) {
		require.NoError(t, hostTx(ctx, db.Pool, l, []string{"a", "b"}[i%2], i))
	}
	// Recorded, then rolled back: never an entry.
	rolledBack := errors.New("the host changed its mind")
	require.ErrorIs(t, hostTxThen(ctx, db.Pool, l, "a", 100, rolledBack), rolledBack)

	bad := []struct {
		name string
		e    auditlog.Entry
		want error
	}{
		{"unregistered action", auditlog.Entry{Org: "a", Actor: "user:1", Action: "nope"}, auditlog.ErrUnknownAction},
		{"bad actor", auditlog.Entry{Org: "a", Actor: "nobody", Action: "test.created"}, auditlog.ErrBadActor},
		{"payload not an object", auditlog.Entry{Org: "a", Actor: "user:1", Action: "test.created", Payload: []byte(`[1]`)}, auditlog.ErrBadPayload},
		{"chain of another org", auditlog.Entry{Org: "a", Chain: "org:b", Actor: "user:1", Action: "test.created"}, auditlog.ErrBadEntry},
		{"time out of range", auditlog.Entry{Org: "a", Actor: "user:1", Action: "test.created", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, auditlog.ErrBadEntry},
	}
	for _, tc := range bad {
		err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return pgstore.RecordTx(ctx, tx, l, tc.e) })
		require.ErrorIs(t, err, tc.want, tc.name)
	}
	require.ErrorIs(t, pgstore.RecordTx(ctx, nil, l, auditlog.Entry{}), pgstore.ErrNoTx)

	st, err := s.OutboxStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(6), st.Depth)
	require.False(t, st.Oldest.IsZero())

	drain(t, l, s, s)
	require.Equal(t, []string{"biz:0", "biz:2", "biz:4"}, chainTargets(t, s, "org:a"))
	require.Equal(t, []string{"biz:1", "biz:3", "biz:5"}, chainTargets(t, s, "org:b"))
	st, err = s.OutboxStatus(ctx)
	require.NoError(t, err)
	require.True(t, st.Drained())
	require.Zero(t, st.Age(time.Now()))

	// The Log's own appends and the relay share the chain.
	require.NoError(t, l.Record(ctx, "a", "user:2", "test.created", "direct:1", nil))
	require.NoError(t, hostTx(ctx, db.Pool, l, "a", 6))
	drain(t, l, s, s)
	require.Equal(t, []string{"biz:0", "biz:2", "biz:4", "direct:1", "biz:6"}, chainTargets(t, s, "org:a"))
}

// hostTxThen is hostTx whose transaction returns err after recording.
func hostTxThen(ctx context.Context, pool *pgxpool.Pool, l *auditlog.Log, org string, id int64, err error) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO biz (id, org) VALUES ($1, $2)`, id, org); err != nil {
			return err
		}
		if err := pgstore.RecordTx(ctx, tx, l, auditlog.Entry{Org: org, Actor: "user:1", Action: "test.created", Target: fmt.Sprintf("biz:%d", id)}); err != nil {
			return err
		}
		return err
	})
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// The roles: the record role can only insert outbox rows; neither it nor
// the app role can update or delete them, write the chain (record role),
// or steer a row into another organisation's chain; rows leave only
// through the relay, which must append their entries in the same
// transaction. A row that bypassed validation is sealed as a rejection.
func TestOutboxRoles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := outboxDB(t)
	_, recPool := loginRole(t, db, "rec_", pgstore.WithRecordRole)
	_, appPool := loginRole(t, db, "app_", pgstore.WithAppRole)
	_, relayPool := loginRole(t, db, "relay_", pgstore.WithRelayRole)
	owner := pgstore.New(db.Pool)
	recLog := newOutboxLog(t, pgstore.New(recPool)) // validates only; never appends
	relay := newOutboxLog(t, pgstore.New(relayPool))

	rec := func(org, target string) {
		t.Helper()
		require.NoError(t, pgx.BeginFunc(ctx, recPool, func(tx pgx.Tx) error {
			return pgstore.RecordTx(ctx, tx, recLog, auditlog.Entry{Org: org, Actor: "user:1", Action: "test.created", Target: target})
		}))
	}
	rec("a", "x:1")
	rec("b", "x:2")
	st, err := pgstore.New(recPool).OutboxStatus(ctx)
	require.NoError(t, err, "the record role may read the status")
	require.Equal(t, int64(2), st.Depth)

	const row = `'a', now(), 'user:1', 'test.created', 1, 'x:9', '', '', '', '\x7b7d'::bytea`
	denied := []struct {
		name string
		pool *pgxpool.Pool
		sql  string
		code string
	}{
		{"record role: delete outbox", recPool, `DELETE FROM auditlog_outbox`, "42501"},
		{"record role: update outbox", recPool, `UPDATE auditlog_outbox SET org = 'b'`, "42501"},
		{"record role: truncate outbox", recPool, `TRUNCATE auditlog_outbox`, "42501"},
		{"record role: read outbox", recPool, `SELECT count(*) FROM auditlog_outbox`, "42501"},
		{"record role: insert into the chain", recPool, `INSERT INTO auditlog_entries (chain) VALUES ('org:a')`, "42501"},
		{"record role: lock a chain", recPool, `SELECT auditlog_lock_chain('org:a')`, "42501"},
		{"record role: remove outbox rows", recPool, `SELECT auditlog_outbox_done('org:a', 0, ARRAY[1]::bigint[])`, "42501"},
		{"record role: steer the chain", recPool, `INSERT INTO auditlog_outbox (org, at, actor, action, schema_version, target, ip, user_agent, request_id, payload, chain)
			VALUES (` + row + `, 'org:b')`, "428C9"},
		{"app role: delete outbox", appPool, `DELETE FROM auditlog_outbox`, "42501"},
		{"app role: update outbox", appPool, `UPDATE auditlog_outbox SET org = 'b'`, "42501"},
		{"app role: remove outbox rows", appPool, `SELECT auditlog_outbox_done('org:a', 0, ARRAY[1]::bigint[])`, "42501"},
		{"relay role: delete outbox", relayPool, `DELETE FROM auditlog_outbox`, "42501"},
		{"relay role: remove rows without their entries", relayPool, `SELECT auditlog_outbox_done('org:a', 0, (SELECT array_agg(id) FROM auditlog_outbox WHERE chain = 'org:a'))`, "RA005"},
		{"owner: delete outbox", db.Pool, `DELETE FROM auditlog_outbox`, "RA002"},
		{"owner: update outbox", db.Pool, `UPDATE auditlog_outbox SET org = 'b'`, "RA002"},
		{"owner: truncate outbox", db.Pool, `TRUNCATE auditlog_outbox`, "RA002"},
	}
	for _, tc := range denied {
		_, err := tc.pool.Exec(ctx, tc.sql)
		require.Error(t, err, tc.name)
		require.Equal(t, tc.code, pgCode(err), "%s: %v", tc.name, err)
	}

	// A forged id is replaced by the sequence's: no row jumps the queue.
	_, err = recPool.Exec(ctx, `INSERT INTO auditlog_outbox (id, org, at, actor, action, schema_version, target, ip, user_agent, request_id, payload)
		VALUES (-5, `+row+`)`)
	require.NoError(t, err)
	var minID int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT min(id) FROM auditlog_outbox`).Scan(&minID))
	require.Positive(t, minID)
	// Rows that bypassed RecordTx: an unregistered action, a payload not
	// in canonical form. Each becomes a rejection entry in its own chain.
	_, err = recPool.Exec(ctx, `INSERT INTO auditlog_outbox (org, at, actor, action, schema_version, target, ip, user_agent, request_id, payload)
		VALUES ('b', now(), 'user:1', 'evil.action', 1, 'x:10', '', '', '', '{}'),
		       ('b', now(), 'user:1', 'test.created', 1, 'x:11', '', '', '', '{ "a" : 1 }')`)
	require.NoError(t, err)

	drain(t, relay, pgstore.New(relayPool), owner)
	require.Equal(t, []string{"x:1", "x:9"}, chainTargets(t, owner, "org:a"))
	var actions []string
	require.NoError(t, owner.Scan(ctx, "org:b", 0, func(e *auditlog.Entry) error {
		require.Equal(t, "b", e.Org, "an entry of chain org:b belongs to org b")
		actions = append(actions, e.Action)
		return nil
	}))
	require.Equal(t, []string{"test.created", auditlog.ActionOutboxRejected, auditlog.ActionOutboxRejected}, actions)
	require.Equal(t, []string{"x:2", "", ""}, chainTargets(t, owner, "org:b"))
}

// The Store's reads bound to a caller's transaction see what it sees: its
// own outbox row before commit, and the chain as verified through it.
func TestStoreWithTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := outboxDB(t)
	s := pgstore.New(db.Pool)
	l := newOutboxLog(t, s)
	for i := range 5 {
		require.NoError(t, l.Record(ctx, "acme", "user:1", "test.created", fmt.Sprintf("x:%d", i), nil))
	}
	want, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)

	tx, err := db.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	r := s.WithTx(tx)
	require.NoError(t, pgstore.RecordTx(ctx, tx, l, auditlog.Entry{Org: "acme", Actor: "user:1", Action: "test.created", Target: "x:tx"}))
	in, err := r.OutboxStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), in.Depth, "the transaction sees its own row")
	out, err := s.OutboxStatus(ctx)
	require.NoError(t, err)
	require.True(t, out.Drained(), "nobody else does before it commits")

	got, err := auditlog.Verify(ctx, r, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)
	require.Equal(t, want, got)
	h, err := r.Head(ctx, "org:acme")
	require.NoError(t, err)
	require.Equal(t, uint64(5), h.Size)
	require.NoError(t, tx.Commit(ctx))
}
