package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"

	"github.com/rampart-sdk/rampart/auditlog"
	auditpg "github.com/rampart-sdk/rampart/auditlog/pgstore"
	authnpg "github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/keyring"
	mfapg "github.com/rampart-sdk/rampart/mfa/pgstore"
	privacypg "github.com/rampart-sdk/rampart/privacy/pgstore"
)

func doctorGroup() group {
	return group{
		name:    "doctor",
		summary: "check a deployment's security posture",
		run:     doctorRun,
	}
}

// A doctorCheck is one line of the doctor's report. A skipped check could
// not run with the flags given; it is shown, never counted as a pass.
type doctorCheck struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Skipped bool   `json:"skipped,omitempty"`
	Detail  string `json:"detail,omitempty"`
	// Fix is what restores a failed check: an SQL statement, or a command.
	Fix string `json:"fix,omitempty"`
	// Repairable fixes are applied by rampart migrate up --repair.
	Repairable bool `json:"repairable,omitempty"`
}

// doctorOptions are the facts the checks work from.
type doctorOptions struct {
	dsn         string
	keysFile    string
	kekEnv      string
	appRole     string
	checkpoints string
	publicKey   string
	private     bool
	// tenantColumn, when set, is the column whose tables must be under
	// tenant/pgstore's row-level security policy.
	tenantColumn string
	// outboxMaxAge is how long the oldest audit outbox row may wait for
	// the relay before the check fails.
	outboxMaxAge time.Duration
}

func doctorRun(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "doctor", "doctor --dsn URL [--app-role ROLE] [--keys FILE [--kek-env VAR]] [--checkpoints FILE --public-key KEY] [--tenant-column COL] [--outbox-max-age D] [--private=false] [--json]")
	var o doctorOptions
	fs.StringVar(&o.dsn, "dsn", e.getenv("DATABASE_URL"), "PostgreSQL connection URL (default $DATABASE_URL)")
	fs.StringVar(&o.appRole, "app-role", "", "role the application connects as (default: the role of --dsn)")
	fs.StringVar(&o.keysFile, "keys", "", "key registry file: check its permissions and that no retired or undeclared key is in use")
	fs.StringVar(&o.kekEnv, "kek-env", "", "environment variable holding the registry's key-encryption key, if its keys are wrapped")
	fs.StringVar(&o.checkpoints, "checkpoints", "", "signed audit checkpoints saved outside the database")
	fs.StringVar(&o.publicKey, "public-key", "", "checkpoint verifier key, inline or a file holding it")
	fs.BoolVar(&o.private, "private", true, "the database must not listen on all addresses")
	fs.StringVar(&o.tenantColumn, "tenant-column", "", "organisation column: every table that has it must be under row-level security (tenant/pgstore)")
	fs.DurationVar(&o.outboxMaxAge, "outbox-max-age", time.Minute, "longest an audit outbox entry may wait for the relay")
	asJSON := fs.Bool("json", false, "print the checks as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	checks, err := runDoctor(ctx, e, o)
	if err != nil {
		return err
	}
	failed, repairable := 0, 0
	for _, c := range checks {
		if !c.OK && !c.Skipped {
			failed++
			if c.Repairable {
				repairable++
			}
		}
	}
	if *asJSON {
		if err := writeJSON(e.stdout, map[string]any{"ok": failed == 0, "checks": checks}); err != nil {
			return operational(err)
		}
	} else {
		for _, c := range checks {
			status := "pass"
			switch {
			case c.Skipped:
				status = "skip"
			case !c.OK:
				status = "FAIL"
			}
			fmt.Fprintf(e.stdout, "%s  %s", status, c.Name)
			if c.Detail != "" {
				fmt.Fprintf(e.stdout, ": %s", c.Detail)
			}
			fmt.Fprintln(e.stdout)
			if !c.OK && !c.Skipped && c.Fix != "" {
				fmt.Fprintf(e.stdout, "      fix: %s\n", c.Fix)
			}
		}
		if repairable > 0 {
			fmt.Fprintf(e.stdout, "\n%d of the fixes above are applied by: rampart migrate up --repair --app-role %s\n", repairable, appRoleOrPlaceholder(o.appRole))
		}
	}
	if failed > 0 {
		return findings("%d of %d checks failed", failed, len(checks))
	}
	return nil
}

// runDoctor runs every check; an error means the checks could not run at all.
func runDoctor(ctx context.Context, e *env, o doctorOptions) ([]doctorCheck, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	verifiers, err := verifierArg(o.publicKey)
	if err != nil {
		return nil, err
	}
	cps, err := loadCheckpoints(o.checkpoints, verifiers)
	if err != nil {
		return nil, err
	}
	pool, err := connect(ctx, o.dsn)
	if err != nil {
		return nil, err
	}
	defer pool.Close()

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, operational(err)
	}
	tlsCheck := checkTLS(conn.Conn().Config().Host, conn.Conn())
	conn.Release()

	checks := []doctorCheck{tlsCheck, checkListen(ctx, pool, o.private)}
	checks = append(checks, checkAudit(ctx, pool, o.appRole, cps, o.checkpoints != "")...)
	checks = append(checks, checkOutbox(ctx, pool, o.outboxMaxAge))
	if o.keysFile != "" {
		checks = append(checks, checkKeyFileMode(o.keysFile), checkKeysInUse(ctx, e, pool, o))
	} else {
		checks = append(checks, doctorCheck{Name: "key registry", Skipped: true, Detail: "pass --keys to check the registry file and the keys in use"})
	}
	tenant, err := checkTenant(ctx, pool, o.tenantColumn, o.appRole)
	if err != nil {
		return nil, err
	}
	return append(checks, tenant...), nil
}

// checkTenant reports tenant/pgstore's row-level security posture: every
// table with the tenant column protected, and an application role that
// cannot bypass it.
func checkTenant(ctx context.Context, pool *pgxpool.Pool, column, appRole string) ([]doctorCheck, error) {
	own, err := checkOwnTenantTables(ctx, pool, appRole)
	if err != nil {
		return nil, err
	}
	if column == "" {
		return append([]doctorCheck{{Name: "tenant isolation", Skipped: true,
			Detail: "pass --tenant-column to check row-level security on every table that has it"}}, own...), nil
	}
	fs, err := tenantpg.Check(ctx, pool, column, appRole)
	if err != nil {
		return nil, operational(err)
	}
	checks := make([]doctorCheck, 0, len(fs)+len(own))
	found := false
	for _, f := range fs {
		if f.Table != "" && isRampartTable(f.Table) {
			continue // checked by checkOwnTenantTables, against rampart's own policy
		}
		name := "tenant: " + f.Check
		if f.Table != "" {
			name = "tenant: " + f.Table + ": " + f.Check
			found = true
		}
		checks = append(checks, doctorCheck{Name: name, OK: f.OK, Fix: f.Fix})
	}
	if !found {
		checks = append(checks, doctorCheck{Name: "tenant: tables with column " + column, OK: false,
			Detail: "no table in the connection's schemas has it; check the column name and the search_path"})
	}
	return append(checks, own...), nil
}

// rampartTablePrefixes name the tables rampart's migrations create.
var rampartTablePrefixes = []string{"authn_", "mfa_", "privacy_", "auditlog_", "keyring_", "compliance_", "rampart_"}

// isRampartTable reports whether a schema-qualified table is one of
// rampart's own: --tenant-column checks the host's tables, and rampart's
// are checked by component (checkOwnTenantTables), since their row-level
// security is an option and some are deliberately left out of it (magic
// links, the login throttle, the audit log).
func isRampartTable(qualified string) bool {
	name := qualified[strings.LastIndexByte(qualified, '.')+1:]
	for _, p := range rampartTablePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// ownTenantTables are the organisation-scoped tables of each component
// whose Protect puts them under row-level security.
var ownTenantTables = []struct {
	component string
	tables    []string
}{
	{"authn", authnpg.ProtectedTables()},
	{"mfa", mfapg.ProtectedTables()},
	{"privacy", privacypg.ProtectedTables()},
	{"auditlog", auditpg.ProtectedTables()},
}

// checkOwnTenantTables checks rampart's own organisation-scoped tables,
// component by component, once the host has turned their protection on (any
// of the component's tables has row-level security enabled): then every one
// of them must pass tenant/pgstore.Check. A component none of whose tables
// is protected is not reported: the protection is an option.
func checkOwnTenantTables(ctx context.Context, pool *pgxpool.Pool, appRole string) ([]doctorCheck, error) {
	var all []string
	for _, c := range ownTenantTables {
		all = append(all, c.tables...)
	}
	var any bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ANY (current_schemas(false)) AND c.relname = ANY ($1) AND c.relrowsecurity)`, all).Scan(&any); err != nil {
		return nil, operational(err)
	}
	if !any {
		return nil, nil // the option is off everywhere: nothing to report
	}
	fs, err := tenantpg.Check(ctx, pool, "org", appRole)
	if err != nil {
		return nil, operational(err)
	}
	byTable := map[string][]tenantpg.Finding{}
	enabled := map[string]bool{}
	for _, f := range fs {
		if f.Table == "" {
			continue
		}
		name := f.Table[strings.LastIndexByte(f.Table, '.')+1:]
		byTable[name] = append(byTable[name], f)
		if f.Check == "row-level security is enabled" && f.OK {
			enabled[name] = true
		}
	}
	var out []doctorCheck
	for _, c := range ownTenantTables {
		on := false
		for _, t := range c.tables {
			on = on || enabled[t]
		}
		if !on {
			continue
		}
		for _, t := range c.tables {
			found := byTable[t]
			if len(found) == 0 {
				out = append(out, doctorCheck{Name: "tenant: rampart " + c.component + ": " + t, Detail: "table not found in the connection's schemas",
					Fix: "rampart migrate up --only " + c.component})
			}
			for _, f := range found {
				out = append(out, doctorCheck{Name: "tenant: rampart " + c.component + ": " + f.Table + ": " + f.Check, OK: f.OK, Fix: f.Fix})
			}
		}
	}
	return out, nil
}

// checkAudit reports the audit log's database defences: triggers present and
// ENABLE ALWAYS, the application role limited to INSERT and SELECT, and the
// chains matching the checkpoints saved outside the database.
func checkAudit(ctx context.Context, pool *pgxpool.Pool, appRole string, cps []auditlog.Checkpoint, haveCheckpoints bool) []doctorCheck {
	var present bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('auditlog_entries') IS NOT NULL`).Scan(&present); err != nil || !present {
		return []doctorCheck{{Name: "audit log schema", Detail: "auditlog tables not found", Fix: "rampart migrate up --only auditlog"}}
	}
	if appRole == "" {
		if err := pool.QueryRow(ctx, `SELECT current_user`).Scan(&appRole); err != nil {
			return []doctorCheck{{Name: "audit log posture", Detail: "cannot read current_user: " + err.Error()}}
		}
	}
	var out []doctorCheck
	rep, err := auditpg.Posture(ctx, pool, appRole)
	if err != nil {
		out = append(out, doctorCheck{Name: "audit log posture", Detail: err.Error()})
	}
	for _, c := range rep.Checks {
		out = append(out, doctorCheck{Name: "audit: " + c.Name, OK: c.OK, Detail: c.Detail, Fix: c.Fix, Repairable: c.Repairable})
	}
	if !haveCheckpoints {
		return append(out, doctorCheck{Name: "audit checkpoints", Skipped: true,
			Detail: "pass --checkpoints and --public-key: without checkpoints kept outside the database, a superuser can rewrite the chain unseen"})
	}
	store := auditpg.New(pool)
	chains := map[string]bool{}
	for _, cp := range cps {
		chains[cp.Chain] = true
	}
	names := make([]string, 0, len(chains))
	for c := range chains {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, chain := range names {
		c := doctorCheck{Name: "audit checkpoints match chain " + chain}
		res, err := auditlog.Verify(ctx, store, chain, auditlog.VerifyOptions{Checkpoints: cps})
		if err != nil {
			c.Detail = err.Error()
		} else {
			c.OK = true
			c.Detail = fmt.Sprintf("%d entries, %d checkpoints matched", res.Size, res.Checkpoints)
		}
		out = append(out, c)
	}
	if len(names) == 0 {
		out = append(out, doctorCheck{Name: "audit checkpoints", Detail: "the checkpoints file holds no checkpoint"})
	}
	return out
}

// checkOutbox reports whether the audit outbox is being drained: its
// oldest waiting entry (recorded by a host transaction through
// auditlog/pgstore's RecordTx) has waited at most maxAge. A row that waits
// longer means no relay runs (auditlog.Log.RunOutbox), or it fails.
func checkOutbox(ctx context.Context, pool *pgxpool.Pool, maxAge time.Duration) doctorCheck {
	c := doctorCheck{Name: fmt.Sprintf("audit outbox: no entry waits longer than %s", maxAge)}
	var present bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('auditlog_outbox') IS NOT NULL`).Scan(&present); err != nil {
		c.Detail = err.Error()
		return c
	}
	if !present {
		c.Detail = "the outbox table is missing"
		c.Fix = "rampart migrate up --only auditlog"
		return c
	}
	res := compliance.OutboxCheck(auditpg.New(pool), maxAge)(ctx)
	c.OK, c.Detail = res.Pass, res.Details
	if !c.OK {
		c.Fix = "run the relay (auditlog.Log.RunOutbox over auditlog/pgstore's Store, as a role granted by WithRelayRole) and check its log"
	}
	return c
}

// checkKeysInUse runs the keyring guardrail over the stored data: no
// ciphertext under a retired or undeclared key, no shared key material, and
// a sample of the values under each key ID opens with the registry's key of
// that ID (a key replaced under the same ID fails here).
func checkKeysInUse(ctx context.Context, e *env, pool *pgxpool.Pool, o doctorOptions) doctorCheck {
	c := doctorCheck{Name: "keys in use are declared and not retired"}
	_, d, err := loadRegistry(ctx, e, o.keysFile, o.kekEnv)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	counter, err := keysCounter(pool, d)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	rep, err := keyring.Check(ctx, d, keyring.CheckOptions{Counter: counter})
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	c.OK = rep.OK
	if rep.OK {
		opened, skipped := 0, 0
		for _, s := range rep.Sampled {
			opened += s.Opened
			if s.Skipped != "" {
				skipped++
			}
		}
		c.Detail = fmt.Sprintf("%d declared columns; %d sampled values open with the registry's keys", len(d.Columns), opened)
		if skipped > 0 {
			c.Detail += fmt.Sprintf(" (%d column/key pairs not sampled: no single-column primary key)", skipped)
		}
		return c
	}
	msgs := make([]string, 0, len(rep.Findings))
	for _, f := range rep.Findings {
		msgs = append(msgs, string(f.Kind)+": "+f.Message)
	}
	c.Detail = strings.Join(msgs, "; ")
	return c
}

// checkTLS fails a connection to a non-local host that is not encrypted:
// credentials and PII would cross the network in the clear.
func checkTLS(host string, conn *pgx.Conn) doctorCheck {
	c := doctorCheck{Name: "connections to a non-local server use TLS"}
	if isLocalHost(host) {
		c.OK, c.Detail = true, "local connection ("+host+")"
		return c
	}
	if _, encrypted := conn.PgConn().Conn().(*tls.Conn); encrypted {
		c.OK, c.Detail = true, "connection is encrypted"
		return c
	}
	c.Detail = "connection to " + host + " is not encrypted"
	c.Fix = "add sslmode=verify-full to the connection URL (and enable ssl on the server)"
	return c
}

func isLocalHost(host string) bool {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkListen fails a server that listens on every address when the host
// says the database should be private.
func checkListen(ctx context.Context, conn *pgxpool.Pool, private bool) doctorCheck {
	c := doctorCheck{Name: "listen_addresses is not a wildcard"}
	if !private {
		c.Name = "listen_addresses may be a wildcard (--private=false)"
	}
	var v string
	if err := conn.QueryRow(ctx, `SELECT current_setting('listen_addresses')`).Scan(&v); err != nil {
		c.Detail = "cannot read: " + err.Error()
		return c
	}
	c.Detail = v
	c.OK = !private || !listensOnAll(v)
	if !c.OK {
		c.Detail = v + ": listens on all addresses but --private is set"
		c.Fix = "ALTER SYSTEM SET listen_addresses = 'localhost'; -- then restart PostgreSQL (or list the private addresses it must listen on)"
	}
	return c
}

// checkKeyFileMode fails a key registry readable by group or others.
func checkKeyFileMode(path string) doctorCheck {
	c := doctorCheck{Name: "key registry file permissions are 0600 or stricter"}
	fi, err := os.Stat(path)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	mode := fi.Mode().Perm()
	c.OK = mode&0o077 == 0
	c.Detail = fmt.Sprintf("%s is %04o", path, mode)
	if !c.OK {
		c.Detail += "; want 0600 or stricter"
		c.Fix = "chmod 600 " + path
	}
	return c
}

// listensOnAll reports whether a listen_addresses value includes a wildcard.
func listensOnAll(v string) bool {
	for _, a := range strings.Split(v, ",") {
		switch strings.TrimSpace(a) {
		case "*", "0.0.0.0", "::":
			return true
		}
	}
	return false
}

// appRoleOrPlaceholder names the role a repair applies to in a hint.
func appRoleOrPlaceholder(role string) string {
	if role == "" {
		return "ROLE"
	}
	return role
}
