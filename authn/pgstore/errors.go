package pgstore

import "errors"

// ErrInternal is returned to the lookups whose query panicked (a bug in a
// scanner or the driver). The panic is logged with its stack (the keys,
// which are token hashes and key IDs, are not) and the store keeps serving.
var ErrInternal = errors.New("authn/pgstore: internal error")
