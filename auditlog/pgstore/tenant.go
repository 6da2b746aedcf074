package pgstore

import (
	"context"
	"fmt"

	"github.com/rampart-sdk/rampart/internal/pgtenant"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

// protection covers the entries, which hold the Merkle tree's hashes too
// (the tree column), so one policy covers entries and tree rows. Not
// protected: auditlog_outbox (the application role may only INSERT into it,
// never read it), auditlog_heads (chain names, no organisation column),
// auditlog_holds, _retention and _maintenance (maintenance state, not any
// organisation's rows).
var protection = pgtenant.Spec{
	Tables: []tenantpg.Table{{Name: "auditlog_entries", Column: "org"}},
}

// ProtectedTables returns the tables Protect puts under row-level security;
// rampart doctor checks them once any of them is protected.
func ProtectedTables() []string { return protection.Names() }

// ProtectSQL returns the statements Protect runs, for hosts that apply
// migrations with goose or golang-migrate (in a goose file, between
// "-- +goose StatementBegin" and "-- +goose StatementEnd": they hold a
// dollar-quoted body). Apply it after Migrations, as the tables' owner;
// appRole must not be empty.
func ProtectSQL(schema, appRole string) (string, error) {
	return protection.SQL(schema, appRole)
}

// Protect puts the audit entries (and their tree hashes) in the pool's
// current schema under row-level security, keyed on the rampart.org setting
// as tenant/pgstore.Protect does: the application role reads only the
// entries of the organisation its transaction is bound to (tenant/pgstore.Run
// with a TxReader from WithTx), and none unbound. Run it after Migrate, as
// the tables' owner, never as appRole. It is idempotent.
//
// The writer and the outbox relay append to chains of many organisations
// in one transaction and read every chain's frontier, and verification and
// export read whole chains: after Protect they must run on a pool whose
// role reads every row. Use a role of their own, granted by Migrate's
// WithAppRole, with the BYPASSRLS attribute (created by a superuser:
// CREATE ROLE audit_writer LOGIN BYPASSRLS), which still owns nothing and so
// still cannot disable the append-only triggers. The SECURITY DEFINER
// functions (retention, the outbox) run as the owner, whom Protect's
// rampart_owner policy admits to every row.
func Protect(ctx context.Context, db tenantpg.Beginner, appRole string) error {
	if err := protection.Apply(ctx, db, appRole); err != nil {
		return fmt.Errorf("auditlog/pgstore: protect: %w", err)
	}
	return nil
}
