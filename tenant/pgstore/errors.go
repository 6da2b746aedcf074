package pgstore

import "errors"

// Sentinel errors, matched with errors.Is.
var (
	// ErrOrgMismatch: Run was given a transaction already bound to another
	// organisation.
	ErrOrgMismatch = errors.New("tenant/pgstore: the transaction is bound to another organisation")
	// ErrBadIdentifier: a table, column or type name is empty or malformed.
	ErrBadIdentifier = errors.New("tenant/pgstore: bad identifier")
)
