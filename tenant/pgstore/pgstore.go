package pgstore

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/rampart-sdk/rampart/internal/pgmigrate"
	"github.com/rampart-sdk/rampart/tenant"
)

// Setting is the PostgreSQL setting that holds the transaction's
// organisation.
const Setting = "rampart.org"

// PolicyName is the name of the row-level security policy Protect creates.
const PolicyName = "rampart_tenant"

// OwnerPolicyName is the policy that Protect adds for a Table with
// KeepOwner: the table's owner alone reads and writes every row.
const OwnerPolicyName = "rampart_owner"

// Beginner starts a transaction: *pgxpool.Pool, *pgx.Conn and pgx.Tx (where
// it is a savepoint) all satisfy it.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Run runs fn in a transaction bound to the organisation of ctx, and commits
// it when fn returns nil (rolls it back otherwise). On a pool or a connection
// BEGIN and the setting go in one round trip, so a tenant transaction costs
// what a plain one does. Given the caller's pgx.Tx
// it runs in a savepoint of it, and the organisation stays set for the rest
// of the caller's transaction; a transaction already bound to another
// organisation is refused with ErrOrgMismatch.
func Run(ctx context.Context, db Beginner, fn func(ctx context.Context, tx pgx.Tx) error) (err error) {
	org, err := tenant.Require(ctx)
	if err != nil {
		return err
	}
	if err := tenant.Validate(org); err != nil {
		return err
	}
	_, joined := db.(pgx.Tx)
	txBeginner, oneTrip := db.(interface {
		BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error)
	})
	var tx pgx.Tx
	if oneTrip && !joined {
		// A pool or a connection: BEGIN and the setting in one round trip
		// (a simple-protocol query of two statements), so binding the
		// organisation costs nothing over a plain transaction.
		tx, err = txBeginner.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN; SELECT set_config('" + Setting + "', " + utf8Literal(org) + ", true)"})
		if err != nil {
			return fmt.Errorf("tenant/pgstore: begin: %w", err)
		}
	} else if tx, err = db.Begin(ctx); err != nil {
		return fmt.Errorf("tenant/pgstore: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if !oneTrip || joined {
		if joined {
			var cur string
			if err := tx.QueryRow(ctx, `SELECT coalesce(current_setting('`+Setting+`', true), '')`).Scan(&cur); err != nil {
				return fmt.Errorf("tenant/pgstore: read setting: %w", err)
			}
			if cur != "" && cur != org {
				return ErrOrgMismatch
			}
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('`+Setting+`', $1, true)`, org); err != nil {
			return fmt.Errorf("tenant/pgstore: set organisation: %w", err)
		}
	}
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("tenant/pgstore: commit: %w", err)
	}
	return nil
}

// utf8Literal writes s into SQL as hex digits decoded by the server: the
// statement holds no character of s, so no quote, backslash or multi-byte
// sequence in an organisation ID can end the literal, whatever the
// connection's client_encoding or standard_conforming_strings.
func utf8Literal(s string) string {
	return "convert_from(decode('" + hex.EncodeToString([]byte(s)) + "', 'hex'), 'UTF8')"
}

// RunFor runs fn for an operation on the rows of organisation org, as
// rampart's own stores do when the host turns tenant binding on. The
// organisation bound is the context's (tenant.From) when it carries one, and
// org otherwise: a request bound to organisation A whose code passes B's IDs
// still runs as A, and the database returns none of B's rows.
//
// On a pool or a connection RunFor is Run. On a caller's pgx.Tx that is
// already bound, fn runs in it as it is: the caller's organisation wins and
// the database enforces it. On an unbound pgx.Tx, fn runs in a savepoint
// bound to the organisation, and the setting is cleared again before the
// savepoint is released, so the rest of the caller's transaction is as
// unbound as it was.
func RunFor(ctx context.Context, db Beginner, org string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	if bound, ok := tenant.From(ctx); ok {
		org = bound
	}
	if err := tenant.Validate(org); err != nil {
		return err
	}
	caller, joined := db.(pgx.Tx)
	if !joined {
		return Run(tenant.With(ctx, org), db, fn)
	}
	var cur string
	if err := caller.QueryRow(ctx, `SELECT coalesce(current_setting('`+Setting+`', true), '')`).Scan(&cur); err != nil {
		return fmt.Errorf("tenant/pgstore: read setting: %w", err)
	}
	if cur != "" {
		return pgx.BeginFunc(ctx, caller, func(tx pgx.Tx) error { return fn(ctx, tx) })
	}
	return pgx.BeginFunc(ctx, caller, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('`+Setting+`', $1, true)`, org); err != nil {
			return fmt.Errorf("tenant/pgstore: set organisation: %w", err)
		}
		if err := fn(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('`+Setting+`', '', true)`); err != nil {
			return fmt.Errorf("tenant/pgstore: clear organisation: %w", err)
		}
		return nil
	})
}

// Table names a table to protect and its tenant column.
type Table struct {
	// Name is the table, optionally schema-qualified ("billing.invoices").
	Name string
	// Column holds the organisation ID.
	Column string
	// Type is the column's SQL type, to which the setting is cast so the
	// comparison can use the column's index ("text" when empty; "uuid",
	// "bigint"...).
	Type string
	// KeepOwner adds a second policy, rampart_owner, that gives the table's
	// owner (the migration role) every row, as it would have without FORCE
	// ROW LEVEL SECURITY. rampart's own tables use it: the SECURITY DEFINER
	// directory functions the owner defines answer the lookups that come
	// before any organisation is known (a session by its token) with the
	// one row of an exact key. The application role must then be neither the
	// owner nor a member of it; Check verifies both.
	KeepOwner bool
}

func (t Table) quoted() (table, column, typ string, err error) {
	parts := strings.Split(t.Name, ".")
	if len(parts) > 2 {
		return "", "", "", fmt.Errorf("%w: table %q", ErrBadIdentifier, t.Name)
	}
	for _, p := range parts {
		if p == "" {
			return "", "", "", fmt.Errorf("%w: table %q", ErrBadIdentifier, t.Name)
		}
	}
	if t.Column == "" {
		return "", "", "", fmt.Errorf("%w: empty column of table %q", ErrBadIdentifier, t.Name)
	}
	typ = t.Type
	if typ == "" {
		typ = "text"
	}
	for _, r := range typ {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("_ (),", r)) {
			return "", "", "", fmt.Errorf("%w: type %q", ErrBadIdentifier, t.Type)
		}
	}
	return pgx.Identifier(parts).Sanitize(), pgx.Identifier{t.Column}.Sanitize(), typ, nil
}

// policyExpr is the comparison of the USING and WITH CHECK clauses.
func policyExpr(column, typ string) string {
	return fmt.Sprintf("%s = NULLIF(current_setting('%s', true), '')::%s", column, Setting, typ)
}

// ProtectSQL returns the statements that put t under the tenant policy, for
// hosts that run their migrations with goose or golang-migrate. They are
// idempotent: the policy is dropped and created again. With KeepOwner they
// include a dollar-quoted DO block: in a goose file, put them between
// "-- +goose StatementBegin" and "-- +goose StatementEnd".
func ProtectSQL(t Table) (string, error) {
	table, column, typ, err := t.quoted()
	if err != nil {
		return "", err
	}
	expr := policyExpr(column, typ)
	sql := fmt.Sprintf(`ALTER TABLE %[1]s ENABLE ROW LEVEL SECURITY;
ALTER TABLE %[1]s FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS %[2]s ON %[1]s;
CREATE POLICY %[2]s ON %[1]s AS PERMISSIVE FOR ALL TO PUBLIC USING (%[3]s) WITH CHECK (%[3]s);
`, table, PolicyName, expr)
	if t.KeepOwner {
		// The owner is read from the catalog when the statement runs, not
		// taken from whoever runs it: a superuser may apply migrations for
		// a table another role owns.
		lit := strings.ReplaceAll(table, "'", "''")
		sql += fmt.Sprintf(`DROP POLICY IF EXISTS %[2]s ON %[1]s;
DO $rampart$ BEGIN EXECUTE format('CREATE POLICY %[2]s ON %%s AS PERMISSIVE FOR ALL TO %%I USING (true) WITH CHECK (true)', '%[3]s',
	(SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = '%[3]s'::regclass)); END $rampart$;
`, table, OwnerPolicyName, lit)
	}
	return sql, nil
}

// Protect applies ProtectSQL(t) in one transaction. It must run as the
// table's owner (a migration role), never as the application role.
func Protect(ctx context.Context, db Beginner, t Table) error {
	sql, err := ProtectSQL(t)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// Under the lock rampart's migrations hold: instances starting at
		// once would otherwise race on the same catalog rows and one fail
		// with "tuple concurrently updated".
		if err := pgmigrate.Lock(ctx, tx); err != nil {
			return fmt.Errorf("tenant/pgstore: protect %s: %w", t.Name, err)
		}
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fmt.Errorf("tenant/pgstore: protect %s: %w", t.Name, err)
		}
		return nil
	})
}
