package pgstore_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/mfa/pgstore"
)

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func codeHashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		h := sha256.Sum256(fmt.Append(nil, "code", i))
		out[i] = h[:]
	}
	return out
}

func pending(id string) mfa.Enrollment {
	return mfa.Enrollment{Org: "o", User: "u", ID: id, SealedSecret: []byte("sealed"), Algorithm: mfa.SHA1, Digits: 6, CreatedAt: t0}
}

func txStore(t *testing.T) (*pgtest.DB, pgstore.Store) {
	t.Helper()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
	return db, mustNew(t, db.Pool)
}

func enrolled(t *testing.T, s pgstore.Store) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.BeginEnrollment(ctx, pending("e1")))
	require.NoError(t, s.ConfirmEnrollment(ctx, "o", "u", "e1", 1, t0, t0.Add(-time.Minute), 5, codeHashes(3)))
}

func isEnrolled(t *testing.T, s pgstore.Store) bool {
	e, err := s.Enrollment(context.Background(), "o", "u")
	if err != nil {
		require.ErrorIs(t, err, mfa.ErrNotEnrolled)
		return false
	}
	return e.Confirmed
}

// TestWithTxCommitsWithTheCaller: an enrolment change through a bound store
// is the caller's: rolled back, it never happened; committed, it is there.
func TestWithTxCommitsWithTheCaller(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name      string
		setup     func(t *testing.T, s pgstore.Store)
		write     func(t *testing.T, s pgstore.Store)
		persisted func(t *testing.T, s pgstore.Store) bool
	}{
		{"enrol and confirm (savepoint)", nil, func(t *testing.T, s pgstore.Store) { enrolled(t, s) }, isEnrolled},
		{"reset (savepoint)", enrolled,
			func(t *testing.T, s pgstore.Store) { require.NoError(t, s.DeleteEnrollment(ctx, "o", "u")) },
			func(t *testing.T, s pgstore.Store) bool { return !isEnrolled(t, s) }},
		{"replace recovery codes (savepoint)", enrolled,
			func(t *testing.T, s pgstore.Store) {
				require.NoError(t, s.ReplaceRecoveryCodes(ctx, "o", "u", codeHashes(8)))
			},
			func(t *testing.T, s pgstore.Store) bool {
				n, err := s.RecoveryCodesLeft(ctx, "o", "u")
				require.NoError(t, err)
				return n == 8
			}},
		{"org policy", nil,
			func(t *testing.T, s pgstore.Store) { require.NoError(t, s.SetOrgPolicy(ctx, "o", true)) },
			func(t *testing.T, s pgstore.Store) bool {
				req, err := s.OrgPolicy(ctx, "o")
				require.NoError(t, err)
				return req
			}},
	}
	for _, tc := range cases {
		pgtest.CommitsWithTheCaller(t, tc.name, func(t *testing.T) (*pgxpool.Pool, pgstore.Store) { db, s := txStore(t); return db.Pool, s }, pgstore.Store.WithTx, tc.setup, tc.write, tc.persisted)
	}
}

// TestWithTxRefusalLeavesTxUsable: a refusal inside the caller's
// transaction, from a savepoint or a single statement, leaves it usable.
func TestWithTxRefusalLeavesTxUsable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name string
		fail func(s pgstore.Store) error
		want error
	}{
		{"confirm a replaced enrolment (savepoint)", func(s pgstore.Store) error {
			return s.ConfirmEnrollment(ctx, "o", "u", "other", 2, t0, t0.Add(-time.Minute), 5, nil)
		}, mfa.ErrNotPending},
		{"recovery codes without enrolment (savepoint)", func(s pgstore.Store) error {
			return s.ReplaceRecoveryCodes(ctx, "o", "nobody", codeHashes(2))
		}, mfa.ErrNotEnrolled},
		{"enrol twice", func(s pgstore.Store) error { return s.BeginEnrollment(ctx, pending("e2")) }, mfa.ErrAlreadyEnrolled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, s := txStore(t)
			tx, err := db.Pool.Begin(ctx)
			require.NoError(t, err)
			t.Cleanup(func() { _ = tx.Rollback(context.Background()) }) // a failed test must not leave it holding locks
			bound := s.WithTx(tx)
			enrolled(t, bound)
			require.ErrorIs(t, tc.fail(bound), tc.want)
			require.NoError(t, bound.SetOrgPolicy(ctx, "o", true))
			require.NoError(t, tx.Commit(ctx))
			require.True(t, isEnrolled(t, s), "the work before the refusal committed")
			req, err := s.OrgPolicy(ctx, "o")
			require.NoError(t, err)
			require.True(t, req, "and the work after it")
		})
	}
}

// TestWithTxFinished: a store bound to a transaction that has ended, or to
// none, answers with an error matching pgx.ErrTxClosed, never a panic.
func TestWithTxFinished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, s := txStore(t)
	committed, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, committed.Commit(ctx))
	ops := map[string]func(s pgstore.Store) error{
		"exec":      func(s pgstore.Store) error { return s.BeginEnrollment(ctx, pending("e1")) },
		"query row": func(s pgstore.Store) error { _, err := s.Enrollment(ctx, "o", "u"); return err },
		"savepoint": func(s pgstore.Store) error { return s.DeleteEnrollment(ctx, "o", "u") },
		"record failure": func(s pgstore.Store) error {
			_, _, err := s.RecordFailure(ctx, "o", "u", t0, t0.Add(-time.Minute), 5)
			return err
		},
		"accept step": func(s pgstore.Store) error {
			_, err := s.AcceptStep(ctx, "o", "u", "e1", 5, t0.Add(-time.Minute), 5)
			return err
		},
	}
	for txName, tx := range map[string]pgx.Tx{"committed": committed, "nil": nil} {
		for name, op := range ops {
			t.Run(txName+"/"+name, func(t *testing.T) {
				var err error
				require.NotPanics(t, func() { err = op(s.WithTx(tx)) })
				require.ErrorIs(t, err, pgx.ErrTxClosed)
				require.Contains(t, err.Error(), "mfa/pgstore: ")
			})
		}
	}
}
