package compliance

import "errors"

// Sentinel errors. Every error this package returns wraps one of these (or a
// host's error) so callers can branch with errors.Is.
var (
	// ErrUnknownSlot reports a check filled into an evidence slot that no
	// control of the matrix uses: almost always a typo that would otherwise
	// leave the real slot empty.
	ErrUnknownSlot = errors.New("compliance: unknown evidence slot")
	// ErrInvalidControl reports a catalog entry that cannot be evaluated
	// (no ID, duplicate ID, evidence without a slot or reference).
	ErrInvalidControl = errors.New("compliance: invalid control")
	// ErrInvalidReport reports JSON that is not a report this package wrote.
	ErrInvalidReport = errors.New("compliance: invalid report")
	// ErrUnknownJob reports a heartbeat for a job that was never registered:
	// a typo in a job name must not create a job nobody watches.
	ErrUnknownJob = errors.New("compliance: unknown job")
	// ErrInvalidJob reports a job registration without a name or period.
	ErrInvalidJob = errors.New("compliance: invalid job")
	// ErrInvalidAudit reports an audit definition that cannot run.
	ErrInvalidAudit = errors.New("compliance: invalid audit")
	// ErrNoThreshold reports a tax year with no reporting threshold in the
	// table: generating filings against a guessed threshold is worse than
	// stopping.
	ErrNoThreshold = errors.New("compliance: no reporting threshold for tax year")
	// ErrConflict reports a concurrent write that lost (another instance
	// generated the same filing records first); retry the operation.
	ErrConflict = errors.New("compliance: conflicting concurrent write")
	// ErrNotFound reports a missing stored record.
	ErrNotFound = errors.New("compliance: not found")
)
