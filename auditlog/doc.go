// Package auditlog is an append-only, hash-chained audit log that survives
// many writers, a hostile database administrator and retention.
//
// Every entry (who did what to which target, in which organisation, with a
// JSON payload) is hashed onto the previous entry of its organisation's
// chain with a byte-exact canonical encoding (ENCODING.md), and added to a
// Merkle tree so that inclusion and consistency are provable in O(log n).
// Action types are registered up front; an unregistered action is an error.
//
//	log, err := auditlog.New(pgstore.New(pool), auditlog.WithCheckpoints(signer, sink, 1000, time.Minute))
//	log.Register(auditlog.ActionType{Name: "invoice.paid", Category: auditlog.CategoryAdmin, SchemaVersion: 1})
//	err = log.Record(ctx, orgID, "user:"+userID, "invoice.paid", "invoice:"+id, map[string]any{"amount": 1250})
//
// Appends from many goroutines are batched per chain (group commit) and
// Append returns once its entry is durable. Each entry is validated
// before it joins a batch (names, actor, target, request fields, payload,
// a time within years 0000 to 9999), so a defective entry fails its own
// Append with an error to match and never the batch it would have joined. With a store that pipelines
// (PipelinedAppender, as auditlog/pgstore does), the next batch of a chain
// written alone is sealed on the head the current one will leave and is
// already at the database while the current one commits; while several
// chains are written, their batches go through AppendSealed, and the
// PostgreSQL store commits those of several chains in one transaction.
// Stores serialise each chain themselves,
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
// VerifyFrom verifies incrementally from the checkpoint of an earlier
// verification: a consistency proof to the new head, then only the new
// entries.
//
// Inside the host's transaction: a store with an outbox (Outbox;
// auditlog/pgstore's RecordTx) takes an entry as a row of the caller's own
// transaction, validated at once by Prepare, so the entry exists if and
// only if the action commits. RunOutbox relays waiting rows into their
// chains in group-commit batches, each appended and removed from the
// outbox in one transaction: every committed row is sealed exactly once
// whatever crashes when. Within a chain, entries follow the order in which
// the relay finds their rows committed (rows found together, in insertion
// order): if one host transaction committed before another recorded, its
// entry comes first. A row that is not a valid entry is sealed as
// ActionOutboxRejected. OutboxStatus (depth, oldest) is for monitoring;
// Drained says nothing waits. Append and Record cannot join a caller's
// transaction, by design: they group-commit many callers' entries in the
// Log's own transactions.
//
// Reads scale with the page, not with history: ReadPage returns one page
// of a chain (a sequence-number cursor, filters on action, actor, target and
// time, at most MaxPageSize entries, and a filtered page examines at most
// MaxPageScan entries) and Entries streams a selection for exports and jobs
// with at most one store page in memory.
//
// Lifting a hold and every prune are audited in the chain they affect. With
// auditlog/pgstore the database enforces that: only a maintenance role may
// prune or lift, never inside the retention it stores, and never without the
// entry in the same transaction (RetentionRecorder).
//
// Faults: a lost database connection is retried inside the Log when the
// store shows the batch was not stored, and otherwise reported as
// ErrOutcomeUnknown with the receipt to check (Log.Stored); a panic in a
// goroutine of the Log fails only the callers in hand (ErrInternal) and is
// logged. SECURITY.md, "Fault model", says what survives what.
//
// Retention prunes payloads older than a window (headers and hashes stay, so
// the chain still verifies) except where a compliance hold applies; placing
// and lifting holds are audited.
//
// Export writes CSV, JSON or NDJSON (ENCODING.md, "Export formats") with a
// signed checkpoint per chain, an inclusion proof per entry, the filter it
// applied and a signed manifest of exactly which entries it holds, so that
// VerifyExport checks an export offline and reports an entry removed
// (ReasonMissingEntry, never confused with one the filter left out), one
// repeated, moved or added (ReasonUnexpectedEntry), or a file cut short.
// Given checkpoints saved earlier, it checks that each is a prefix of the
// export: recomputed from an export that holds the chain from its first
// entry, else by a consistency proof that Export includes for the saved
// checkpoints it is given (ExportOptions.Checkpoints); so a truncated chain
// (ReasonTruncated) or one rewritten and re-signed with the same key
// (ReasonCheckpointMismatch) fails, and one re-signed with another key
// fails the pinned verifier. Payloads are embedded as their canonical bytes,
// without HTML escaping, and CSV cells a spreadsheet would evaluate are
// neutralised with a leading quote that the reader removes. Not addressed:
// an attacker with the signing key who also controls every checkpoint the
// verifier is given.
package auditlog
