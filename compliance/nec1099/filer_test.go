package nec1099_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance/nec1099"
)

// fakeField stands in for *keyring.Field: "ciphertext" is the TIN reversed,
// bound to its row. It counts opens so tests can see when TINs are read.
type fakeField struct {
	mu    sync.Mutex
	opens int
}

func seal(row, tin string) []byte {
	b := []byte(row + "|" + tin)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return b
}

func (f *fakeField) Open(rowID string, ct []byte) ([]byte, error) {
	f.mu.Lock()
	f.opens++
	f.mu.Unlock()
	b := append([]byte(nil), ct...)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	row, tin, ok := strings.Cut(string(b), "|")
	if !ok || row != rowID {
		return nil, errors.New("keyring: authentication failed")
	}
	return []byte(tin), nil
}

type ledger struct {
	paid   []nec1099.Payment
	payees map[string]nec1099.Payee
}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func (l *ledger) payments(_ context.Context, _ string, _ int, yield func(nec1099.Payment) error) error {
	for _, p := range l.paid {
		if err := yield(p); err != nil {
			return err
		}
	}
	return nil
}

func (l *ledger) payee(_ context.Context, _, id string) (nec1099.Payee, error) {
	p, ok := l.payees[id]
	if !ok {
		return nec1099.Payee{}, fmt.Errorf("no payee %s", id)
	}
	return p, nil
}

func (l *ledger) filer(t *testing.T, store nec1099.Store, field nec1099.FieldOpener, now time.Time, opts ...nec1099.Option) *nec1099.Filer {
	t.Helper()
	f, err := nec1099.New(store, l.payments, l.payee, field,
		append([]nec1099.Option{nec1099.WithClock(func() time.Time { return now })}, opts...)...)
	require.NoError(t, err)
	return f
}

func pay(id, payee string, cents int64, at time.Time) nec1099.Payment {
	return nec1099.Payment{ID: id, PayeeID: payee, AmountCents: cents, PaidAt: at}
}

func payee(id, tin string) nec1099.Payee {
	p := nec1099.Payee{ID: id, Name: "Payee " + id, Line1: "1 Main St", City: "Springfield", State: "IL", ZIP: "62701", TaxIDRowID: "payees/" + id}
	if tin != "" {
		p.TaxIDCiphertext = seal(p.TaxIDRowID, tin)
	}
	return p
}

func readCSV(t *testing.T, b []byte) []map[string]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func TestThresholdTable(t *testing.T) {
	t.Parallel()
	tab := nec1099.DefaultThresholds()
	th, err := tab.Lookup(2025)
	require.NoError(t, err)
	require.Equal(t, int64(600_00), th.AmountCents)
	require.Contains(t, th.Source, "6041A")
	th, err = tab.Lookup(2026)
	require.NoError(t, err)
	require.Equal(t, int64(2000_00), th.AmountCents)
	require.Contains(t, th.Source, "P.L. 119-21")
	require.Contains(t, th.Source, "One Big Beautiful Bill Act")
	_, err = tab.Lookup(2027)
	require.ErrorIs(t, err, nec1099.ErrNoThreshold)
	ext := tab.With(nec1099.Threshold{TaxYear: 2027, AmountCents: 2050_00, Source: "IRS Rev. Proc. (hypothetical)"})
	th, err = ext.Lookup(2027)
	require.NoError(t, err)
	require.Equal(t, int64(2050_00), th.AmountCents)
	_, err = tab.Lookup(2027)
	require.ErrorIs(t, err, nec1099.ErrNoThreshold, "With must not mutate the original")
}

// TestThresholdJustUnderAndOver covers both regimes: $600 in 2025 and $2,000
// for payments made in 2026, a cent either side.
func TestThresholdJustUnderAndOver(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		year      int
		threshold int64
	}{{2025, 600_00}, {2026, 2000_00}} {
		t.Run(fmt.Sprint(tc.year), func(t *testing.T) {
			t.Parallel()
			at := time.Date(tc.year, 6, 1, 0, 0, 0, 0, time.UTC)
			l := &ledger{
				paid: []nec1099.Payment{
					pay("1", "under", tc.threshold-1, at),
					pay("2", "exact", tc.threshold-100, at), pay("3", "exact", 100, at.Add(time.Hour)),
					pay("4", "over", tc.threshold+1, at),
					pay("5", "wrongyear", tc.threshold*2, at.AddDate(1, 0, 0)),
					// $1,000 in 2026 would have been reportable under the $600 rule.
					pay("6", "thousand", 1000_00, at),
				},
				payees: map[string]nec1099.Payee{"under": payee("under", "111-11-1111"), "exact": payee("exact", "222-22-2222"),
					"over": payee("over", "333-33-3333"), "thousand": payee("thousand", "444-44-4444"), "wrongyear": payee("wrongyear", "5")},
			}
			var out bytes.Buffer
			res, err := l.filer(t, nec1099.NewMemoryStore(), &fakeField{}, at).Generate(context.Background(), "org1", tc.year, &out)
			require.NoError(t, err)
			rows := readCSV(t, out.Bytes())
			got := map[string]string{}
			for _, r := range rows {
				got[r["payee_id"]] = r["box1_nonemployee_compensation"]
				require.Equal(t, "original", r["record_type"])
			}
			want := map[string]string{
				"exact": fmt.Sprintf("%d.00", tc.threshold/100),
				"over":  fmt.Sprintf("%d.%02d", (tc.threshold+1)/100, (tc.threshold+1)%100),
			}
			if tc.year == 2025 {
				want["thousand"] = "1000.00"
			}
			require.Equal(t, want, got)
			require.Equal(t, tc.threshold, res.Generation.ThresholdCents)
			require.Equal(t, len(want), res.Generation.Records)
		})
	}
}

func TestMissingTaxIDIsFlagged(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	l := &ledger{
		paid:   []nec1099.Payment{pay("1", "notin", 700_00, at), pay("2", "tin", 700_00, at)},
		payees: map[string]nec1099.Payee{"notin": payee("notin", ""), "tin": payee("tin", "123-45-6789")},
	}
	var out bytes.Buffer
	res, err := l.filer(t, nec1099.NewMemoryStore(), &fakeField{}, at).Generate(context.Background(), "org1", 2025, &out)
	require.NoError(t, err)
	require.Equal(t, []string{"notin"}, res.MissingTaxID)
	require.Equal(t, 1, res.Generation.MissingTaxIDs)
	rows := readCSV(t, out.Bytes())
	require.Equal(t, "true", rows[0]["tin_missing"])
	require.Equal(t, "", rows[0]["payee_tin"])
	require.Equal(t, "123-45-6789", rows[1]["payee_tin"])
	// The TIN is in the CSV for the provider, never in what is stored or returned.
	require.NotContains(t, fmt.Sprintf("%+v %#v", res, res), "123-45-6789")
}

func TestTaxIDOpenErrorStopsGeneration(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	p := payee("x", "123-45-6789")
	p.TaxIDRowID = "payees/other" // ciphertext moved to another row
	l := &ledger{paid: []nec1099.Payment{pay("1", "x", 700_00, at)}, payees: map[string]nec1099.Payee{"x": p}}
	store := nec1099.NewMemoryStore()
	var out bytes.Buffer
	_, err := l.filer(t, store, &fakeField{}, at).Generate(context.Background(), "org1", 2025, &out)
	require.Error(t, err)
	require.Empty(t, out.Bytes())
	hist, _ := store.FilingHistory(context.Background(), "org1", 2025)
	require.Empty(t, hist)
}

// TestReversalAfterGenerationYieldsCorrectedRecord files, then reverses a
// payment: the next generation must emit a corrected record referencing the
// original, and the original must be unchanged in the history.
func TestReversalAfterGenerationYieldsCorrectedRecord(t *testing.T) {
	t.Parallel()
	correctionScenario(t, nec1099.NewMemoryStore())
}

func correctionScenario(t *testing.T, store nec1099.Store) {
	ctx := context.Background()
	at := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	l := &ledger{
		paid: []nec1099.Payment{
			pay("p1", "ann", 1500_00, at), pay("p2", "ann", 1000_00, at),
			pay("p3", "ben", 2500_00, at),
			pay("p4", "cy", 2100_00, at),
		},
		payees: map[string]nec1099.Payee{"ann": payee("ann", "111-11-1111"), "ben": payee("ben", "222-22-2222"), "cy": payee("cy", "333-33-3333")},
	}
	field := &fakeField{}
	var first bytes.Buffer
	res1, err := l.filer(t, store, field, at.AddDate(1, 0, -60)).Generate(ctx, "org1", 2026, &first)
	require.NoError(t, err)
	require.Equal(t, 3, res1.Generation.Records)
	require.Equal(t, 3, field.opens)
	orig := map[string]nec1099.FilingRecord{}
	for _, r := range res1.Records {
		orig[r.PayeeID] = r
	}

	// Unchanged data: nothing new, no TIN opened.
	var same bytes.Buffer
	res, err := l.filer(t, store, field, at.AddDate(1, 0, -59)).Generate(ctx, "org1", 2026, &same)
	require.NoError(t, err)
	require.Zero(t, res.Generation.Records)
	require.Len(t, readCSV(t, same.Bytes()), 0)
	require.Equal(t, 3, field.opens)

	// ann's $1,000 payment is reversed (flag), ben gets a negative
	// reversal of $400 (still over), cy's is reversed to below threshold.
	l.paid[1].Reversed = true
	l.paid = append(l.paid, pay("p5", "ben", -400_00, at.AddDate(0, 1, 0)), pay("p6", "cy", -200_00, at.AddDate(0, 1, 0)))
	var second bytes.Buffer
	res2, err := l.filer(t, store, field, at.AddDate(1, 1, 0)).Generate(ctx, "org1", 2026, &second)
	require.NoError(t, err)
	require.Equal(t, 3, res2.Generation.Corrections)
	rows := readCSV(t, second.Bytes())
	require.Len(t, rows, 3)
	byPayee := map[string]map[string]string{}
	for _, r := range rows {
		byPayee[r["payee_id"]] = r
		require.Equal(t, "corrected", r["record_type"])
		require.Equal(t, orig[r["payee_id"]].ID, r["original_record_id"])
		require.NotEqual(t, orig[r["payee_id"]].ID, r["record_id"])
	}
	require.Equal(t, "0.00", byPayee["ann"]["box1_nonemployee_compensation"], "ann fell under $2,000: zeroed correction")
	require.Equal(t, "2100.00", byPayee["ben"]["box1_nonemployee_compensation"])
	require.Equal(t, "0.00", byPayee["cy"]["box1_nonemployee_compensation"])

	hist, err := store.FilingHistory(ctx, "org1", 2026)
	require.NoError(t, err)
	require.Len(t, hist, 6)
	for _, h := range hist {
		if h.Seq == 1 {
			require.Equal(t, orig[h.PayeeID].AmountCents, h.AmountCents, "original unchanged")
			require.False(t, h.Corrected)
		} else {
			require.True(t, h.Corrected)
			require.Equal(t, orig[h.PayeeID].ID, h.OriginalID)
		}
	}
	gens, err := store.Generations(ctx, "org1", 2026)
	require.NoError(t, err)
	require.Len(t, gens, 3)

	// Reversal undone: ann is back over threshold: a second correction.
	l.paid[1].Reversed = false
	var third bytes.Buffer
	res3, err := l.filer(t, store, field, at.AddDate(1, 2, 0)).Generate(ctx, "org1", 2026, &third)
	require.NoError(t, err)
	require.Len(t, res3.Records, 1)
	require.Equal(t, 3, res3.Records[0].Seq)
	require.Equal(t, orig["ann"].ID, res3.Records[0].OriginalID)
	require.Equal(t, int64(2500_00), res3.Records[0].AmountCents)
}

func TestFilingCSVNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	p := payee("x", "1")
	p.Name = `=HYPERLINK("http://evil.example","click")`
	l := &ledger{paid: []nec1099.Payment{pay("1", "x", 700_00, at)}, payees: map[string]nec1099.Payee{"x": p}}
	var out bytes.Buffer
	_, err := l.filer(t, nec1099.NewMemoryStore(), &fakeField{}, at).Generate(context.Background(), "org1", 2025, &out)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(readCSV(t, out.Bytes())[0]["payee_name"], "'="))
}

func TestFilerRefusesUnknownYear(t *testing.T) {
	t.Parallel()
	l := &ledger{}
	_, err := l.filer(t, nec1099.NewMemoryStore(), &fakeField{}, t0).Generate(context.Background(), "org1", 2027, &bytes.Buffer{})
	require.ErrorIs(t, err, nec1099.ErrNoThreshold)
}

// TestPayerTimeZoneDecidesTaxYear: $600 paid at 8pm on December 31, 2025 in
// New York is a 2025 payment although it is already 2026 in UTC.
func TestPayerTimeZoneDecidesTaxYear(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata")
	}
	at := time.Date(2025, 12, 31, 20, 0, 0, 0, ny)
	l := &ledger{paid: []nec1099.Payment{pay("1", "x", 600_00, at)}, payees: map[string]nec1099.Payee{"x": payee("x", "1")}}
	f := l.filer(t, nec1099.NewMemoryStore(), &fakeField{}, at, nec1099.WithLocation(ny))
	res, err := f.Generate(context.Background(), "org1", 2025, &bytes.Buffer{})
	require.NoError(t, err)
	require.Len(t, res.Records, 1)
	f = l.filer(t, nec1099.NewMemoryStore(), &fakeField{}, at) // UTC: the payment falls in 2026, under the $2,000 threshold
	res, err = f.Generate(context.Background(), "org1", 2026, &bytes.Buffer{})
	require.NoError(t, err)
	require.Empty(t, res.Records)
}

type brokenPipe struct{}

func (brokenPipe) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestLostCSVIsReissued: the generation is stored, then the CSV write fails
// (the provider upload died). A second Generate has nothing new to file, so
// without Reissue those payees would never be reported.
func TestLostCSVIsReissued(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	l := &ledger{
		paid:   []nec1099.Payment{pay("1", "a", 700_00, at), pay("2", "b", 900_00, at), pay("3", "c", 10_00, at)},
		payees: map[string]nec1099.Payee{"a": payee("a", "111-11-1111"), "b": payee("b", ""), "c": payee("c", "333-33-3333")},
	}
	store := nec1099.NewMemoryStore()
	f := l.filer(t, store, &fakeField{}, at)
	_, err := f.Generate(ctx, "org1", 2025, brokenPipe{})
	require.ErrorContains(t, err, "Reissue")
	gens, err := store.Generations(ctx, "org1", 2025)
	require.NoError(t, err)
	require.Len(t, gens, 1)

	// A later run (a generation's ID is derived from its time: two runs at
	// one clock reading conflict, as the store's contract says).
	var again bytes.Buffer
	res, err := l.filer(t, store, &fakeField{}, at.Add(time.Second)).Generate(ctx, "org1", 2025, &again)
	require.NoError(t, err)
	require.Empty(t, res.Records, "already stored: a plain re-run files nothing")

	var out bytes.Buffer
	require.NoError(t, f.Reissue(ctx, "org1", 2025, gens[0].ID, &out))
	rows := readCSV(t, out.Bytes())
	require.Len(t, rows, 2)
	require.Equal(t, "a", rows[0]["payee_id"])
	require.Equal(t, "111-11-1111", rows[0]["payee_tin"])
	require.Equal(t, "700.00", rows[0]["box1_nonemployee_compensation"])
	require.Equal(t, "original", rows[0]["record_type"])
	require.Equal(t, "b", rows[1]["payee_id"])
	require.Equal(t, "true", rows[1]["tin_missing"])
	hist, err := store.FilingHistory(ctx, "org1", 2025)
	require.NoError(t, err)
	require.Equal(t, hist[0].ID, rows[0]["record_id"])
	require.Len(t, hist, 2, "a reissue stores nothing")

	require.ErrorIs(t, f.Reissue(ctx, "org1", 2025, "no-such-generation", &out), nec1099.ErrNotFound)
	require.ErrorIs(t, f.Reissue(ctx, "org2", 2025, gens[0].ID, &out), nec1099.ErrNotFound, "another tenant's generation")
}

// TestNewValidates: a missing dependency or a nil option value fails New
// with ErrInvalidConfig instead of failing later or keeping the default.
func TestNewValidates(t *testing.T) {
	t.Parallel()
	l := &ledger{}
	store := nec1099.NewMemoryStore()
	_, err := nec1099.New(nil, l.payments, l.payee, &fakeField{})
	require.ErrorIs(t, err, nec1099.ErrInvalidConfig)
	_, err = nec1099.New(store, nil, l.payee, &fakeField{})
	require.ErrorIs(t, err, nec1099.ErrInvalidConfig)
	_, err = nec1099.New(store, l.payments, nil, &fakeField{})
	require.ErrorIs(t, err, nec1099.ErrInvalidConfig)
	_, err = nec1099.New(store, l.payments, l.payee, nil)
	require.ErrorIs(t, err, nec1099.ErrInvalidConfig)
	// The message names the option at fault.
	for name, tc := range map[string]struct {
		opt  nec1099.Option
		want string
	}{
		"nil clock":      {nec1099.WithClock(nil), "WithClock"},
		"nil thresholds": {nec1099.WithThresholds(nil), "WithThresholds"},
		"nil recorder":   {nec1099.WithRecorder(nil), "WithRecorder"},
		"nil location":   {nec1099.WithLocation(nil), "WithLocation"},
		"nil option":     {nil, "nil option"},
	} {
		_, err := nec1099.New(store, l.payments, l.payee, &fakeField{}, tc.opt)
		require.ErrorIs(t, err, nec1099.ErrInvalidConfig, name)
		require.ErrorContains(t, err, tc.want, name)
	}
}

// TestFilingIDsAreStable pins the IDs Generate derives (see uuid_test.go):
// the names hashed for a record and a generation must not change either, or
// a re-run would no longer recognise what is already filed.
func TestFilingIDsAreStable(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	l := &ledger{paid: []nec1099.Payment{pay("1", "a", 700_00, at)}, payees: map[string]nec1099.Payee{"a": payee("a", "1")}}
	res, err := l.filer(t, nec1099.NewMemoryStore(), &fakeField{}, at).Generate(context.Background(), "org1", 2025, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, "68522676-f90e-5c97-bc38-1cdabd91188a", res.Generation.ID)
	require.Len(t, res.Records, 1)
	require.Equal(t, "c74773ca-3d08-5d6f-8690-ac0c5fe9ab89", res.Records[0].ID)
}
