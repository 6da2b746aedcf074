// Command saasapp is a small multi-tenant SaaS backend wired with every
// rampart package the way a production host would wire them:
//
//   - rbac: the six-role example policy (64 permissions); every route
//     declares its permission, tenants are the {org} in the path;
//   - authn: password sign-in, server-side sessions, scoped API keys;
//   - mfa: TOTP enrolment, login challenge, step-up on payouts, the tax
//     export and account deletion;
//   - keyring: twelve disjoint key scopes sealing the PII columns;
//   - auditlog: an entry for every change, in the organisation's chain; on
//     PostgreSQL payouts and role changes commit with their entry in one
//     transaction (the outbox), and payouts take an Idempotency-Key;
//   - privacy: deletion with a cooldown, erasure, export, consent-gated
//     analytics;
//   - compliance: a dead-man switch around the scheduled jobs, and a GDPR
//     report that re-proves each control;
//   - tenant: on PostgreSQL the app's organisation-scoped tables are under
//     row-level security, and their queries run bound to the organisation
//     rbac authorised (no WHERE org in them).
//
// It runs on in-memory stores with no setup:
//
//	go run ./examples/saasapp
//
// and on PostgreSQL when DATABASE_URL is set (every package's migrations are
// applied at start, as that URL's role). DATABASE_APP_URL, if set, is the
// application role requests are served as: no superuser, no BYPASSRLS,
// owner of no table. The app's own tables and rampart's organisation-scoped
// ones are then under row-level security for it. See README.md for a
// walk-through with curl.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var cfg config
	var writeKeysTo string
	flag.StringVar(&cfg.Addr, "addr", envOr("ADDR", "127.0.0.1:8080"), "listen address (env ADDR)")
	flag.StringVar(&cfg.KeysFile, "keys", os.Getenv("SAASAPP_KEYS"), "key registry file; empty generates ephemeral keys, refused with DATABASE_URL unless -dev-keys (env SAASAPP_KEYS)")
	flag.BoolVar(&cfg.DevKeys, "dev-keys", false, "allow ephemeral keys with DATABASE_URL, on a scratch database: data sealed under them is unreadable after a restart")
	flag.StringVar(&writeKeysTo, "write-keys", "", "write a fresh key registry for this app to `FILE` (mode 0600) and exit")
	flag.StringVar(&cfg.CheckpointFile, "checkpoints", os.Getenv("SAASAPP_CHECKPOINTS"), "append signed audit checkpoints to `FILE`, kept outside the database (env SAASAPP_CHECKPOINTS)")
	flag.StringVar(&cfg.AuditSigningKey, "audit-signing-key", os.Getenv("SAASAPP_AUDIT_SIGNING_KEY"), "`FILE` holding the checkpoint signing key, from \"rampart audit keygen\" (env SAASAPP_AUDIT_SIGNING_KEY)")
	flag.DurationVar(&cfg.Cooldown, "cooldown", 30*24*time.Hour, "how long a deleted account stays restorable before erasure (at most 90 days)")
	flag.DurationVar(&cfg.JobEvery, "jobs-every", 10*time.Minute, "how often the scheduled jobs run")
	flag.DurationVar(&cfg.IdempotencyRetention, "idempotency-retention", defaultIdempotencyRetention, "how long an Idempotency-Key answers retries before the jobs prune it (1h to 720h)")
	flag.Parse()
	cfg.DatabaseURL = os.Getenv("DATABASE_URL")
	cfg.AppDatabaseURL = os.Getenv("DATABASE_APP_URL")

	if writeKeysTo != "" {
		if err := writeKeys(writeKeysTo); err != nil {
			fmt.Fprintln(os.Stderr, "saasapp:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "saasapp: wrote", writeKeysTo)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "saasapp:", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
