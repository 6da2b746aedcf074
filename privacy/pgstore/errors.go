package pgstore

import "errors"

// ErrNoAuditOutbox is returned when an entry must be recorded through the
// outbox and there is no recorder: AuditTx on a store built without
// WithAuditOutbox.
var ErrNoAuditOutbox = errors.New("privacy/pgstore: no audit outbox recorder")

// ErrNoMaintenancePool: a cross-organisation operation was asked of a store
// with tenant binding and no maintenance pool.
var ErrNoMaintenancePool = errors.New("privacy/pgstore: tenant binding: cross-organisation operation needs WithMaintenancePool")

// ErrCrossOrgInTx: a cross-organisation operation was asked of a store
// with tenant binding that is bound to a transaction (WithTx, or the
// transaction of AuditTx): on the maintenance pool it would commit apart
// from that transaction, and in it the application role sees no other
// organisation's rows.
var ErrCrossOrgInTx = errors.New("privacy/pgstore: tenant binding: cross-organisation operation in a transaction; run the sweep on a store over the maintenance pool")
