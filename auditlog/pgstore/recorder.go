package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/auditlog"
)

// OutboxRecorder records entries through the outbox outside any host
// transaction: each Record is one INSERT into auditlog_outbox, which takes
// no chain lock and waits for no group commit, and the relay
// (auditlog.Log.RunOutbox) seals it into its chain. Its Record has the
// shape of the one-method recorder interfaces of rbac, authn, mfa and
// privacy, so it stands in for the Log's Record where an entry must not be
// lost to a brief database outage: rbac's denials, which rbac answers 503
// instead of 403 when the recorder fails.
//
// A failure that provably did not reach the server (pgconn.SafeToRetry:
// the connection was lost or refused before the statement was sent) is
// retried a few times with a short backoff, so a killed pool connection
// costs a retry, not the entry. Any other error is returned: the INSERT
// may or may not have committed, and the caller must say so (rbac answers
// 503). The role of pool needs what WithRecordRole grants.
type OutboxRecorder struct {
	pool *pgxpool.Pool
	log  *auditlog.Log
	// backoff is the wait before each retry; its length bounds the retries.
	backoff []time.Duration
}

// recorderBackoff: up to four retries within about 150ms, long enough for
// a pool to open a connection in place of a killed one.
var recorderBackoff = []time.Duration{5 * time.Millisecond, 15 * time.Millisecond, 40 * time.Millisecond, 90 * time.Millisecond}

// NewOutboxRecorder returns a recorder inserting into pool's outbox, with
// entries validated by log (its registry and clock, as RecordTx does).
func NewOutboxRecorder(pool *pgxpool.Pool, log *auditlog.Log) *OutboxRecorder {
	return &OutboxRecorder{pool: pool, log: log, backoff: recorderBackoff}
}

// Record validates the entry (an unregistered action or a payload that is
// not a JSON object fails here, as with the Log's Record) and inserts it
// into the outbox. nil means the row committed: the entry will be in org's
// chain once the relay ran.
func (r *OutboxRecorder) Record(ctx context.Context, org, actor, action, target string, payload map[string]any) error {
	if r == nil || r.pool == nil || r.log == nil {
		return ErrNoRecorder
	}
	e, err := positionalEntry(org, actor, action, target, payload)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err = recordOutbox(ctx, r.pool, r.log, e)
		if err == nil || attempt == len(r.backoff) || !pgconn.SafeToRetry(err) {
			return err
		}
		t := time.NewTimer(r.backoff[attempt])
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}
