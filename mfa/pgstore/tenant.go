package pgstore

import (
	"context"

	"github.com/rampart-sdk/rampart/internal/pgtenant"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

// protection: every mfa table is organisation-scoped, and every operation
// names its organisation, so mfa needs no directory function: nothing is
// looked up before the organisation is known.
var protection = pgtenant.Spec{
	Tables: []tenantpg.Table{
		{Name: "mfa_enrollments", Column: "org"},
		{Name: "mfa_recovery_codes", Column: "org"},
		{Name: "mfa_org_policies", Column: "org"},
	},
}

// ProtectedTables returns the tables Protect puts under row-level security;
// rampart doctor checks them once any of them is protected.
func ProtectedTables() []string { return protection.Names() }

// ProtectSQL returns the statements Protect runs, for hosts that apply
// migrations with goose or golang-migrate (in a goose file, between
// "-- +goose StatementBegin" and "-- +goose StatementEnd": they hold
// dollar-quoted bodies). Apply it after Migrations, as
// the tables' owner. appRole is unused by mfa (it has no directory
// functions) but named for symmetry with the other stores; it must not be
// empty.
func ProtectSQL(schema, appRole string) (string, error) {
	return protection.SQL(schema, appRole)
}

// Protect puts mfa's tables (enrolments, recovery codes, organisation
// policies) in the pool's current schema under row-level security, keyed on
// the rampart.org setting as tenant/pgstore.Protect does. Run it after
// Migrate, as the tables' owner (the migration role), never as appRole, and
// use stores made with WithTenantBinding. It is idempotent.
func Protect(ctx context.Context, db tenantpg.Beginner, appRole string) error {
	return wrap("protect", protection.Apply(ctx, db, appRole))
}
