// Package tenant carries the organisation a request is bound to through its
// context, so that code below the router never reads it from the URL again,
// and tenant/pgstore makes PostgreSQL enforce it with row-level security.
//
// # Threat addressed
//
// A query that forgets its "WHERE org_id = $1" (a report, a hurried join)
// returns or changes another organisation's rows. Route-level authorisation (rbac) cannot stop it: the
// route was allowed, the query is wrong. With tenant/pgstore every protected
// table has a row-level security policy that compares its tenant column with
// the organisation set for the current transaction, and FORCE ROW LEVEL
// SECURITY applies it to the table's owner too; a transaction with no
// organisation set sees no rows and can insert none.
//
// # How it fits together
//
// rbac's router authorises the organisation of a request and, configured
// with rbac.WithAuthorizedOrg(tenant.With), binds it to the request's
// context. A handler then runs its queries with tenant/pgstore.Run, which
// opens a transaction (or a savepoint in the caller's), sets the
// organisation transaction-locally (so a pooled connection can never carry
// one request's tenant into the next) and runs the handler's function. The
// package is the standard library only: the host hands tenant.With to rbac.
//
// # What it does not do
//
// Row-level security does not bind superusers, roles with BYPASSRLS, or a
// table's owner that drops the policy: the application must connect as a
// role that is none of these, which tenant/pgstore.Check verifies.
// Functions declared SECURITY DEFINER by their owner, views created by a
// role that bypasses row security, and tables without the policy are outside
// it; see tenant/pgstore for what was examined and what leaks.
package tenant
