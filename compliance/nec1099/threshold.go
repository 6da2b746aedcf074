package nec1099

import "fmt"

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
