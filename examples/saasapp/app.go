package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/auditlog"
	auditpg "github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/authn"
	authnpg "github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/compliance/monitor"
	compliancepg "github.com/rampart-sdk/rampart/compliance/pgstore"
	"github.com/rampart-sdk/rampart/keyring"
	keyringpg "github.com/rampart-sdk/rampart/keyring/pgstore"
	"github.com/rampart-sdk/rampart/mfa"
	mfapg "github.com/rampart-sdk/rampart/mfa/pgstore"
	"github.com/rampart-sdk/rampart/privacy"
	privacypg "github.com/rampart-sdk/rampart/privacy/pgstore"
	"github.com/rampart-sdk/rampart/rbac"
	"github.com/rampart-sdk/rampart/rbac/examplepolicy"
)

// config is everything the app reads from its environment. Tests build it
// directly, with a clock they control.
type config struct {
	// Addr is where run listens, e.g. "127.0.0.1:8080".
	Addr string
	// DatabaseURL selects PostgreSQL; "" keeps everything in memory. Its
	// role runs the migrations (it owns the tables) and rampart's own stores.
	DatabaseURL string
	// AppDatabaseURL, if set, is the application role the app's own
	// organisation-scoped tables, and rampart's (sessions, API keys, MFA,
	// privacy), are served as (DATABASE_APP_URL): a role that owns none of
	// them, is no superuser and cannot bypass row-level security, so the
	// database filters every query to the request's organisation. The
	// migrations grant it what it needs and protect rampart's tables for it
	// (postgresStores). "" serves the app's tables on DatabaseURL's pool,
	// where the policies bind only if its role is no superuser (FORCE ROW
	// LEVEL SECURITY binds a plain owner too), and leaves rampart's as they
	// are (their policies admit the owner).
	AppDatabaseURL string
	// KeysFile is the key registry document; "" generates ephemeral keys,
	// which newApp refuses on PostgreSQL unless DevKeys is set.
	KeysFile string
	// DevKeys allows ephemeral keys on PostgreSQL (a scratch database):
	// data sealed under them is unreadable after a restart, and their IDs
	// (1-12) collide with those of any real registry.
	DevKeys bool
	// CheckpointFile, if set, receives signed checkpoints of every audit
	// chain; AuditSigningKey is the file of the note signing key.
	CheckpointFile, AuditSigningKey string
	// Now is the clock of every package; nil means time.Now.
	Now func() time.Time
	// Cooldown is how long a deleted account stays restorable (default 30 days,
	// at most 90: privacy.WithCooldown refuses more).
	Cooldown time.Duration
	// JobEvery is how often run starts the scheduled jobs (default 10 minutes).
	JobEvery time.Duration
	// OutboxMaxAge is how long an audit entry may wait in the outbox for
	// the relay before the compliance report fails (default a minute).
	OutboxMaxAge time.Duration
	// IdempotencyRetention is how long an Idempotency-Key is kept after its
	// request (idempotency.go): a retry within it gets the first answer and
	// creates nothing; the idempotency-pruner job deletes older keys. 0
	// means 24 hours; less than an hour or more than 30 days is refused.
	IdempotencyRetention time.Duration
	// Logger receives the app's logs; nil means slog.Default.
	Logger *slog.Logger
	// Warn receives startup warnings (ephemeral keys); nil means stderr.
	Warn io.Writer
}

// app is the wired service: every rampart package and the app's own store.
type app struct {
	cfg  config
	now  func() time.Time
	log  *slog.Logger
	pool *pgxpool.Pool // nil on memory stores
	// appPool serves the app's own tables as the application role; it is
	// pool when no AppDatabaseURL is set.
	appPool *pgxpool.Pool
	// appRole is the application role of appPool ("" when it is pool's).
	appRole string

	store   appStore
	keyDoc  *keyring.Document
	keys    *fields
	counter keyring.KeyIDCounter // reads stored key IDs for the guardrail; nil in memory

	ex     *examplepolicy.Example
	guard  *rbac.Guard
	router *rbac.Router
	// denials records rbac's 403s: the audit outbox on PostgreSQL, the
	// Log in memory (routes.go).
	denials rbac.Recorder

	passwords *authn.Passwords
	login     *authn.PasswordLogin
	sessions  *authn.Sessions
	apiKeys   *authn.APIKeys

	mfa        *mfa.Manager
	requireMFA func(http.Handler) http.Handler // mfa.RequireRecent, for stepUp
	audit      *auditlog.Log
	auditStore auditlog.Store
	relay      *relay             // the audit outbox relay, on PostgreSQL (txn.go)
	verified   verifiedChains     // the audit-verifier job's last verified checkpoints
	privacy    *privacy.Lifecycle // deletion, restore, holds, sweep, export
	// sweeper runs the erasure sweep: a Lifecycle over a store of the
	// owner's pool when rampart's tables are protected (the sweep claims
	// subjects of every organisation), else privacy itself.
	sweeper  *privacy.Lifecycle
	requests *privacy.Requests // data subject requests and their deadlines
	consent  *privacy.Consent  // consent purposes and decisions
	pg       *pgTx             // the stores a host transaction binds (deletion.go); nil in memory
	records  *compliance.ProcessingRecords
	monitor  *monitor.Monitor

	handler http.Handler
}

// stores are the adapters of every package, all in memory or all on
// PostgreSQL.
type stores struct {
	app         appStore
	audit       auditlog.Store
	authn       authn.Store
	mfa         mfa.Store
	privacy     privacy.Store // nil on PostgreSQL: privacyStoreFor builds it
	jobs        monitor.Store // the job monitor's heartbeats
	subjectKeys keyring.SubjectKeyStore
}

func memoryStores() stores {
	return stores{app: newMemStore(), audit: auditlog.NewMemoryStore(), authn: authn.NewMemoryStore(),
		mfa: mfa.NewMemoryStore(), privacy: privacy.NewMemoryStore(), jobs: monitor.NewMemoryStore(),
		subjectKeys: keyring.NewMemoryStore()}
}

// postgresStores applies every package's migrations, then the app's own
// schema, as the owner (pool). Each Migrate is idempotent, so every instance
// runs them at start. The app's own tables are served on appPool, as
// appRole when that is another role.
//
// With an application role, rampart's own organisation-scoped tables are
// protected too (protectOwnTables, after the migrations): the authn, mfa and
// privacy stores then run on appPool with WithTenantBinding, so the database
// filters their rows to the organisation each operation is bound to. The
// audit log's writer and relay, the privacy sweeper and the overdue-request
// report span organisations and stay on pool, the owner's, which Protect's
// rampart_owner policy admits to every row. Without an application role the
// one role owns every table, and an owner is admitted to every row of
// rampart's: protecting them would bind nothing, so they are left as they
// are (the tenant-isolation evidence fails then, on ownership).
//
// The privacy store is left nil: it records its audit entries through the
// audit log's outbox, which does not exist yet, so privacyStoreFor
// (deletion.go) builds it, once, after wireAudit.
func postgresStores(ctx context.Context, pool, appPool *pgxpool.Pool, appRole string) (stores, error) {
	migrations := []struct {
		name    string
		migrate func(context.Context, *pgxpool.Pool) error
	}{
		{"auditlog", func(ctx context.Context, p *pgxpool.Pool) error {
			if appRole == "" {
				return auditpg.Migrate(ctx, p)
			}
			// The application role records through the outbox in its own
			// transactions (txn.go) and can do nothing else to the log.
			return auditpg.Migrate(ctx, p, auditpg.WithRecordRole(appRole))
		}},
		{"authn", authnpg.Migrate},
		{"mfa", mfapg.Migrate},
		{"privacy", privacypg.Migrate},
		{"compliance", compliancepg.Migrate},
		{"keyring", keyringpg.Migrate},
		{"app", func(ctx context.Context, p *pgxpool.Pool) error { return migrateApp(ctx, p, appRole) }},
	}
	for _, m := range migrations {
		if err := m.migrate(ctx, pool); err != nil {
			return stores{}, fmt.Errorf("migrate %s: %w", m.name, err)
		}
	}
	// Without an application role the stores run on the owner's pool,
	// unbound; with one, on appPool, bound to each operation's organisation.
	var authnOpts []authnpg.Option
	var mfaOpts []mfapg.Option
	storesPool := pool
	if appRole != "" {
		if err := protectOwnTables(ctx, pool, appRole); err != nil {
			return stores{}, err
		}
		storesPool = appPool
		authnOpts = []authnpg.Option{authnpg.WithTenantBinding()}
		mfaOpts = []mfapg.Option{mfapg.WithTenantBinding()}
	}
	st := stores{app: &pgStore{db: appPool}, audit: auditpg.New(pool), jobs: compliancepg.New(pool),
		subjectKeys: keyringpg.New(pool)}
	as, err := authnpg.New(storesPool, authnOpts...)
	if err != nil {
		return stores{}, err
	}
	ms, err := mfapg.New(storesPool, mfaOpts...)
	if err != nil {
		return stores{}, err
	}
	st.authn, st.mfa = as, ms
	return st, nil
}

// privacyOptions are the options of a privacy store serving requests as
// the application role: tenant binding, and the owner's pool for the
// operations that span organisations (the overdue-request report).
func privacyOptions(owner *pgxpool.Pool) []privacypg.Option {
	return []privacypg.Option{privacypg.WithTenantBinding(), privacypg.WithMaintenancePool(owner)}
}

// newApp wires everything. It fails at startup, not at the first request,
// on anything misconfigured: an unknown key scope, a route without a
// permission, an unregistered audit action.
func newApp(ctx context.Context, cfg config) (_ *app, err error) {
	a := &app{cfg: cfg, now: cfg.Now, log: cfg.Logger}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if cfg.Warn == nil {
		cfg.Warn = os.Stderr
	}
	if cfg.Cooldown == 0 { // a negative one is refused by privacy.WithCooldown
		cfg.Cooldown = privacy.DefaultCooldown
	}
	if cfg.OutboxMaxAge <= 0 {
		cfg.OutboxMaxAge = time.Minute
	}
	switch {
	case cfg.IdempotencyRetention == 0:
		cfg.IdempotencyRetention = defaultIdempotencyRetention
	case cfg.IdempotencyRetention < minIdempotencyRetention || cfg.IdempotencyRetention > maxIdempotencyRetention:
		return nil, fmt.Errorf("%w: %s, want from %s to %s", errIdempotencyRetention, cfg.IdempotencyRetention,
			minIdempotencyRetention, maxIdempotencyRetention)
	}
	a.cfg = cfg
	if cfg.DatabaseURL != "" && cfg.KeysFile == "" && !cfg.DevKeys {
		return nil, errPersistentWithoutKeys
	}

	st := memoryStores()
	if cfg.DatabaseURL != "" {
		if a.pool, err = pgxpool.New(ctx, cfg.DatabaseURL); err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		defer func() {
			if err != nil {
				a.Close()
			}
		}()
		if err = a.openAppPool(ctx); err != nil {
			return nil, err
		}
		if err = a.checkServingRole(ctx); err != nil {
			return nil, err
		}
		if st, err = postgresStores(ctx, a.pool, a.appPool, a.appRole); err != nil {
			return nil, err
		}
		// API keys that are revoked or expired no longer need their pepper key.
		if a.counter, err = keyringpg.Counter(a.pool, keyringpg.CountWhere(authnpg.APIKeyTable, authnpg.APIKeyHashColumn, authnpg.LiveAPIKeys)); err != nil {
			return nil, err
		}
	}
	a.store = st.app

	if a.keyDoc, err = loadKeys(ctx, cfg.KeysFile, cfg.Warn); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if a.pool != nil {
		// The database remembers each key ID's check value: a registry
		// holding another key under a known ID (which would open none of the
		// data sealed under it) is refused before anything is sealed.
		if err = keyringpg.New(a.pool).RecordKeyCheckValues(ctx, a.keyDoc); err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
	}
	if a.keys, err = newFields(a.keyDoc, st.subjectKeys); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if err = a.wireAudit(st.audit); err != nil {
		return nil, err
	}
	a.startRelay()
	if err = a.wireAuth(st.authn, st.mfa); err != nil {
		return nil, err
	}
	if err = a.wireJobs(ctx, st.jobs); err != nil {
		return nil, err
	}
	privacyStore, err := a.privacyStoreFor(st)
	if err != nil {
		return nil, err
	}
	if err = a.wirePrivacy(privacyStore); err != nil {
		return nil, err
	}
	if a.handler, err = a.routes(); err != nil {
		return nil, err
	}
	return a, nil
}

// openAppPool connects the application role of cfg.AppDatabaseURL, or
// shares the owner's pool when there is none.
func (a *app) openAppPool(ctx context.Context) error {
	a.appPool = a.pool
	if a.cfg.AppDatabaseURL == "" {
		return nil
	}
	p, err := pgxpool.New(ctx, a.cfg.AppDatabaseURL)
	if err != nil {
		return fmt.Errorf("application database: %w", err)
	}
	var role, owner string
	if err := p.QueryRow(ctx, `SELECT current_user`).Scan(&role); err != nil {
		p.Close()
		return fmt.Errorf("application database: %w", err)
	}
	if err := a.pool.QueryRow(ctx, `SELECT current_user`).Scan(&owner); err != nil {
		p.Close()
		return fmt.Errorf("database: %w", err)
	}
	a.appPool = p
	if role != owner {
		a.appRole = role
	}
	return nil
}

// errServesBypassingRLS: the app's tables would be served by a role that row-
// level security does not bind, and their queries name no organisation.
var errServesBypassingRLS = errors.New("saasapp: the role serving the app's tables bypasses row-level security (a superuser or BYPASSRLS): set DATABASE_APP_URL to an application role that is neither")

// checkServingRole refuses to serve the app's tables as a role that row-
// level security does not bind: their queries carry no WHERE org, so such a
// role would see every organisation's rows. Fail closed at startup.
func (a *app) checkServingRole(ctx context.Context) error {
	var bypass bool
	if err := a.appPool.QueryRow(ctx, `SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&bypass); err != nil {
		return fmt.Errorf("application database: %w", err)
	}
	if bypass {
		return errServesBypassingRLS
	}
	return nil
}

// ServeHTTP makes the app an http.Handler (tests mount it on httptest).
func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// Close stops the audit outbox relay, then releases the database pools.
func (a *app) Close() {
	a.stopRelay()
	if a.appPool != nil && a.appPool != a.pool {
		a.appPool.Close()
	}
	if a.pool != nil {
		a.pool.Close()
	}
}

// run serves until ctx ends, running the scheduled jobs in the background.
func run(ctx context.Context, cfg config) error {
	a, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()

	// On return: stop the jobs, wait for them, then close the pool.
	var jobs sync.WaitGroup
	defer jobs.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	every := cfg.JobEvery
	if every <= 0 {
		every = 10 * time.Minute
	}
	jobs.Go(func() { a.schedule(ctx, every) })

	srv := &http.Server{Addr: cfg.Addr, Handler: a, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	a.log.Info("saasapp listening", "addr", cfg.Addr, "postgres", cfg.DatabaseURL != "")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
