// Package pgtenant builds what each rampart pgstore needs to put its own
// organisation-scoped tables under tenant/pgstore's row-level security: the
// policies (with the owner kept, see tenant/pgstore.Table.KeepOwner) and
// the SECURITY DEFINER directory functions that answer, for an exact key,
// the lookups made before an organisation is known (Spec), and the one way
// their stores bind an operation to its organisation under the
// WithTenantBinding option (InOrg, Exec, Bound, NeedOrg).
package pgtenant

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rampart-sdk/rampart/internal/pgmigrate"
	"github.com/rampart-sdk/rampart/internal/pgq"
	"github.com/rampart-sdk/rampart/tenant"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

// Spec is one package's protection.
type Spec struct {
	// Tables are the organisation-scoped tables; each is protected with
	// KeepOwner.
	Tables []tenantpg.Table
	// Functions creates the directory functions; every "{schema}" is the
	// quoted schema, which each function must pin with SET search_path.
	Functions string
	// Signatures name the functions ("authn_dir_sessions(bytea[])") for
	// REVOKE ... FROM PUBLIC and GRANT EXECUTE to the application role.
	Signatures []string
}

// Names returns the names of spec's tables.
func (spec Spec) Names() []string {
	out := make([]string, len(spec.Tables))
	for i, t := range spec.Tables {
		out[i] = t.Name
	}
	return out
}

// ErrNoAppRole: the application role to grant the directory functions to
// was not named.
var ErrNoAppRole = errors.New("empty application role")

// SQL returns the statements that protect spec's tables in schema and let
// appRole, and no one else, call its directory functions.
func (spec Spec) SQL(schema, appRole string) (string, error) {
	if schema == "" {
		return "", fmt.Errorf("%w: empty schema", tenantpg.ErrBadIdentifier)
	}
	if appRole == "" {
		return "", ErrNoAppRole
	}
	qs, role := pgx.Identifier{schema}.Sanitize(), pgx.Identifier{appRole}.Sanitize()
	var b strings.Builder
	for _, t := range spec.Tables {
		t.Name, t.KeepOwner = schema+"."+t.Name, true
		sql, err := tenantpg.ProtectSQL(t)
		if err != nil {
			return "", err
		}
		b.WriteString(sql)
	}
	b.WriteString(strings.ReplaceAll(spec.Functions, "{schema}", qs))
	for _, sig := range spec.Signatures {
		fmt.Fprintf(&b, "REVOKE ALL ON FUNCTION %s.%s FROM PUBLIC;\nGRANT EXECUTE ON FUNCTION %s.%s TO %s;\n", qs, sig, qs, sig, role)
	}
	return b.String(), nil
}

// ErrNoSuchRole: the application role named to Apply does not exist.
var ErrNoSuchRole = errors.New("application role does not exist")

// Apply runs spec.SQL for the connection's current schema in one
// transaction, under the migration lock (pgmigrate.Lock). It must run as the tables' owner (or a superuser). An
// application role that does not exist is refused before anything changes,
// whether or not spec grants it anything: it is most likely a typo.
func (spec Spec) Apply(ctx context.Context, db tenantpg.Beginner, appRole string) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// Under the migration lock: instances protecting at the same moment
		// would otherwise race on the same catalog rows (the functions and
		// their grants) and fail with "tuple concurrently updated".
		if err := pgmigrate.Lock(ctx, tx); err != nil {
			return err
		}
		var schema string
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT current_schema(), EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, appRole).
			Scan(&schema, &exists); err != nil {
			return err
		}
		if appRole != "" && !exists {
			return fmt.Errorf("%w: %q", ErrNoSuchRole, appRole)
		}
		sql, err := spec.SQL(schema, appRole)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, sql)
		return err
	})
}

// InOrg runs fn on q, bound to org when on is true (a store's tenant
// binding): tenant/pgstore.RunFor, so the context's organisation wins over
// org and a caller's bound transaction keeps its binding. The empty
// organisation binds nothing: its reads run unbound and, as row security
// fails closed, find nothing; its writes are refused by the policy's WITH
// CHECK (or earlier, by the store, with NeedOrg).
func InOrg(ctx context.Context, on bool, q pgq.Querier, org string, fn func(q pgq.Querier) error) error {
	if !on {
		return fn(q)
	}
	if _, ok := tenant.From(ctx); !ok && org == "" {
		return fn(q)
	}
	return tenantpg.RunFor(ctx, q, org, func(_ context.Context, tx pgx.Tx) error { return fn(tx) })
}

// Exec runs one statement with InOrg.
func Exec(ctx context.Context, on bool, q pgq.Querier, org, sql string, args ...any) (tag pgconn.CommandTag, err error) {
	err = InOrg(ctx, on, q, org, func(q pgq.Querier) error {
		tag, err = q.Exec(ctx, sql, args...)
		return err
	})
	return tag, err
}

// ErrNoOrg: a row without an organisation cannot be written under tenant
// binding, since no bound transaction could ever read it back. It matches
// tenant.ErrInvalidOrg (an empty organisation ID), the one sentinel a host
// can match for it whichever store refused; stores wrap it with their own
// invalid-argument error where they have one.
var ErrNoOrg = fmt.Errorf("%w: an organisation is required under tenant binding", tenant.ErrInvalidOrg)

// NeedOrg returns ErrNoOrg for a write of the empty organisation when on.
func NeedOrg(on bool, org string) error {
	if on && org == "" {
		return ErrNoOrg
	}
	return nil
}

// Bound runs op with a querier bound to org (InOrg) when on, and reports
// whether it did, so a store method can start with
//
//	if pgtenant.Bound(ctx, s.tenant, s.q, org, &err, func(q pgq.Querier) { v, err = s.with(q).Method(...) }) {
//		return v, err
//	}
//
// and run its unbound body otherwise. *err is op's error, or the binding's
// (begin, commit) when op succeeded.
func Bound(ctx context.Context, on bool, q pgq.Querier, org string, err *error, op func(q pgq.Querier)) bool {
	if !on {
		return false
	}
	if e := InOrg(ctx, true, q, org, func(q pgq.Querier) error {
		op(q)
		return *err
	}); e != nil {
		*err = e
	}
	return true
}
