// Package privacy implements the GDPR data lifecycle as code: soft delete
// with a cooldown, erasure through a plan of data domains (delete, set null,
// replace, keyed pseudonym, crypto-shredding), retention classes and legal
// holds, a resumable sweeper, data subject requests with deadlines, a
// streamed and checksummed export, consent with policy versions, and the
// records of processing activities (Art. 30).
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
// a Ref (organisation and ID). Each constructor validates its options and
// refuses one out of range with ErrInvalidConfig.
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
// A data subject request follows its Jurisdiction's deadline (GDPR and UK
// GDPR: one month, three when extended; CCPA: 45 days, 90 when extended),
// counted as the law counts it (Deadline): calendar days in the controller's
// time zone (WithLocation), months that end on the last day of a shorter
// month rather than spilling into the next (Regulation 1182/71 Art. 3), and
// never moved past a weekend or holiday, so Overdue lists a request no later
// than the law would.
//
// The sweeper stores each domain's progress as soon as its eraser returns
// and claims subjects with a lease (FOR UPDATE SKIP LOCKED on PostgreSQL), so
// a sweep that dies halfway resumes at the next domain and concurrent
// sweepers never erase a subject twice while its lease holds
// (SweepOptions.Lease must exceed a batch's duration). Erasers must be
// idempotent: a crash between an eraser's success and the progress write,
// or a lease that expires mid-batch, repeats that call; the erasure is
// still reported once, by the sweep that releases the subject.
//
// The release commits the erasure together with a pending-audit marker
// (Release.AuditID); the marker is removed once the audit entry is recorded.
// A sweep that dies between the two, or an audit log that fails, leaves the
// marker, and the next sweep past the releasing sweep's lease records the
// entry (SweepReport.AuditsRecovered). So every erasure is audited at least
// once; an entry is recorded twice only when a sweep dies after recording it
// and before removing its marker, and both entries then carry the same
// "event_id".
//
// Exactly once needs the audit entry in the write's own transaction: a
// store that implements AuditingStore (privacy/pgstore with
// WithAuditOutbox, recording through auditlog's transactional outbox)
// receives every entry a Lifecycle or Requests records with the write it
// describes, in one transaction. Then a committed transition, hold, request change or
// erasure always has exactly one entry, one that did not commit (a failed
// write, a rolled back host transaction) has none, no pending marker is
// written, and markers left from before are recorded together with their
// removal. The entry is sealed into the chain by the audit log's relay
// after the commit, so it may trail the change by the relay's delay; a
// relay that stops delays entries and loses none (auditlog's OutboxStatus
// and "rampart doctor" show the backlog). The Recorder is then not used.
//
// Lifecycle.WithStore runs the same configuration over another store, so a
// host commits privacy's transition with its own change (the account row
// that deactivates the user, the revocation of its sessions) in one
// transaction: l.WithStore(store.WithTx(tx)) with privacy/pgstore.
// Requests.WithStore and Consent.WithStore do the same for a request or a
// consent decision.
//
// A subject leased to a sweeper cannot be restored. The sweep reports
// Start, Succeed and Fail to a Heartbeat (compliance/monitor's Monitor).
//
// Erasure needs the host's erasers, so it runs in the host: schedule
// Lifecycle.Sweep. The CLI's "rampart privacy sweep" has no erasers and never
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
