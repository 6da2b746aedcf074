// Package auditlog is an append-only, hash-chained audit log that survives
// many writers, a hostile database administrator and retention.
//
// Every entry (who did what to which target, in which organisation, with a
// JSON payload) is hashed onto the previous entry of its organisation's
// chain with a byte-exact canonical encoding (ENCODING.md), and added to a
// Merkle tree so that inclusion and consistency are provable in O(log n).
// Action types are registered up front; an unregistered action is an error.
//
//	log := auditlog.New(pgstore.New(pool), auditlog.WithCheckpoints(signer, sink, 1000, time.Minute))
//	log.Register(auditlog.ActionType{Name: "invoice.paid", Category: auditlog.CategoryAdmin, SchemaVersion: 1})
//	err := log.Record(ctx, orgID, "user:"+userID, "invoice.paid", "invoice:"+id, map[string]any{"amount": 1250})
//
// Appends from many goroutines are batched per chain (group commit) and
// Append returns once its entry is durable. With a store that pipelines
// (PipelinedAppender, as auditlog/pgstore does), the next batch is sealed
// on the head the current one will leave and is already at the database
// while the current one commits. Stores serialise each chain themselves,
// so several processes can share one; the PostgreSQL store also refuses
// forks and any UPDATE, DELETE or TRUNCATE with constraints and triggers.
//
// Threat addressed: an insider, a compromised application or a database
// administrator who edits, inserts, deletes, reorders or recomputes audit
// rows to hide what happened. Verify streams a chain and names the first
// broken entry and why. Deleting the newest rows or recomputing a whole
// chain leaves a self-consistent chain, so the log also signs checkpoints
// (Ed25519, golang.org/x/mod/sumdb/note) and hands them to a sink outside
// the database; verification against them detects both. Not addressed: an
// attacker who holds the checkpoint signing key and every saved checkpoint,
// or who prevents entries from being written in the first place.
//
// Faults: a lost database connection is retried inside the Log when the
// store shows the batch was not stored, and otherwise reported as
// ErrOutcomeUnknown with the receipt to check (Log.Stored); a panic in a
// goroutine of the Log fails only the callers in hand (ErrInternal) and is
// logged. SECURITY.md, "Fault model", says what survives what.
//
// Retention prunes payloads older than a window (headers and hashes stay, so
// the chain still verifies) except where a compliance hold applies; placing
// and lifting holds are audited. Export writes CSV, JSON or NDJSON with
// proofs and a signed checkpoint, so that an export verifies offline.
package auditlog
