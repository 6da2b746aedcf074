package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/pgstore"
)

func txDB(t *testing.T) (*pgtest.DB, pgstore.Store) {
	t.Helper()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
	return db, mustNew(t, db.Pool)
}

func deletionRequested(id string) (privacy.Subject, privacy.Event) {
	s := privacy.Subject{Org: "o", ID: id, State: privacy.StateDeletionRequested, DeletionRequestedAt: t0,
		EraseAfter: t0.Add(time.Hour), NextDue: t0.Add(time.Hour)}
	return s, privacy.Event{Org: "o", SubjectID: id, At: t0, Action: privacy.ActionDeletionRequested,
		From: privacy.StateActive, To: privacy.StateDeletionRequested, Actor: "user:u"}
}

func openRequest(id string) privacy.Request {
	return privacy.Request{ID: id, Org: "o", SubjectID: "s1", Kind: privacy.KindErasure, ReceivedAt: t0,
		DueAt: t0.AddDate(0, 1, 0), Status: privacy.RequestOpen}
}

// TestWithTxCommitsWithTheCaller: a write through a bound store is the
// caller's: rolled back, it never happened; committed, it is there.
func TestWithTxCommitsWithTheCaller(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name      string
		write     func(t *testing.T, s pgstore.Store)
		persisted func(t *testing.T, s pgstore.Store) bool
	}{
		{"transition (savepoint)", func(t *testing.T, s pgstore.Store) {
			sub, ev := deletionRequested("s1")
			require.NoError(t, s.Transition(ctx, sub, privacy.StateActive, ev))
		}, func(t *testing.T, s pgstore.Store) bool {
			_, err := s.Subject(ctx, "o", "s1")
			if err != nil {
				require.ErrorIs(t, err, privacy.ErrNotFound)
			}
			evs, err2 := s.Events(ctx, "o", "s1")
			require.NoError(t, err2)
			require.Equal(t, err == nil, len(evs) == 1, "the subject and its event go together")
			return err == nil
		}},
		{"request", func(t *testing.T, s pgstore.Store) { require.NoError(t, s.PutRequest(ctx, openRequest("r1"))) },
			func(t *testing.T, s pgstore.Store) bool {
				_, err := s.Request(ctx, "o", "r1")
				return err == nil
			}},
		{"hold", func(t *testing.T, s pgstore.Store) {
			require.NoError(t, s.PutHold(ctx, privacy.Hold{Org: "o", ID: "h1", SubjectID: "s1", Domain: "invoices",
				Reason: "audit", Owner: "legal", PlacedAt: t0, PlacedBy: "user:x"}))
		}, func(t *testing.T, s pgstore.Store) bool {
			hs, err := s.Holds(ctx, "o")
			require.NoError(t, err)
			return len(hs) == 1
		}},
		{"consent", func(t *testing.T, s pgstore.Store) {
			require.NoError(t, s.AppendConsent(ctx, privacy.ConsentRecord{Org: "o", Who: "u", Purpose: "mail", Granted: true, Version: 1, At: t0, Source: "web"}))
		}, func(t *testing.T, s pgstore.Store) bool {
			_, err := s.LatestConsent(ctx, "o", "u", "mail")
			return err == nil
		}},
	}
	for _, tc := range cases {
		pgtest.CommitsWithTheCaller(t, tc.name, func(t *testing.T) (*pgxpool.Pool, pgstore.Store) { db, s := txDB(t); return db.Pool, s }, pgstore.Store.WithTx, nil, tc.write, tc.persisted)
	}
}

// TestWithTxDeletionWithTheHostsChange is the example app's account
// deletion in one transaction: the host deactivates the account and privacy
// records the deletion request; when the host's own write fails, neither
// happened and a retry starts clean instead of answering 409 for ever.
func TestWithTxDeletionWithTheHostsChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, s := txDB(t)
	_, err := db.Pool.Exec(ctx, `CREATE TABLE accounts (id text PRIMARY KEY, active bool NOT NULL)`)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `INSERT INTO accounts VALUES ('s1', true)`)
	require.NoError(t, err)
	clock := privacy.WithClock(func() time.Time { return t0 })

	deleteAccount := func(hostFails bool) error {
		return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			m := newServices(t, s.WithTx(tx), clock)
			if _, err := m.RequestDeletion(ctx, privacy.Ref{Org: "o", ID: "s1"}, "user:s1", "asked"); err != nil {
				return err
			}
			if hostFails {
				return fmt.Errorf("host: disk full")
			}
			_, err := tx.Exec(ctx, `UPDATE accounts SET active = false WHERE id = 's1'`)
			return err
		})
	}
	require.Error(t, deleteAccount(true))
	sub, err := newServices(t, s, clock).Status(ctx, privacy.Ref{Org: "o", ID: "s1"})
	require.NoError(t, err)
	require.Equal(t, privacy.StateActive, sub.State, "the host's failure undid the request")

	require.NoError(t, deleteAccount(false), "the retry is not a conflict")
	sub, err = newServices(t, s, clock).Status(ctx, privacy.Ref{Org: "o", ID: "s1"})
	require.NoError(t, err)
	require.Equal(t, privacy.StateDeletionRequested, sub.State)
	var active bool
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT active FROM accounts WHERE id = 's1'`).Scan(&active))
	require.False(t, active)
}

// TestWithTxRefusalLeavesTxUsable: a refusal or a database error inside the
// caller's transaction, from a savepoint or a single statement, leaves it
// usable; the work around it commits.
func TestWithTxRefusalLeavesTxUsable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name string
		fail func(s pgstore.Store) error
		want error // nil: any error
	}{
		{"transition from the wrong state (savepoint)", func(s pgstore.Store) error {
			sub, ev := deletionRequested("s1")
			return s.Transition(ctx, sub, privacy.StateActive, ev)
		}, privacy.ErrConflict},
		{"transition to an unknown state: check violation in the savepoint", func(s pgstore.Store) error {
			sub, ev := deletionRequested("s2")
			sub.State = "bogus"
			return s.Transition(ctx, sub, privacy.StateActive, ev)
		}, nil},
		{"duplicate request", func(s pgstore.Store) error { return s.PutRequest(ctx, openRequest("r1")) }, privacy.ErrConflict},
		{"stale request update", func(s pgstore.Store) error {
			next := openRequest("r1")
			next.IdentityVerified = true
			stale := openRequest("r1")
			stale.Status = privacy.RequestCompleted
			return s.UpdateRequest(ctx, stale, next)
		}, privacy.ErrConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, s := txDB(t)
			tx, err := db.Pool.Begin(ctx)
			require.NoError(t, err)
			t.Cleanup(func() { _ = tx.Rollback(context.Background()) }) // a failed test must not leave it holding locks
			bound := s.WithTx(tx)
			sub, ev := deletionRequested("s1")
			require.NoError(t, bound.Transition(ctx, sub, privacy.StateActive, ev))
			require.NoError(t, bound.PutRequest(ctx, openRequest("r1")))
			err = tc.fail(bound)
			require.Error(t, err)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
			require.NoError(t, bound.PutRequest(ctx, openRequest("r2")))
			require.NoError(t, tx.Commit(ctx))
			got, err := s.Subject(ctx, "o", "s1")
			require.NoError(t, err)
			require.Equal(t, privacy.StateDeletionRequested, got.State)
			_, err = s.Subject(ctx, "o", "s2")
			require.ErrorIs(t, err, privacy.ErrNotFound, "the failed transition left nothing")
			_, err = s.Request(ctx, "o", "r2")
			require.NoError(t, err)
		})
	}
}

// TestWithTxFinished: a store bound to a transaction that has ended, or to
// none, answers with an error matching pgx.ErrTxClosed, never a panic.
func TestWithTxFinished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, s := txDB(t)
	committed, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, committed.Commit(ctx))
	ops := map[string]func(s pgstore.Store) error{
		"exec":      func(s pgstore.Store) error { return s.PutRequest(ctx, openRequest("r1")) },
		"query":     func(s pgstore.Store) error { _, err := s.Events(ctx, "o", "s1"); return err },
		"collect":   func(s pgstore.Store) error { _, err := s.DueSubjects(ctx, t0, 10); return err },
		"query row": func(s pgstore.Store) error { _, err := s.Subject(ctx, "o", "s1"); return err },
		"savepoint": func(s pgstore.Store) error {
			sub, ev := deletionRequested("s1")
			return s.Transition(ctx, sub, privacy.StateActive, ev)
		},
	}
	for txName, tx := range map[string]pgx.Tx{"committed": committed, "nil": nil} {
		for name, op := range ops {
			t.Run(txName+"/"+name, func(t *testing.T) {
				var err error
				require.NotPanics(t, func() { err = op(s.WithTx(tx)) })
				require.ErrorIs(t, err, pgx.ErrTxClosed)
				require.NotErrorIs(t, err, privacy.ErrNotFound)
				require.Contains(t, err.Error(), "privacy/pgstore: ")
			})
		}
	}
}
