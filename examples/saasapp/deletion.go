package main

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	auditpg "github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/authn"
	authnpg "github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/privacy"
	privacypg "github.com/rampart-sdk/rampart/privacy/pgstore"
	"github.com/rampart-sdk/rampart/tenant"
	tenantpg "github.com/rampart-sdk/rampart/tenant/pgstore"
)

// pgTx is what one host transaction over rampart's PostgreSQL stores
// needs: the stores to bind to it. Nil in memory mode.
type pgTx struct {
	privacy privacypg.Store // records its audit entries through the outbox
	authn   authnpg.Store
	// sweep is the erasure sweep's store when rampart's tables are
	// protected: the owner's pool, no tenant binding. Nil otherwise.
	sweep privacypg.Store
}

// privacyStoreFor returns the privacy store the app runs on: in memory,
// st's; on PostgreSQL, where postgresStores leaves it to this function, one
// that records every audit entry of privacy's writes in the write's
// transaction, through the audit log's outbox (the relay, startRelay, seals
// them into the chains).
func (a *app) privacyStoreFor(st stores) (privacy.Store, error) {
	as, onPG := st.authn.(authnpg.Store)
	if !onPG || a.pool == nil {
		return st.privacy, nil
	}
	rec := privacypg.WithAuditOutbox(auditpg.NewTxRecorder(a.audit))
	if a.appRole == "" {
		ps, err := privacypg.New(a.pool, rec)
		if err != nil {
			return nil, err
		}
		a.pg = &pgTx{privacy: ps, authn: as}
		return ps, nil
	}
	// rampart's tables are protected (postgresStores): the store serves
	// requests as the application role, bound to each operation's
	// organisation; the sweep, whose releases run in AuditTx's transaction
	// and claim subjects of every organisation, gets a store of its own
	// over the owner's pool (wirePrivacy).
	ps, err := privacypg.New(a.appPool, append(privacyOptions(a.pool), rec)...)
	if err != nil {
		return nil, err
	}
	sweep, err := privacypg.New(a.pool, rec)
	if err != nil {
		return nil, err
	}
	a.pg = &pgTx{privacy: ps, authn: as, sweep: sweep}
	return ps, nil
}

// deleteAccount soft-deletes a user: privacy's transition (with its audit
// entry), the account's state and the revocation of every session. On
// PostgreSQL the three commit in one transaction, so a failure at any
// step leaves nothing behind and a retry starts afresh (no "already being
// deleted" for a user who is still active). In memory, they run one after
// the other.
func (a *app) deleteAccount(ctx context.Context, org, userID, actor, reason string) (privacy.Subject, error) {
	if a.pg == nil {
		sub, err := a.privacy.RequestDeletion(ctx, privacy.Ref{Org: org, ID: userID}, actor, reason)
		if err == nil {
			err = a.store.SetState(ctx, org, userID, userDeleted)
		}
		if err == nil {
			_, err = a.sessions.RevokeAll(ctx, org, userID)
		}
		return sub, err
	}
	if bound, ok := tenant.From(ctx); ok {
		if bound != org {
			return privacy.Subject{}, errCrossTenant
		}
	} else {
		ctx = tenant.With(ctx, org)
	}
	var sub privacy.Subject
	// The serving pool (the application role's when there is one): the
	// transaction is bound to org, and row-level security filters the
	// app's table and, once protected, privacy's and authn's. The app's
	// statement names the organisation too, for a single-role deployment,
	// whose owner rampart's policies admit to every row.
	err := tenantpg.Run(ctx, a.appPool, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if sub, err = a.privacy.WithStore(a.pg.privacy.WithTx(tx)).RequestDeletion(ctx, privacy.Ref{Org: org, ID: userID}, actor, reason); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE app_users SET state = $3 WHERE org = $1 AND id = $2`, org, userID, userDeleted)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return errNotFound
		}
		sessions, err := authn.NewSessions(a.pg.authn.WithTx(tx), authn.WithClock(a.now))
		if err != nil {
			return err
		}
		_, err = sessions.RevokeAll(ctx, org, userID)
		return err
	})
	if err != nil {
		var zero privacy.Subject
		if errors.Is(err, privacy.ErrInvalidTransition) {
			return sub, err
		}
		return zero, err
	}
	return sub, nil
}
