package compliance

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"
)

// Threshold is the reporting threshold of one tax year, with the law or
// publication it comes from, so a filing run can show why it reported whom.
type Threshold struct {
	TaxYear int
	// AmountCents: payees paid at least this much in the year are reported.
	AmountCents int64
	Source      string
}

// ThresholdTable maps tax years to thresholds. It is immutable: With returns
// a new table, so a host can extend the shipped one (e.g. with the IRS's
// inflation-indexed amount for 2027) without affecting others.
type ThresholdTable struct {
	years map[int]Threshold
}

const (
	source600 = "$600 or more: 26 U.S.C. §6041A(a) (remuneration for services of $600 or more in a calendar year) " +
		"and IRS Instructions for Forms 1099-MISC and 1099-NEC (Form 1099-NEC reintroduced for tax year 2020)"
	source2000 = "$2,000 or more: 26 U.S.C. §6041(a) and §6041A(a) as amended by the One Big Beautiful Bill Act of 2025 " +
		"(P.L. 119-21), for payments made after December 31, 2025; indexed for inflation for calendar years after 2026"
)

// DefaultThresholds returns the Form 1099-NEC thresholds known when this
// package was written: $600 for tax years 2020 through 2025 and $2,000 for
// 2026. Later years are indexed for inflation and must be added with With
// once the IRS publishes them; until then Lookup fails with ErrNoThreshold
// rather than guess.
func DefaultThresholds() *ThresholdTable {
	t := &ThresholdTable{years: map[int]Threshold{}}
	for y := 2020; y <= 2025; y++ {
		t.years[y] = Threshold{TaxYear: y, AmountCents: 600_00, Source: source600}
	}
	t.years[2026] = Threshold{TaxYear: 2026, AmountCents: 2000_00, Source: source2000}
	return t
}

// With returns a copy of the table with th added or replacing its year.
func (t *ThresholdTable) With(th Threshold) *ThresholdTable {
	n := &ThresholdTable{years: make(map[int]Threshold, len(t.years)+1)}
	for y, v := range t.years {
		n.years[y] = v
	}
	n.years[th.TaxYear] = th
	return n
}

// Lookup returns the threshold of a tax year, or ErrNoThreshold.
func (t *ThresholdTable) Lookup(year int) (Threshold, error) {
	th, ok := t.years[year]
	if !ok || th.AmountCents <= 0 {
		return Threshold{}, fmt.Errorf("%w %d: add it with ThresholdTable.With (amounts after 2026 are indexed for inflation)", ErrNoThreshold, year)
	}
	return th, nil
}

// Payment is one payment to a payee. A reversal is either the original
// payment with Reversed set, or a separate payment with a negative amount.
type Payment struct {
	ID          string
	PayeeID     string
	AmountCents int64
	PaidAt      time.Time
	Reversed    bool
}

// Payee is what a filing record needs about a payee. The tax ID stays
// sealed until generation opens it.
type Payee struct {
	ID    string
	Name  string
	Line1 string
	City  string
	State string
	ZIP   string
	// TaxIDCiphertext is the sealed TIN (nil when none is on file) and
	// TaxIDRowID the row it is bound to (keyring binds ciphertext to a row).
	TaxIDCiphertext []byte
	TaxIDRowID      string
}

// FieldOpener decrypts a sealed field. *keyring.Field satisfies it.
type FieldOpener interface {
	Open(rowID string, ciphertext []byte) ([]byte, error)
}

// Generation is one run of the filing pipeline for a tax year.
type Generation struct {
	ID              string
	Org             string
	TaxYear         int
	GeneratedAt     time.Time
	ThresholdCents  int64
	ThresholdSource string
	// Records and Corrections count the records this run created.
	Records     int
	Corrections int
	// MissingTaxIDs counts created records whose payee has no TIN on file.
	MissingTaxIDs int
}

// FilingRecord is one filed (or to-be-filed) Form 1099-NEC, as stored. The
// TIN is never stored here; only whether it was missing.
type FilingRecord struct {
	ID           string
	Org          string
	TaxYear      int
	PayeeID      string
	Seq          int
	GenerationID string
	AmountCents  int64
	// Corrected marks a corrected return; OriginalID then names the
	// original record it corrects.
	Corrected    bool
	OriginalID   string
	TaxIDMissing bool
	CreatedAt    time.Time
}

// FilingResult is what a generation produced.
type FilingResult struct {
	Generation Generation
	// Records are the records created by this run (originals and
	// corrections), in CSV order.
	Records []FilingRecord
	// MissingTaxID lists reportable payees with no TIN on file: request a
	// W-9 (and consider backup withholding) before filing.
	MissingTaxID []string
}

// Filer generates Form 1099-NEC filing records.
type Filer struct {
	Store      FilingStore
	Payments   func(ctx context.Context, org string, taxYear int, yield func(Payment) error) error
	Payees     func(ctx context.Context, org, payeeID string) (Payee, error)
	TaxIDs     FieldOpener
	Thresholds *ThresholdTable
	// Recorder, if set, records ActionFilingsGenerated for every run.
	Recorder Recorder
	Now      func() time.Time
	// Location is the payer's time zone, which decides the calendar year of
	// a payment made around midnight on December 31 (default UTC).
	Location *time.Location
}

// csvHeader is the column layout handed to the filing provider.
var csvHeader = []string{"record_id", "tax_year", "record_type", "original_record_id", "payee_id", "payee_name",
	"payee_tin", "tin_missing", "address_line1", "city", "state", "zip", "box1_nonemployee_compensation"}

// Generate aggregates a tax year's payments per payee, applies the year's
// threshold, and writes CSV rows to w for every record that is new since the
// last generation: an original for a newly reportable payee, a corrected
// record (referencing the original) when a reported amount changed, and a
// corrected record with a zero amount when a reported payee fell below the
// threshold (e.g. a payment reversed after filing). Stored records are never
// changed. Tax IDs are opened only here, only for the rows written, and the
// plaintext is wiped once written. The records are stored before the CSV is
// written to w; if that write fails, Reissue writes the stored generation
// again.
func (f *Filer) Generate(ctx context.Context, org string, taxYear int, w io.Writer) (*FilingResult, error) {
	if f.Store == nil || f.Payments == nil || f.Payees == nil || f.TaxIDs == nil {
		return nil, fmt.Errorf("compliance: filer: store, payments, payees and tax ids are required")
	}
	table := f.Thresholds
	if table == nil {
		table = DefaultThresholds()
	}
	th, err := table.Lookup(taxYear)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	loc := f.Location
	if loc == nil {
		loc = time.UTC
	}
	totals := map[string]int64{}
	err = f.Payments(ctx, org, taxYear, func(p Payment) error {
		if p.Reversed || p.PaidAt.In(loc).Year() != taxYear {
			return nil
		}
		totals[p.PayeeID] += p.AmountCents
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("compliance: filer: payments: %w", err)
	}
	history, err := f.Store.FilingHistory(ctx, org, taxYear)
	if err != nil {
		return nil, fmt.Errorf("compliance: filer: history: %w", err)
	}
	latest := map[string]FilingRecord{}
	original := map[string]string{}
	for _, r := range history {
		if r.Seq > latest[r.PayeeID].Seq {
			latest[r.PayeeID] = r
		}
		if !r.Corrected {
			original[r.PayeeID] = r.ID
		}
		if _, ok := totals[r.PayeeID]; !ok {
			totals[r.PayeeID] = 0 // every payment reversed: still needs a correction
		}
	}
	payees := make([]string, 0, len(totals))
	for id := range totals {
		payees = append(payees, id)
	}
	sort.Strings(payees)

	at := now().UTC()
	gen := Generation{ID: uuidV5(fmt.Sprintf("generation/%s/%d/%d", org, taxYear, at.UnixNano())), Org: org, TaxYear: taxYear,
		GeneratedAt: at, ThresholdCents: th.AmountCents, ThresholdSource: th.Source}
	res := &FilingResult{}
	var buf bytes.Buffer
	defer func() { wipe(buf.Bytes()) }() // best effort: the plaintext TINs in the CSV
	cw := csv.NewWriter(&buf)
	if err := cw.Write(csvHeader); err != nil {
		return nil, err
	}
	for _, id := range payees {
		total := totals[id]
		reportable := total >= th.AmountCents
		prev, filed := latest[id]
		rec := FilingRecord{Org: org, TaxYear: taxYear, PayeeID: id, GenerationID: gen.ID, CreatedAt: at}
		switch {
		case !filed && !reportable:
			continue
		case !filed:
			rec.Seq, rec.AmountCents = 1, total
		case reportable && total == prev.AmountCents, !reportable && prev.AmountCents == 0:
			continue
		default:
			rec.Seq, rec.Corrected, rec.OriginalID = prev.Seq+1, true, original[id]
			if reportable {
				rec.AmountCents = total
			}
		}
		rec.ID = uuidV5(fmt.Sprintf("filing/%s/%d/%s/%d", org, taxYear, id, rec.Seq))
		missing, err := f.writeRow(ctx, cw, rec)
		if err != nil {
			return nil, err
		}
		rec.TaxIDMissing = missing
		if missing {
			res.MissingTaxID = append(res.MissingTaxID, id)
			gen.MissingTaxIDs++
		}
		if rec.Corrected {
			gen.Corrections++
		}
		gen.Records++
		res.Records = append(res.Records, rec)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, err
	}
	if err := f.Store.SaveGeneration(ctx, gen, res.Records); err != nil {
		return nil, fmt.Errorf("compliance: filer: save generation: %w", err)
	}
	res.Generation = gen
	if f.Recorder != nil {
		if err := f.Recorder.Record(ctx, org, "system:compliance/filer", ActionFilingsGenerated, "generation:"+gen.ID, map[string]any{
			"tax_year": taxYear, "records": gen.Records, "corrections": gen.Corrections, "missing_tax_ids": gen.MissingTaxIDs,
			"threshold_cents": th.AmountCents,
		}); err != nil {
			return nil, fmt.Errorf("compliance: filer: record stored generation %s (Reissue writes its CSV once the audit log is back): %w", gen.ID, err)
		}
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("compliance: filer: write csv of stored generation %s (Reissue writes it again): %w", gen.ID, err)
	}
	return res, nil
}

// writeRow writes rec's CSV row, opening the payee's TIN only for it and
// wiping it once written, and reports whether the TIN is missing.
func (f *Filer) writeRow(ctx context.Context, cw *csv.Writer, rec FilingRecord) (tinMissing bool, err error) {
	payee, err := f.Payees(ctx, rec.Org, rec.PayeeID)
	if err != nil {
		return false, fmt.Errorf("compliance: filer: payee %q: %w", rec.PayeeID, err)
	}
	var tin []byte
	if len(payee.TaxIDCiphertext) > 0 {
		tin, err = f.TaxIDs.Open(payee.TaxIDRowID, payee.TaxIDCiphertext)
		if err != nil {
			return false, fmt.Errorf("compliance: filer: payee %q: open tax id: %w", rec.PayeeID, err)
		}
	}
	defer wipe(tin)
	kind := "original"
	if rec.Corrected {
		kind = "corrected"
	}
	err = cw.Write([]string{rec.ID, strconv.Itoa(rec.TaxYear), kind, rec.OriginalID, cell(rec.PayeeID), cell(payee.Name), string(tin),
		strconv.FormatBool(len(tin) == 0), cell(payee.Line1), cell(payee.City), cell(payee.State), cell(payee.ZIP),
		dollars(rec.AmountCents)})
	return len(tin) == 0, err
}

// Reissue writes again the CSV of a stored generation (its records exactly
// as stored, with the payees' current names, addresses and TINs), for when
// the CSV that Generate wrote never reached the filing provider: the
// records are stored before the CSV is written, so that two racing
// generators cannot both file, and a second Generate does not produce them
// again. Nothing is stored; the reissue is recorded like a generation.
func (f *Filer) Reissue(ctx context.Context, org string, taxYear int, generationID string, w io.Writer) error {
	if f.Store == nil || f.Payees == nil || f.TaxIDs == nil {
		return fmt.Errorf("compliance: filer: store, payees and tax ids are required")
	}
	history, err := f.Store.FilingHistory(ctx, org, taxYear)
	if err != nil {
		return fmt.Errorf("compliance: filer: history: %w", err)
	}
	var buf bytes.Buffer
	defer func() { wipe(buf.Bytes()) }()
	cw := csv.NewWriter(&buf)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	n := 0
	for _, rec := range history {
		if rec.GenerationID != generationID {
			continue
		}
		if _, err := f.writeRow(ctx, cw, rec); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%w: generation %q of tax year %d has no records", ErrNotFound, generationID, taxYear)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	if f.Recorder != nil {
		if err := f.Recorder.Record(ctx, org, "system:compliance/filer", ActionFilingsGenerated, "generation:"+generationID, map[string]any{
			"tax_year": taxYear, "records": n, "reissue": true,
		}); err != nil {
			return fmt.Errorf("compliance: filer: record: %w", err)
		}
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("compliance: filer: write csv: %w", err)
	}
	return nil
}

// cell neutralises spreadsheet formulas in host-supplied text (a payee named
// "=HYPERLINK(...)"), since filing CSVs are routinely opened in one.
func cell(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}

func dollars(cents int64) string {
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
