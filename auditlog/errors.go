package auditlog

import (
	"errors"
	"fmt"
)

// Errors of the package. Match them with errors.Is.
var (
	ErrUnknownAction   = errors.New("auditlog: action is not registered")
	ErrDuplicateAction = errors.New("auditlog: action registered twice")
	ErrBadActionType   = errors.New("auditlog: bad action type")
	ErrBadActor        = errors.New("auditlog: bad actor")
	ErrBadTarget       = errors.New("auditlog: bad target")
	ErrBadEntry        = errors.New("auditlog: bad entry")
	ErrBadPayload      = errors.New("auditlog: payload is not canonical JSON")
	ErrFork            = errors.New("auditlog: batch does not extend the chain head")
	ErrNotFound        = errors.New("auditlog: not found")
	ErrChainBroken     = errors.New("auditlog: chain does not verify")
	ErrOutcomeUnknown  = errors.New("auditlog: append outcome unknown")
	ErrHeld            = errors.New("auditlog: hold")
)

// ErrInvalidConfig reports an option of New outside its documented range;
// the error names the option and the range.
var ErrInvalidConfig = errors.New("auditlog: invalid configuration")

// ErrBadCheckpoint reports a checkpoint that does not parse or whose
// signature does not verify.
var ErrBadCheckpoint = errors.New("auditlog: bad checkpoint")

// ErrBadExport reports an export that does not parse.
var ErrBadExport = errors.New("auditlog: bad export")

// ErrUnsupportedExportVersion reports an export written in a version of the
// format this reader does not read (errors.Is also matches ErrBadExport).
var ErrUnsupportedExportVersion = errors.New("auditlog: unsupported export version")

// ErrBadQuery reports a Query or page size that ReadPage refuses.
var ErrBadQuery = errors.New("auditlog: bad query")

// ErrInsideRetention reports a prune whose cutoff falls inside the retention
// the store enforces (auditlog/pgstore keeps it in the database, where the
// application cannot lower it), or a store with no retention configured.
var ErrInsideRetention = errors.New("auditlog: cutoff is inside the retention period")

// ErrNotRecorded reports a hold lift or a prune that the store refused
// because the audit entry recording it was not appended in the same
// transaction: auditlog/pgstore's database refuses such a change from any
// caller, so that it cannot be done without a trace.
var ErrNotRecorded = errors.New("auditlog: retention change not recorded in its chain")

// Fault errors. Match them with errors.Is.
var (
	// ErrConnectionLost marks a Store error after which the batch's
	// transaction is over: the connection to the database was lost before
	// anything was sent, or the server itself ended the session, or the
	// store made sure the session is gone. The batch is then stored or
	// will never be, so reading the store tells which. A Log stores such a
	// batch again (5 attempts in all) when the store shows it was not
	// stored; an Append error wrapping ErrConnectionLost (and not
	// ErrOutcomeUnknown) means the entry was not written and appending it
	// again is safe. A Store must not wrap it around an error after which
	// the batch may still be stored later (a session of the database that
	// may still commit): that is ErrOutcomeUnknown.
	ErrConnectionLost = errors.New("auditlog: connection to the store lost")
	// ErrInternal is returned to the callers whose batch was in hand when a
	// goroutine of the Log panicked (a bug, or a Store, clock or signer that
	// panics). The panic is logged with its stack and the Log keeps
	// serving. Such an error also wraps ErrOutcomeUnknown: the batch may
	// have been stored before the panic.
	ErrInternal = errors.New("auditlog: internal error")
)

// OutcomeUnknownError is the ErrOutcomeUnknown of an Append whose entry was
// sealed: Receipt is where the entry is if it was stored (the same sequence
// number and hash, since the store refuses any batch that does not extend
// its head). Log.Stored answers whether it was, once the store is
// reachable again.
type OutcomeUnknownError struct {
	Receipt Receipt
	Err     error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("%v (if stored, the entry is %d of chain %q)", e.Err, e.Receipt.Seq, e.Receipt.Chain)
}

// Unwrap returns the underlying error, which wraps ErrOutcomeUnknown.
func (e *OutcomeUnknownError) Unwrap() error { return e.Err }
