// Package privacy implements the GDPR data lifecycle as code: soft delete
// with a cooldown, erasure through a plan of data domains (delete, set null,
// replace, keyed pseudonym, crypto-shredding), retention classes and legal
// holds, a resumable sweeper, data subject requests with deadlines, a
// streamed and checksummed export, and consent with policy versions. The
// records of processing activities (Art. 30) are compliance's
// ProcessingRecords.
//
// # Threat addressed
//
// Personal data kept longer than allowed or promised, an erasure that misses
// a copy (a domain someone forgot, a backup, a half-finished job), tracking
// before consent or after its withdrawal, and a right-of-access request
// answered late, to the wrong person, or with a document that cannot be
// checked.
//
// # How it fits together
//
// Three types share a Store (NewMemoryStore, or privacy/pgstore on
// PostgreSQL), each over the narrow part of it that it needs: a Lifecycle
// (NewLifecycle, over a LifecycleStore) runs deletion, restore, legal
// holds, the sweep and the export; Requests (NewRequests, over a
// RequestStore) keeps data subject requests and their deadlines; Consent
// (NewConsent, over a ConsentStore) keeps consent decisions, which a
// ConsentGate serves over HTTP. Subjects, requests and holds are named by
// a Ref (organisation and ID).
//
// The host registers its data domains with the Lifecycle, each with an
// Eraser and optionally an Exporter; privacy/pgstore.NewTableEraser covers the common
// "table, subject column, columns to strategies" case in one statement.
//
//	active ──RequestDeletion──▶ deletion_requested ──Sweep (cooldown elapsed)──▶ erased
//	   ▲                              │
//	   └──────Restore (before the end of the cooldown; refused after)
//
// A domain with a Retention period (invoices: 7 years) is minimised at
// erasure (its Minimise plan nulls everything not legally required) and
// erased by a later sweep when the period ends. A legal Hold on a subject or
// a domain blocks erasure until it is lifted or ends. Every transition, hold
// and request change goes to a Recorder (auditlog's Log satisfies it), or
// to a store that records it in the same transaction (AuditingStore, see
// below), with the actor and reason; AuditActions lists the names to
// register there.
//
// A data subject request follows its Jurisdiction's deadline, counted as
// the law counts it (Deadline), so Overdue lists a request no later than the
// law would.
//
// Lifecycle.Sweep is resumable and safe to run on many instances at once.
// Every erasure is audited at least once, and exactly once with an
// AuditingStore (privacy/pgstore with WithAuditOutbox), which records each
// entry in the transaction of the write it describes. Lifecycle, Requests and
// Consent each have WithStore, to run over a store bound to the host's own
// transaction: l.WithStore(store.WithTx(tx)) with privacy/pgstore.
//
// Erasure needs the host's erasers, so it runs in the host: schedule
// Lifecycle.Sweep, which reports to a Heartbeat (compliance/monitor's
// Monitor). The CLI's "rampart privacy sweep" has no erasers and never
// erases; it reports due subjects and fails when they stay due too long.
//
// The package never imports keyring, auditlog or compliance: it declares the
// one-method interfaces it needs (Recorder, Shredder, Hasher, Heartbeat).
//
// # What it does not do
//
// It cannot erase what the host did not register as a domain, and it cannot
// make plaintext backups forget: only fields sealed under a subject key
// (CryptoShred) become unreadable in copies taken earlier.
package privacy
