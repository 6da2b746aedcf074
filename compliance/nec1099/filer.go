package nec1099

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

// Filer generates Form 1099-NEC filing records. Build it with New.
type Filer struct {
	store      Store
	payments   func(ctx context.Context, org string, taxYear int, yield func(Payment) error) error
	payees     func(ctx context.Context, org, payeeID string) (Payee, error)
	taxIDs     FieldOpener
	thresholds *ThresholdTable
	rec        Recorder
	now        func() time.Time
	loc        *time.Location
}

// New returns a Filer that stores generations in store, reads a tax year's
// payments from payments (which calls yield for each, and stops with
// yield's error), a payee's name, address and sealed TIN from payees, and
// opens sealed TINs with taxIDs (*keyring.Field satisfies it). All four are
// required, and options are checked: either fault returns ErrInvalidConfig.
func New(store Store,
	payments func(ctx context.Context, org string, taxYear int, yield func(Payment) error) error,
	payees func(ctx context.Context, org, payeeID string) (Payee, error),
	taxIDs FieldOpener, opts ...Option,
) (*Filer, error) {
	if store == nil || payments == nil || payees == nil || taxIDs == nil {
		return nil, fmt.Errorf("%w: a filer needs a store, payments, payees and a tax ID opener", ErrInvalidConfig)
	}
	c := config{thresholds: DefaultThresholds(), now: time.Now, loc: time.UTC}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidConfig)
		}
		o(&c)
	}
	if c.err != nil {
		return nil, c.err
	}
	return &Filer{store: store, payments: payments, payees: payees, taxIDs: taxIDs,
		thresholds: c.thresholds, rec: c.rec, now: c.now, loc: c.loc}, nil
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
	th, err := f.thresholds.Lookup(taxYear)
	if err != nil {
		return nil, err
	}
	now, loc := f.now, f.loc
	totals := map[string]int64{}
	err = f.payments(ctx, org, taxYear, func(p Payment) error {
		if p.Reversed || p.PaidAt.In(loc).Year() != taxYear {
			return nil
		}
		totals[p.PayeeID] += p.AmountCents
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("nec1099: filer: payments: %w", err)
	}
	history, err := f.store.FilingHistory(ctx, org, taxYear)
	if err != nil {
		return nil, fmt.Errorf("nec1099: filer: history: %w", err)
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
	if err := f.store.SaveGeneration(ctx, gen, res.Records); err != nil {
		return nil, fmt.Errorf("nec1099: filer: save generation: %w", err)
	}
	res.Generation = gen
	if f.rec != nil {
		// The actor predates the package and is kept, like the action name.
		if err := f.rec.Record(ctx, org, "system:compliance/filer", ActionFilingsGenerated, "generation:"+gen.ID, map[string]any{
			"tax_year": taxYear, "records": gen.Records, "corrections": gen.Corrections, "missing_tax_ids": gen.MissingTaxIDs,
			"threshold_cents": th.AmountCents,
		}); err != nil {
			return nil, fmt.Errorf("nec1099: filer: record stored generation %s (Reissue writes its CSV once the audit log is back): %w", gen.ID, err)
		}
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("nec1099: filer: write csv of stored generation %s (Reissue writes it again): %w", gen.ID, err)
	}
	return res, nil
}

// writeRow writes rec's CSV row, opening the payee's TIN only for it and
// wiping it once written, and reports whether the TIN is missing.
func (f *Filer) writeRow(ctx context.Context, cw *csv.Writer, rec FilingRecord) (tinMissing bool, err error) {
	payee, err := f.payees(ctx, rec.Org, rec.PayeeID)
	if err != nil {
		return false, fmt.Errorf("nec1099: filer: payee %q: %w", rec.PayeeID, err)
	}
	var tin []byte
	if len(payee.TaxIDCiphertext) > 0 {
		tin, err = f.taxIDs.Open(payee.TaxIDRowID, payee.TaxIDCiphertext)
		if err != nil {
			return false, fmt.Errorf("nec1099: filer: payee %q: open tax id: %w", rec.PayeeID, err)
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
	history, err := f.store.FilingHistory(ctx, org, taxYear)
	if err != nil {
		return fmt.Errorf("nec1099: filer: history: %w", err)
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
	if f.rec != nil {
		if err := f.rec.Record(ctx, org, "system:compliance/filer", ActionFilingsGenerated, "generation:"+generationID, map[string]any{
			"tax_year": taxYear, "records": n, "reissue": true,
		}); err != nil {
			return fmt.Errorf("nec1099: filer: record: %w", err)
		}
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("nec1099: filer: write csv: %w", err)
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
