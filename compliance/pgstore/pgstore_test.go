package pgstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/compliance/compliancetest"
	"github.com/rampart-sdk/rampart/compliance/monitor"
	"github.com/rampart-sdk/rampart/compliance/monitor/monitortest"
	"github.com/rampart-sdk/rampart/compliance/nec1099"
	"github.com/rampart-sdk/rampart/compliance/nec1099/nec1099test"
	"github.com/rampart-sdk/rampart/compliance/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

func newStore(t *testing.T) compliance.Store {
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
	return pgstore.New(db.Pool)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	compliancetest.TestStore(t, newStore)
}

// TestConformanceInTx runs the suite on stores bound to a transaction that
// commits when each subtest ends (the commit fails the test if any
// operation left the transaction aborted). The subtest that races
// goroutines on one store runs pool-bound: a transaction is one connection,
// one statement at a time, and cannot stage a race between two sessions.
func TestConformanceInTx(t *testing.T) {
	t.Parallel()
	compliancetest.TestStore(t, func(t *testing.T) compliance.Store {
		db := pgtest.New(t)
		require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
		return pgstore.New(db.Pool).WithTx(pgtest.Tx(t, db.Pool))
	}, compliancetest.WithConcurrentStore(newStore))
}

func TestAuditorOnPostgres(t *testing.T) {
	t.Parallel()
	compliancetest.TestAuditor(t, newStore)
}

func newMonitorStore(t *testing.T) monitor.Store { return newStore(t).(pgstore.Store) }

func newFilingStore(t *testing.T) nec1099.Store { return newStore(t).(pgstore.Store) }

func TestMonitorConformance(t *testing.T) {
	t.Parallel()
	monitortest.TestStore(t, newMonitorStore)
	// Bound to a transaction the store works too, though heartbeats belong
	// on the pool (see the package documentation).
	monitortest.TestStore(t, func(t *testing.T) monitor.Store {
		db := pgtest.New(t)
		require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
		return pgstore.New(db.Pool).WithTx(pgtest.Tx(t, db.Pool))
	})
}

func TestFilingConformance(t *testing.T) {
	t.Parallel()
	nec1099test.TestStore(t, newFilingStore)
	// Bound to a transaction too: a generation commits with the host's
	// payout run.
	nec1099test.TestStore(t, func(t *testing.T) nec1099.Store {
		db := pgtest.New(t)
		require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
		return pgstore.New(db.Pool).WithTx(pgtest.Tx(t, db.Pool))
	})
}

func TestFilerOnPostgres(t *testing.T) {
	t.Parallel()
	nec1099test.TestFiler(t, newFilingStore)
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
}

// TestFilingsAreAppendOnly: even a host with SQL access cannot silently
// change or delete a filed record or a ladder judgement.
func TestFilingsAreAppendOnly(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	s := pgstore.New(db.Pool)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, s.SaveGeneration(ctx, nec1099.Generation{ID: "g", Org: "o", TaxYear: 2026, GeneratedAt: at},
		[]nec1099.FilingRecord{{ID: "f", Org: "o", TaxYear: 2026, PayeeID: "p", Seq: 1, GenerationID: "g", AmountCents: 250000, CreatedAt: at}}))
	_, err := db.Pool.Exec(ctx, `UPDATE compliance_filings SET amount_cents = 1`)
	require.ErrorContains(t, err, "append-only")
	_, err = db.Pool.Exec(ctx, `DELETE FROM compliance_filings`)
	require.ErrorContains(t, err, "append-only")

	_, _, err = s.Advance(ctx, compliance.MemberKey{Org: "o", Audit: "a", Member: "m"}, compliance.Judgement{Period: "W1", At: at},
		func(p compliance.MemberState) (compliance.MemberState, error) { p.Level = 1; return p, nil })
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `DELETE FROM compliance_ladder_judgements`)
	require.ErrorContains(t, err, "append-only")
}

// TestFailureCauseSurvivesAnyText: a job's failure cause is stored whatever
// its text. Cut at byte 1000 through a multi-byte character, or holding a NUL
// or invalid UTF-8, PostgreSQL would refuse it and the failure would be lost.
func TestFailureCauseSurvivesAnyText(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, err := monitor.New(newMonitorStore(t))
	require.NoError(t, err)
	causes := map[string]string{
		"two-byte at the cut":   strings.Repeat("a", 999) + "é tail",
		"three-byte at the cut": strings.Repeat("a", 998) + "€ tail",
		"four-byte at the cut":  strings.Repeat("a", 997) + "😀 tail",
		"NUL byte":              "disk \x00 full",
		"invalid UTF-8":         "bad \xff\xfe bytes",
	}
	for name, cause := range causes {
		job := "job-" + strings.ReplaceAll(name, " ", "-")
		require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: job, Period: time.Hour, Grace: time.Minute}))
		require.NoError(t, m.Fail(ctx, job, errors.New(cause)), name)
	}
	sts, err := m.Status(ctx)
	require.NoError(t, err)
	require.Len(t, sts, len(causes))
	for _, st := range sts {
		require.NotEmpty(t, st.LastCause, st.Name)
		require.True(t, utf8.ValidString(st.LastCause), st.Name)
		require.LessOrEqual(t, len(st.LastCause), 1000, st.Name)
		require.NotContains(t, st.LastCause, "\x00", st.Name)
	}
}
