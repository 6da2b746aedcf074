// Package pgstore makes PostgreSQL enforce tenant isolation: row-level
// security on a host's tables, keyed on their organisation column and the
// organisation set for the current transaction.
//
// # Running as a tenant
//
// Run opens a transaction (or, given the caller's pgx.Tx, a savepoint in
// it), sets the context's organisation with set_config('rampart.org', org,
// true) and runs the caller's function. The setting is transaction-local: it
// ends with the transaction, so a pooled connection never carries one
// request's organisation into the next. A context without an organisation is
// refused before the database is touched (tenant.ErrNoOrg).
//
// # Protecting a table
//
// Protect (or ProtectSQL, for hosts whose migrations run under goose or
// golang-migrate) enables and forces row-level security on a table and
// creates one policy, rampart_tenant, whose USING and WITH CHECK compare the
// tenant column with the setting:
//
//	org = NULLIF(current_setting('rampart.org', true), '')::text
//
// With no setting (or an empty one) the right side is NULL, the comparison is
// never true, so a transaction that forgot Run sees zero rows and cannot
// insert or move a row: it fails closed, never open.
//
// # rampart's own tables
//
// authn/pgstore (and the other rampart stores that offer it) protect their
// organisation-scoped tables with the same policy, plus a second one,
// rampart_owner (Table.KeepOwner), that gives the table's owner, the
// migration role, every row: the SECURITY DEFINER directory functions it
// owns answer the lookups that precede any organisation (a session by its
// token hash) for an exact key. FORCE ROW LEVEL SECURITY would otherwise
// filter the owner too and those lookups would find nothing. The
// application role must therefore be neither the owner nor a member of it;
// Check accepts rampart_owner only when it names the table's owner alone.
// Their stores bind each operation with RunFor: the context's organisation
// when it has one, else the operation's, and inside a caller's transaction
// the caller's binding when it has one.
//
// # What was examined (TestWhatRowSecurityCovers)
//
//   - A query with no WHERE returns only the bound organisation's rows;
//     INSERT of another organisation's row, and UPDATE that moves a row to
//     another organisation, are refused (WITH CHECK).
//   - COPY table TO applies the policy; COPY table FROM is refused by
//     PostgreSQL on a table with row-level security (use INSERT).
//   - A view is evaluated with its owner's rights: created by the application
//     role (or WITH (security_invoker = true)) it is filtered; owned by a
//     superuser or a BYPASSRLS role it is NOT, and leaks every row.
//   - A SECURITY DEFINER function runs as its owner: owned by the table's
//     owner it is still filtered (FORCE ROW LEVEL SECURITY), owned by a
//     superuser it leaks.
//   - A JOIN to a table without the policy returns that table's rows as they
//     are: protect every table with a tenant column (Check lists them).
//   - Inside a bound transaction the application role's SET row_security =
//     off makes a query on a protected table fail rather than bypass the
//     policy; ALTER TABLE ... DISABLE ROW LEVEL SECURITY is refused (only the
//     owner may); RESET rampart.org leaves the transaction with no rows.
//   - What it cannot stop: the application role itself calling
//     set_config('rampart.org', 'another-org', true). The setting is the
//     application's statement of who it acts for; row security removes the
//     forgotten WHERE, not a compromised application.
//
// # Posture
//
// Check lists every table with the tenant column in the connection's
// schemas and reports, each with the statement that fixes it: row security
// not enabled or not forced, no rampart_tenant policy, another permissive
// policy that widens it, and an application role that is a superuser, has
// BYPASSRLS, or owns (or is a member of the owner of) a protected table. A
// rampart_owner policy granted to the table's owner alone is not reported
// as widening access. The CLI's doctor runs it.
package pgstore
