package nec1099

import "errors"

// Sentinel errors. Every error this package returns wraps one of these (or a
// store's or a host's error) so callers can branch with errors.Is.
var (
	// ErrNoThreshold reports a tax year with no reporting threshold in the
	// table: generating filings against a guessed threshold is worse than
	// stopping.
	ErrNoThreshold = errors.New("nec1099: no reporting threshold for tax year")
	// ErrConflict reports a concurrent write that lost (another instance
	// generated the same filing records first); retry the operation.
	ErrConflict = errors.New("nec1099: conflicting concurrent write")
	// ErrNotFound reports a generation with no stored records (Reissue).
	ErrNotFound = errors.New("nec1099: not found")
	// ErrInvalidConfig reports a missing dependency of New or an option
	// outside its allowed range; the message names which.
	ErrInvalidConfig = errors.New("nec1099: invalid configuration")
)
