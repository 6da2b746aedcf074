// Package nec1099 generates Form 1099-NEC information returns: it totals a
// tax year's payments per payee, applies the year's reporting threshold
// from a table that cites its source ($600 through 2025, $2,000 from 2026),
// flags payees with no tax ID on file, and writes the records a filing
// provider takes as CSV. Filed records are never changed: a payment reversed
// after filing yields a corrected record that references the original.
//
// Filer is built with New over a Store (compliance/pgstore in PostgreSQL,
// NewMemoryStore in memory), the host's payments and payees, and a
// FieldOpener for the sealed tax IDs (*keyring.Field satisfies it).
//
// # Threat addressed
//
// Filing against the wrong threshold, filing a payee twice, losing a
// correction, and leaking tax IDs. A tax year with no threshold in the table
// stops generation (ErrNoThreshold) rather than guess. Two instances
// generating the same year race on the store's unique key, and the loser
// gets ErrConflict instead of filing twice. Records are stored before the
// CSV is written, and Reissue writes a stored generation again when the CSV
// never reached the provider. Tax IDs are opened only while writing their
// row, wiped once written, and never stored; payee names cannot inject
// spreadsheet formulas. With WithRecorder every generation and reissue
// leaves an audit entry (ActionFilingsGenerated).
//
// nec1099 imports no other rampart package. What it does not stop: wrong
// payments from the host, or a threshold table extended with a wrong
// amount; it is not tax advice.
//
// # Options
//
// New takes Options (WithClock, WithThresholds, WithRecorder,
// WithLocation), each checked by New: a nil value returns an error wrapping
// ErrInvalidConfig.
package nec1099
