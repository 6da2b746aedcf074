// Package compliance turns compliance claims into things a program checks:
//
//   - a control matrix (GDPR and CCPA catalogs ship with it) whose evidence is
//     re-proved at report time by checks the host wires into named slots, and
//     rendered as Markdown, JSON or OSCAL assessment results;
//   - periodic audits over a population (e.g. affiliates) that move members
//     with sustained failures up an escalation ladder, idempotently per
//     period, with the FTC 16 CFR Part 255 disclosure audit as the worked
//     example;
//   - ProcessingRecords: the GDPR Art. 30 register of processing
//     activities, in JSON and Markdown, the document behind the GDPR
//     catalog's "gdpr-art-30" control;
//   - OutboxCheck: evidence that audit entries recorded in host
//     transactions reach the chain (the outbox's oldest entry waits no
//     longer than a threshold).
//
// Two neighbours live in packages of their own: compliance/monitor, the
// dead-man switch for scheduled jobs (its Check fills SlotJobsHealthy), and
// compliance/nec1099, threshold-driven Form 1099-NEC information reporting.
// compliance/pgstore stores all three.
//
// # Threat addressed
//
// A control that silently stopped working: an audit chain nobody verifies
// any more, an erasure sweeper that died three weeks ago, a route added
// without a permission, a compliance page that still says "enforced". The
// matrix re-runs its checks on every report, an unwired check fails instead
// of passing, a check that panics or hangs fails, and a report file edited
// to say "pass" is re-derived from its controls when read. Audits escalate
// exactly once per period however often they are re-run.
//
// compliance imports no other rampart package: checks reach auditlog,
// keyring, rbac, mfa and privacy through functions and one-method interfaces
// the host wires (Recorder, Outbox), so it can be used alone.
//
// # Options
//
// NewMatrix takes MatrixOptions and NewAuditor AuditorOptions; WithClock is
// an Option that both accept. Every option is checked by the constructor:
// an out-of-range value returns an error wrapping ErrInvalidConfig.
//
// What it does not stop: a host that wires a check which always passes. The
// matrix proves what its checks prove, no more.
package compliance
