package pgstore

import "errors"

// ErrNoTx is returned by RecordTx given no transaction or no Log, and by
// a TxRecorder built without a Log.
var ErrNoTx = errors.New("auditlog/pgstore: RecordTx needs the caller's transaction")

// ErrNoRecorder is returned by a zero or nil OutboxRecorder's Record.
var ErrNoRecorder = errors.New("auditlog/pgstore: OutboxRecorder needs a pool and a Log (NewOutboxRecorder)")
