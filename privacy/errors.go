package privacy

import "errors"

// Sentinel errors. Every error the package returns wraps one of them or a
// store/driver error, so callers can branch with errors.Is.
var (
	// ErrNotFound: the store has no such subject, hold, request or record.
	ErrNotFound = errors.New("privacy: not found")
	// ErrConflict: the record changed under a concurrent writer.
	ErrConflict = errors.New("privacy: concurrent change")
	// ErrInvalidTransition: the lifecycle does not allow this step from the
	// subject's current state (restore an active subject, erase twice...).
	ErrInvalidTransition = errors.New("privacy: invalid lifecycle transition")
	// ErrCooldownElapsed: restore was asked after the cooldown ended; the
	// subject is (or is about to be) erased and cannot come back.
	ErrCooldownElapsed = errors.New("privacy: cooldown elapsed, restore refused")
	// ErrNoDomains: a sweep was asked with no data domain registered; it
	// would mark subjects erased without erasing anything.
	ErrNoDomains = errors.New("privacy: no data domain registered")
	// ErrInvalid: an argument is missing or malformed.
	ErrInvalid = errors.New("privacy: invalid argument")
	// ErrInvalidConfig: a constructor (NewLifecycle, NewRequests,
	// NewConsent, privacy/pgstore.New) was given an option out of its
	// documented range; the error names the option and the range.
	ErrInvalidConfig = errors.New("privacy: invalid configuration")
	// ErrBadExport: an export document does not parse, has an unknown
	// schema, a header or section that does not match its manifest, or a
	// manifest that does not match the digest.
	ErrBadExport = errors.New("privacy: invalid export document")
)
