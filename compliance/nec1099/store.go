package nec1099

import (
	"context"
	"time"
)

// Store keeps the history of 1099 generations. Filing records are
// append-only: a correction is a new record. NewMemoryStore and
// compliance/pgstore implement it; compliance/nec1099/nec1099test checks an
// implementation.
type Store interface {
	// SaveGeneration stores a generation and its records atomically. It
	// fails with ErrConflict, storing nothing, when the generation's ID or a
	// record's (org, tax year, payee, seq) already exists, i.e. another
	// generation won a race.
	SaveGeneration(ctx context.Context, g Generation, records []FilingRecord) error
	// FilingHistory lists every record of an organisation's tax year, by
	// payee then seq.
	FilingHistory(ctx context.Context, org string, taxYear int) ([]FilingRecord, error)
	// Generations lists an organisation's generations of a tax year, oldest
	// first.
	Generations(ctx context.Context, org string, taxYear int) ([]Generation, error)
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
