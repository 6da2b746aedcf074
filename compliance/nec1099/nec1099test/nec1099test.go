// Package nec1099test is the conformance suite of nec1099.Store: the memory
// store and compliance/pgstore both pass it, and a host can run it against
// an adapter of its own, like testing/fstest.TestFS.
package nec1099test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance/nec1099"
)

var t0 = time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC)

// TestStore runs every conformance test against stores made by newStore
// (a fresh, empty store per call).
func TestStore(t *testing.T, newStore func(t *testing.T) nec1099.Store) {
	t.Run("Filings", func(t *testing.T) { testFilings(t, newStore(t)) })
}

func testFilings(t *testing.T, s nec1099.Store) {
	ctx := context.Background()
	g := nec1099.Generation{ID: "g1", Org: "o", TaxYear: 2026, GeneratedAt: t0, ThresholdCents: 200000, ThresholdSource: "P.L. 119-21", Records: 2, MissingTaxIDs: 1}
	recs := []nec1099.FilingRecord{
		{ID: "f1", Org: "o", TaxYear: 2026, PayeeID: "p1", Seq: 1, GenerationID: "g1", AmountCents: 250000, CreatedAt: t0},
		{ID: "f2", Org: "o", TaxYear: 2026, PayeeID: "p2", Seq: 1, GenerationID: "g1", AmountCents: 300000, TaxIDMissing: true, CreatedAt: t0},
	}
	require.NoError(t, s.SaveGeneration(ctx, g, recs))
	// A racing generator that computed the same seq loses, and stores nothing.
	err := s.SaveGeneration(ctx, nec1099.Generation{ID: "g-race", Org: "o", TaxYear: 2026, GeneratedAt: t0},
		[]nec1099.FilingRecord{
			{ID: "f3", Org: "o", TaxYear: 2026, PayeeID: "p3", Seq: 1, GenerationID: "g-race", AmountCents: 1, CreatedAt: t0},
			{ID: "f1-dup", Org: "o", TaxYear: 2026, PayeeID: "p1", Seq: 1, GenerationID: "g-race", AmountCents: 1, CreatedAt: t0},
		})
	require.ErrorIs(t, err, nec1099.ErrConflict)
	// So does one whose generation ID is taken (two runs at one clock
	// reading), even with records of its own.
	err = s.SaveGeneration(ctx, nec1099.Generation{ID: "g1", Org: "o", TaxYear: 2026, GeneratedAt: t0},
		[]nec1099.FilingRecord{{ID: "f4", Org: "o", TaxYear: 2026, PayeeID: "p4", Seq: 1, GenerationID: "g1", AmountCents: 1, CreatedAt: t0}})
	require.ErrorIs(t, err, nec1099.ErrConflict)

	g2 := nec1099.Generation{ID: "g2", Org: "o", TaxYear: 2026, GeneratedAt: t0.Add(time.Hour), ThresholdCents: 200000, Records: 1, Corrections: 1}
	require.NoError(t, s.SaveGeneration(ctx, g2, []nec1099.FilingRecord{
		{ID: "f1c", Org: "o", TaxYear: 2026, PayeeID: "p1", Seq: 2, GenerationID: "g2", AmountCents: 0, Corrected: true, OriginalID: "f1", CreatedAt: t0.Add(time.Hour)},
	}))
	require.NoError(t, s.SaveGeneration(ctx, nec1099.Generation{ID: "g3", Org: "other", TaxYear: 2026, GeneratedAt: t0}, nil))

	hist, err := s.FilingHistory(ctx, "o", 2026)
	require.NoError(t, err)
	require.Len(t, hist, 3)
	require.Equal(t, "f1", hist[0].ID)
	require.Equal(t, "f1c", hist[1].ID)
	require.True(t, hist[1].Corrected)
	require.Equal(t, "f1", hist[1].OriginalID)
	require.Equal(t, 2, hist[1].Seq)
	require.Equal(t, "f2", hist[2].ID)
	require.True(t, hist[2].TaxIDMissing)
	require.Equal(t, int64(300000), hist[2].AmountCents)

	gens, err := s.Generations(ctx, "o", 2026)
	require.NoError(t, err)
	require.Len(t, gens, 2)
	require.Equal(t, "g1", gens[0].ID)
	require.Equal(t, "P.L. 119-21", gens[0].ThresholdSource)
	require.Equal(t, 1, gens[0].MissingTaxIDs)
	require.Equal(t, 1, gens[1].Corrections)
	hist, err = s.FilingHistory(ctx, "o", 2025)
	require.NoError(t, err)
	require.Empty(t, hist)
}

type plainOpener struct{}

func (plainOpener) Open(_ string, ct []byte) ([]byte, error) { return append([]byte(nil), ct...), nil }

// TestFiler runs the 1099-NEC pipeline on the store (run it pool-bound: it
// races generators from several goroutines): a reportable payee is
// filed once, an unchanged re-run files nothing, and a payment reversed
// after generation yields a corrected record that references the original,
// which stays unchanged.
func TestFiler(t *testing.T, newStore func(t *testing.T) nec1099.Store) {
	s := newStore(t)
	ctx := context.Background()
	paid := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	payments := []nec1099.Payment{
		{ID: "1", PayeeID: "p1", AmountCents: 1500_00, PaidAt: paid},
		{ID: "2", PayeeID: "p1", AmountCents: 600_00, PaidAt: paid},
	}
	now := time.Date(2027, 1, 20, 0, 0, 0, 0, time.UTC)
	var nowMu sync.Mutex
	f, err := nec1099.New(s,
		func(_ context.Context, _ string, _ int, yield func(nec1099.Payment) error) error {
			for _, p := range payments {
				if err := yield(p); err != nil {
					return err
				}
			}
			return nil
		},
		func(_ context.Context, _, id string) (nec1099.Payee, error) {
			return nec1099.Payee{ID: id, Name: "P " + id, TaxIDCiphertext: []byte("123-45-6789"), TaxIDRowID: id}, nil
		},
		plainOpener{},
		nec1099.WithClock(func() time.Time {
			nowMu.Lock()
			defer nowMu.Unlock()
			now = now.Add(time.Hour)
			return now
		}))
	require.NoError(t, err)
	var out strings.Builder
	res, err := f.Generate(ctx, "org1", 2026, &out)
	require.NoError(t, err)
	require.Len(t, res.Records, 1)
	orig := res.Records[0]
	require.Equal(t, int64(2100_00), orig.AmountCents)

	res, err = f.Generate(ctx, "org1", 2026, &out)
	require.NoError(t, err)
	require.Empty(t, res.Records)

	payments[1].Reversed = true
	res, err = f.Generate(ctx, "org1", 2026, &out)
	require.NoError(t, err)
	require.Len(t, res.Records, 1)
	c := res.Records[0]
	require.True(t, c.Corrected)
	require.Equal(t, orig.ID, c.OriginalID)
	require.Equal(t, int64(0), c.AmountCents)

	hist, err := s.FilingHistory(ctx, "org1", 2026)
	require.NoError(t, err)
	require.Len(t, hist, 2)
	require.Equal(t, orig.ID, hist[0].ID)
	require.Equal(t, int64(2100_00), hist[0].AmountCents)
	require.False(t, hist[0].Corrected)
	gens, err := s.Generations(ctx, "org1", 2026)
	require.NoError(t, err)
	require.Len(t, gens, 3)
	require.Contains(t, gens[0].ThresholdSource, "P.L. 119-21")

	// Two instances generate the same new year at once: exactly one files;
	// the other gets ErrConflict and nothing is filed twice.
	payments = append(payments, nec1099.Payment{ID: "3", PayeeID: "p2", AmountCents: 5000_00, PaidAt: paid.AddDate(-1, 0, 0)})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.Generate(ctx, "org1", 2025, io.Discard)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			require.ErrorIs(t, err, nec1099.ErrConflict)
		}
	}
	require.GreaterOrEqual(t, ok, 1)
	hist, err = s.FilingHistory(ctx, "org1", 2025)
	require.NoError(t, err)
	require.Len(t, hist, 1, "filed once")
}
