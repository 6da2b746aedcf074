package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/internal/pgq"
	"github.com/rampart-sdk/rampart/internal/pgtenant"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

// protection: every privacy table is organisation-scoped. The operations of
// one organisation name it; the sweep's operations span organisations and
// run on the maintenance pool (WithMaintenancePool), so no directory
// function is needed.
var protection = pgtenant.Spec{
	Tables: []tenantpg.Table{
		{Name: "privacy_subjects", Column: "org"},
		{Name: "privacy_events", Column: "org"},
		{Name: "privacy_progress", Column: "org"},
		{Name: "privacy_holds", Column: "org"},
		{Name: "privacy_requests", Column: "org"},
		{Name: "privacy_consent", Column: "org"},
		{Name: "privacy_audit_pending", Column: "org"},
	},
}

// ProtectedTables returns the tables Protect puts under row-level security;
// rampart doctor checks them once any of them is protected.
func ProtectedTables() []string { return protection.Names() }

// ProtectSQL returns the statements Protect runs, for hosts that apply
// migrations with goose or golang-migrate (in a goose file, between
// "-- +goose StatementBegin" and "-- +goose StatementEnd": they hold
// dollar-quoted bodies). Apply it after Migrations, as
// the tables' owner; appRole must not be empty.
func ProtectSQL(schema, appRole string) (string, error) {
	return protection.SQL(schema, appRole)
}

// Protect puts privacy's tables in the pool's current schema under
// row-level security, keyed on the rampart.org setting as
// tenant/pgstore.Protect does. Run it after Migrate, as the tables' owner
// (the migration role), never as appRole, and use stores made with
// WithTenantBinding. It is idempotent.
func Protect(ctx context.Context, db tenantpg.Beginner, appRole string) error {
	return wrap("protect", protection.Apply(ctx, db, appRole))
}

// WithTenantBinding makes the store run every operation of one
// organisation bound to it, for tables that Protect put under row-level
// security: the context's organisation (tenant.With) when it has one, else
// the operation's, so code bound to organisation A that passes B's subject,
// hold or request finds and changes nothing of B's. On a pool each such
// operation is a transaction of its own; a store bound to a caller's
// transaction keeps the caller's binding when it has one. A record of the
// empty organisation is refused with an error matching privacy.ErrInvalid
// and tenant.ErrInvalidOrg.
//
// The sweep's operations (ClaimDue, DueSubjects, Progress, SetProgress,
// Release, ClaimPendingAudits, MarkAudited) and OpenRequestsDueBefore span
// organisations, so no binding can serve them: under tenant binding they run
// on the pool of WithMaintenancePool, and without one they fail with
// ErrNoMaintenancePool rather than find nothing, and on a store bound to a
// transaction (WithTx, or AuditTx's) with ErrCrossOrgInTx, rather than commit
// apart from it. So with WithAuditOutbox, whose Lifecycle runs each write,
// the sweep's releases included, in AuditTx, run the sweep on a store of
// its own over the maintenance pool, without tenant binding:
// New(maintenancePool, WithAuditOutbox(r)).
func WithTenantBinding() Option { return func(c *config) { c.tenant = true } }

// WithMaintenancePool gives the store, under tenant binding, the pool its
// cross-organisation operations run on (see WithTenantBinding). That pool
// must log in as a role that reads every organisation's rows: the tables'
// owner, whom Protect's rampart_owner policy admits to every row, or a role
// with BYPASSRLS. The application role must not be that role, nor a member
// of it. A store bound to a transaction refuses those operations
// (ErrCrossOrgInTx). A nil pool makes New fail with
// privacy.ErrInvalidConfig.
func WithMaintenancePool(pool *pgxpool.Pool) Option {
	return func(c *config) {
		if pool == nil {
			c.invalid("WithMaintenancePool: nil pool; omit the option to refuse cross-organisation operations")
			return
		}
		c.maint = pool
	}
}

// sweepQuerier is where a cross-organisation operation runs.
func (s *store) sweepQuerier() (pgq.Querier, error) {
	if !s.tenant {
		return s.q, nil
	}
	if _, pool := s.q.(*pgxpool.Pool); !pool {
		return nil, ErrCrossOrgInTx
	}
	if s.maint == nil {
		return nil, ErrNoMaintenancePool
	}
	return s.maint, nil
}

// inOrg runs op on a copy of the store whose querier is bound to org, when
// tenant binding is on (pgtenant.Bound), and reports whether it did. The
// copy keeps s's other options and binds nothing itself.
func (s *store) inOrg(ctx context.Context, org string, err *error, op func(b *store)) bool {
	return pgtenant.Bound(ctx, s.tenant, s.q, org, err, func(q pgq.Querier) {
		b := *s
		b.q, b.tenant = q, false
		op(&b)
	})
}
