package pgstore_test

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/tenant"
	"github.com/rampart-sdk/rampart/tenant/pgstore"
)

// The statements a goose or golang-migrate migration runs to protect a table.
func ExampleProtectSQL() {
	sql, err := pgstore.ProtectSQL(pgstore.Table{Name: "invoices", Column: "org_id"})
	if err != nil {
		panic(err)
	}
	fmt.Print(sql)
	// Output:
	// ALTER TABLE "invoices" ENABLE ROW LEVEL SECURITY;
	// ALTER TABLE "invoices" FORCE ROW LEVEL SECURITY;
	// DROP POLICY IF EXISTS rampart_tenant ON "invoices";
	// CREATE POLICY rampart_tenant ON "invoices" AS PERMISSIVE FOR ALL TO PUBLIC USING ("org_id" = NULLIF(current_setting('rampart.org', true), '')::text) WITH CHECK ("org_id" = NULLIF(current_setting('rampart.org', true), '')::text);
}

// A handler's query has no WHERE org_id, and still returns only the rows of
// the organisation the router authorised.
func ExampleRun() {
	var pool *pgxpool.Pool                               // the application role's pool
	ctx := tenant.With(context.Background(), "org-acme") // rbac's router does this
	_ = pgstore.Run(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, amount FROM invoices ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		// ... only org-acme's invoices
		return rows.Err()
	})
}
