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
	// ErrInvalidActivity reports a processing activity that lacks what GDPR
	// Art. 30(1) requires, or one added to the register twice.
	ErrInvalidActivity = errors.New("compliance: invalid processing activity")
	// ErrInvalidAudit reports an audit definition that cannot run.
	ErrInvalidAudit = errors.New("compliance: invalid audit")
	// ErrConflict reports a write that lost to an earlier one (a report
	// with the same ID is already stored).
	ErrConflict = errors.New("compliance: conflicting concurrent write")
	// ErrInvalidConfig reports an option passed to NewMatrix or NewAuditor
	// outside its allowed range; the message names the option and the range.
	ErrInvalidConfig = errors.New("compliance: invalid configuration")
)
