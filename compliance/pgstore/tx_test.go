package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/compliance/monitor"
	"github.com/rampart-sdk/rampart/compliance/nec1099"
	"github.com/rampart-sdk/rampart/compliance/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

var txAt = time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC)

func txDB(t *testing.T) (*pgtest.DB, pgstore.Store) {
	t.Helper()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
	return db, pgstore.New(db.Pool)
}

var member = compliance.MemberKey{Org: "o", Audit: "a", Member: "m"}

func generation(id string) (nec1099.Generation, []nec1099.FilingRecord) {
	return nec1099.Generation{ID: id, Org: "o", TaxYear: 2026, GeneratedAt: txAt},
		[]nec1099.FilingRecord{{ID: "f-" + id, Org: "o", TaxYear: 2026, PayeeID: "p", Seq: 1, GenerationID: id, AmountCents: 250000, CreatedAt: txAt}}
}

func climb(p compliance.MemberState) (compliance.MemberState, error) { p.Level++; return p, nil }

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
		{"advance (savepoint)", func(t *testing.T, s pgstore.Store) {
			_, applied, err := s.Advance(ctx, member, compliance.Judgement{Period: "W1", At: txAt}, climb)
			require.NoError(t, err)
			require.True(t, applied)
		}, func(t *testing.T, s pgstore.Store) bool {
			js, err := s.Judgements(ctx, member)
			require.NoError(t, err)
			st, err := s.MemberState(ctx, member)
			require.NoError(t, err)
			require.Equal(t, len(js), st.Level, "the judgement and the state go together")
			return len(js) == 1
		}},
		{"generation (savepoint)", func(t *testing.T, s pgstore.Store) {
			g, rs := generation("g1")
			require.NoError(t, s.SaveGeneration(ctx, g, rs))
		}, func(t *testing.T, s pgstore.Store) bool {
			h, err := s.FilingHistory(ctx, "o", 2026)
			require.NoError(t, err)
			return len(h) == 1
		}},
		{"report", func(t *testing.T, s pgstore.Store) {
			require.NoError(t, s.SaveReport(ctx, compliance.ReportRecord{ID: "r1", Org: "o", GeneratedAt: txAt, JSON: []byte(`{}`)}))
		}, func(t *testing.T, s pgstore.Store) bool {
			rs, err := s.Reports(ctx, "o", 0)
			require.NoError(t, err)
			return len(rs) == 1
		}},
	}
	for _, tc := range cases {
		pgtest.CommitsWithTheCaller(t, tc.name, func(t *testing.T) (*pgxpool.Pool, pgstore.Store) { db, s := txDB(t); return db.Pool, s }, pgstore.Store.WithTx, nil, tc.write, tc.persisted)
	}
}

// TestWithTxRefusalLeavesTxUsable: a refusal or an error inside the
// caller's transaction, from a savepoint or a single statement, leaves it
// usable; the work around it commits.
func TestWithTxRefusalLeavesTxUsable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	errJudge := errors.New("judge failed")
	cases := []struct {
		name string
		fail func(s pgstore.Store) error
		want error
	}{
		{"duplicate report", func(s pgstore.Store) error {
			return s.SaveReport(ctx, compliance.ReportRecord{ID: "r1", Org: "o", GeneratedAt: txAt, JSON: []byte(`{}`)})
		}, compliance.ErrConflict},
		{"duplicate generation: unique violation in the savepoint", func(s pgstore.Store) error {
			g, rs := generation("g1")
			return s.SaveGeneration(ctx, g, rs)
		}, nec1099.ErrConflict},
		{"judge fails inside advance (savepoint)", func(s pgstore.Store) error {
			_, _, err := s.Advance(ctx, member, compliance.Judgement{Period: "W2", At: txAt},
				func(compliance.MemberState) (compliance.MemberState, error) {
					return compliance.MemberState{}, errJudge
				})
			return err
		}, errJudge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, s := txDB(t)
			tx, err := db.Pool.Begin(ctx)
			require.NoError(t, err)
			t.Cleanup(func() { _ = tx.Rollback(context.Background()) }) // a failed test must not leave it holding locks
			bound := s.WithTx(tx)
			require.NoError(t, bound.SaveReport(ctx, compliance.ReportRecord{ID: "r1", Org: "o", GeneratedAt: txAt, JSON: []byte(`{}`)}))
			g, rs := generation("g1")
			require.NoError(t, bound.SaveGeneration(ctx, g, rs))
			require.ErrorIs(t, tc.fail(bound), tc.want)
			_, applied, err := bound.Advance(ctx, member, compliance.Judgement{Period: "W1", At: txAt}, climb)
			require.NoError(t, err)
			require.True(t, applied)
			require.NoError(t, tx.Commit(ctx))
			st, err := s.MemberState(ctx, member)
			require.NoError(t, err)
			require.Equal(t, 1, st.Level)
			h, err := s.FilingHistory(ctx, "o", 2026)
			require.NoError(t, err)
			require.Len(t, h, 1, "filed once")
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
		"exec": func(s pgstore.Store) error {
			return s.SaveReport(ctx, compliance.ReportRecord{ID: "r1", Org: "o", GeneratedAt: txAt, JSON: []byte(`{}`)})
		},
		"query":     func(s pgstore.Store) error { _, err := s.Jobs(ctx); return err },
		"query row": func(s pgstore.Store) error { _, err := s.MemberState(ctx, member); return err },
		"savepoint": func(s pgstore.Store) error {
			_, _, err := s.Advance(ctx, member, compliance.Judgement{Period: "W1", At: txAt}, climb)
			return err
		},
		"signal": func(s pgstore.Store) error { return s.RecordSignal(ctx, "job", monitor.SignalStart, txAt, "") },
	}
	for txName, tx := range map[string]pgx.Tx{"committed": committed, "nil": nil} {
		for name, op := range ops {
			t.Run(txName+"/"+name, func(t *testing.T) {
				var err error
				require.NotPanics(t, func() { err = op(s.WithTx(tx)) })
				require.ErrorIs(t, err, pgx.ErrTxClosed)
				require.Contains(t, err.Error(), "compliance/pgstore: ")
			})
		}
	}
}
