package main

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/rampart-sdk/rampart/auditlog"
	auditpg "github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/rbac"
)

// unit is what a handler's unit of work may touch: the app's tables and the
// audit log. On PostgreSQL both are one transaction bound to the request's
// organisation: the app's change commits together with its audit entry (an
// outbox row the relay seals into the chain), or neither does, so a crash
// between the two writes cannot leave an action without its entry, and an
// entry never describes a change that rolled back. In memory they are two
// writes in a row, the store's first, as before.
type unit struct {
	// store is the app's tables, bound to the unit's transaction.
	store appStore
	// record adds an audit entry for the request's principal in the unit's
	// organisation.
	record func(action, target string, payload map[string]any) error
}

// txStore is implemented by the stores that can run a unit in one
// transaction (pgStore).
type txStore interface {
	// inTx runs fn in one transaction bound to org, with a store bound to
	// that transaction, and commits when fn returns nil.
	inTx(ctx context.Context, org string, fn func(ctx context.Context, st appStore, tx pgx.Tx) error) error
}

// inUnit runs fn as the request principal's unit of work in org. An error
// from fn rolls everything back on PostgreSQL, so a handler answers 2xx only
// for an action that committed with its entry.
func (a *app) inUnit(r *http.Request, org string, fn func(ctx context.Context, u unit) error) error {
	p, _ := rbac.PrincipalFrom(r.Context())
	actor := p.Actor()
	ts, ok := a.store.(txStore)
	if !ok || a.pool == nil {
		return fn(r.Context(), unit{store: a.store, record: func(action, target string, payload map[string]any) error {
			return a.audit.Record(r.Context(), org, actor, action, target, payload)
		}})
	}
	return ts.inTx(r.Context(), org, func(ctx context.Context, st appStore, tx pgx.Tx) error {
		return fn(ctx, unit{store: st, record: func(action, target string, payload map[string]any) error {
			return auditpg.NewTxRecorder(a.audit).RecordTx(ctx, tx, org, actor, action, target, payload)
		}})
	})
}

// relay runs the audit outbox relay (auditlog.Log.RunOutbox) of an app on
// PostgreSQL: entries recorded inside the app's transactions wait in the
// outbox until it seals them into their chains. Every instance runs one;
// they take turns per chain.
type relay struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// startRelay starts the relay over the app's audit store when it has an
// outbox (PostgreSQL); stopRelay ends it.
func (a *app) startRelay() {
	o, ok := a.auditStore.(auditlog.Outbox)
	if !ok || a.pool == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.relay = &relay{cancel: cancel}
	a.relay.done.Go(func() {
		if err := a.audit.RunOutbox(ctx, o, auditlog.RelayOptions{}); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("audit outbox relay stopped", "error", err)
		}
	})
}

// stopRelay stops the relay and waits for it: a batch it was sealing
// either committed or stays in the outbox for the next relay (of this
// instance at its next start, or of another one).
func (a *app) stopRelay() {
	if a.relay == nil {
		return
	}
	a.relay.cancel()
	a.relay.done.Wait()
	a.relay = nil
}
