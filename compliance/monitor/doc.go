// Package monitor is the dead-man switch for scheduled jobs: each job is
// registered with a period and a grace, reports Start, Succeed and Fail
// (Wrap does all three around a function), and is overdue when its success
// does not arrive in time, whether it failed, hung past its maximum runtime
// or never ran at all. Signals are also forwarded, asynchronously and within
// bounds, to a healthchecks.io-compatible endpoint, so something outside the
// process notices when the whole process is gone.
//
// The Monitor is evidence for compliance's control matrix: Check fills
// compliance.SlotJobsHealthy, JobCheck one job's slot, and Handler serves the
// status as JSON (503 when a job is overdue) for an uptime checker. It
// satisfies privacy's Heartbeat, so privacy's sweeper reports through it.
// compliance/pgstore stores jobs in PostgreSQL; NewMemoryStore keeps them in
// memory.
//
// # Threat addressed
//
// A job that silently stopped: an erasure sweeper that died three weeks ago,
// a backup that hangs every night, a retention job nobody scheduled on the
// new cluster. The absence of success is the failure, so a job that never
// reports is caught as surely as one that reports failure. A heartbeat for a
// job nobody registered is refused (ErrUnknownJob): a typo must not create
// a job nobody watches. A switch that watches nothing fails its check. The
// ping URL is a credential (anyone holding it can ping the check), so
// SecretURL redacts it under every fmt verb, in JSON and in slog, it is never
// stored, and forwarding failures are logged without it. A hanging or
// panicking endpoint cannot delay, fail or crash the job that signalled:
// pings run in the background with a timeout, a bounded number of retries
// and a bounded number in flight.
//
// What it does not stop: an attacker with write access to the database
// rewriting heartbeat timestamps, or a job that reports success without
// doing its work.
//
// # Options
//
// New takes Options (WithClock, WithHTTPClient, WithForwarding,
// WithLogger), each checked by New: an out-of-range value returns an error
// wrapping ErrInvalidConfig.
package monitor
