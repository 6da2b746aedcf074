package pgstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/pgstore"
)

// A TxRecorder records what RecordTx records, from positional arguments:
// committed entries reach the chain with their canonical payload, a
// rolled back one never does, and a defective one fails with the error
// Append would return.
func TestTxRecorder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := outboxDB(t)
	s := pgstore.New(db.Pool)
	l := newOutboxLog(t, s)
	r := pgstore.NewTxRecorder(l)

	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		return r.RecordTx(ctx, tx, "a", "user:1", "test.created", "biz:1", map[string]any{"b": 2, "a": "x"})
	}))
	rolledBack := errors.New("the host changed its mind")
	require.ErrorIs(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := r.RecordTx(ctx, tx, "a", "user:1", "test.created", "biz:2", nil); err != nil {
			return err
		}
		return rolledBack
	}), rolledBack)

	bad := []struct {
		name    string
		r       *pgstore.TxRecorder
		actor   string
		action  string
		payload map[string]any
		want    error
	}{
		{"unregistered action", r, "user:1", "nope", nil, auditlog.ErrUnknownAction},
		{"bad actor", r, "nobody", "test.created", nil, auditlog.ErrBadActor},
		{"payload not encodable", r, "user:1", "test.created", map[string]any{"f": func() {}}, auditlog.ErrBadPayload},
		{"no log", pgstore.NewTxRecorder(nil), "user:1", "test.created", nil, pgstore.ErrNoTx},
		{"nil recorder", nil, "user:1", "test.created", nil, pgstore.ErrNoTx},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
				return tc.r.RecordTx(ctx, tx, "a", tc.actor, tc.action, "biz:3", tc.payload)
			})
			require.ErrorIs(t, err, tc.want)
		})
	}
	require.ErrorIs(t, r.RecordTx(ctx, nil, "a", "user:1", "test.created", "", nil), pgstore.ErrNoTx)

	drain(t, l, s, s)
	require.Equal(t, []string{"biz:1"}, chainTargets(t, s, "org:a"))
	var payload string
	require.NoError(t, s.Scan(ctx, "org:a", 0, func(e *auditlog.Entry) error {
		payload = string(e.Payload)
		return nil
	}))
	require.Equal(t, `{"a":"x","b":2}`, payload)
}

// A store of another package records its own write's audit entry in the
// same transaction through a TxRecorder, declaring only the method it
// needs; the relay seals the entry once the transaction commits.
func ExampleTxRecorder() {
	ctx := context.Background()
	var pool *pgxpool.Pool // the host's pool, on which pgstore.Migrate has run
	log, err := auditlog.New(pgstore.New(pool))
	if err != nil {
		panic(err)
	}
	rec := pgstore.NewTxRecorder(log)

	_ = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE invoices SET paid = true WHERE org_id = $1 AND id = $2`, "acme", "inv_7"); err != nil {
			return err
		}
		return rec.RecordTx(ctx, tx, "acme", "user:42", "invoice.paid", "invoice:inv_7", map[string]any{"amount": 1200})
	})
	// Elsewhere, once per process: go log.RunOutbox(ctx, store, auditlog.RelayOptions{})
}
