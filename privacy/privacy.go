package privacy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// Audit action names the package records. A host registers them with its
// audit log (see AuditActions) so that an unknown action fails closed there.
const (
	// ActionDeletionRequested: a subject was soft-deleted; the cooldown starts.
	ActionDeletionRequested = "privacy.subject.deletion_requested"
	// ActionRestored: a soft-deleted subject was brought back within its cooldown.
	ActionRestored = "privacy.subject.restored"
	// ActionErased: the sweeper erased (or minimised) every domain of a subject.
	ActionErased = "privacy.subject.erased"
	// ActionRetentionErased: records kept for a retention period were erased
	// when it ended.
	ActionRetentionErased = "privacy.subject.retention_erased"
	// ActionHoldPlaced: a legal hold now blocks erasure.
	ActionHoldPlaced = "privacy.hold.placed"
	// ActionHoldLifted: a legal hold was lifted; the next sweep proceeds.
	ActionHoldLifted = "privacy.hold.lifted"
	// ActionRequestReceived: a data subject request was received; its
	// one-month deadline starts.
	ActionRequestReceived = "privacy.request.received"
	// ActionRequestVerified: someone verified the requester's identity, which
	// completing the request requires.
	ActionRequestVerified = "privacy.request.identity_verified"
	// ActionRequestExtended: a request's deadline was extended, with a reason.
	ActionRequestExtended = "privacy.request.extended"
	// ActionRequestClosed: a request was completed or rejected.
	ActionRequestClosed = "privacy.request.closed"
	// ActionExported: a subject's data was exported (right of access).
	ActionExported = "privacy.subject.exported"
	// ActionSweepCompleted: a sweep finished, with its counts.
	ActionSweepCompleted = "privacy.sweep.completed"
)

// AuditActions lists every action name the package records, for the host to
// register with its audit log at startup.
func AuditActions() []string {
	return []string{
		ActionDeletionRequested, ActionRestored, ActionErased, ActionRetentionErased,
		ActionHoldPlaced, ActionHoldLifted,
		ActionRequestReceived, ActionRequestVerified, ActionRequestExtended, ActionRequestClosed,
		ActionExported, ActionSweepCompleted,
	}
}

// Recorder is rampart's audit seam. authn, mfa, rbac, privacy, compliance
// and compliance/nec1099 each declare this same method (a core package
// imports no sibling), so one *auditlog.Log, or one adapter of a host's own
// trail, records for all of them. org "" is the global chain; actor is
// "user:<id>", "apikey:<id>" or "system:<source>"; target is "<type>:<id>"
// or "". *auditlog.Log refuses an unregistered action and a malformed actor
// or target, so arguments passed in the wrong order fail instead of being
// recorded.
//
// privacy records every lifecycle transition, hold and request change.
// Payloads never carry personal data beyond the subject ID in the target.
type Recorder interface {
	Record(ctx context.Context, org, actor, action, target string, payload map[string]any) error
}

// Heartbeat is told when a sweep starts, succeeds or fails, so a missed or
// failing sweep raises an alarm. compliance/monitor's *Monitor satisfies it.
type Heartbeat interface {
	Start(ctx context.Context, job string) error
	Succeed(ctx context.Context, job string) error
	Fail(ctx context.Context, job string, cause error) error
}

// DefaultCooldown is how long a soft-deleted subject stays restorable.
const DefaultCooldown = 30 * 24 * time.Hour

// SweepJob is the job name the sweeper reports to the heartbeat, and the
// actor of what it records.
const SweepJob = "privacy-sweeper"

// sweepActor is the audit actor of sweeps.
const sweepActor = "system:cron/" + SweepJob

// AuditingStore is a Store that records the audit entries of its writes in
// the same transaction as the writes, so that a committed change always
// has its entry and a change that did not commit has none (privacy/pgstore
// with WithAuditOutbox, which records through the audit log's
// transactional outbox). When the store of a Lifecycle or Requests is one
// and RecordsAudit says so, it hands every entry it would record to
// AuditTx, with the write it describes, and never to its Recorder; a
// sweep's release then needs no pending-audit marker. Other stores keep
// the Recorder, called after the write, and the markers.
type AuditingStore interface {
	Store
	// RecordsAudit reports whether the store records audit entries (a
	// store type that can, built without a recorder, says false).
	RecordsAudit() bool
	// AuditTx runs fn in one transaction of the store (a savepoint when the
	// store is bound to a caller's transaction): every write of s, the
	// store bound to it, and every entry rec records are kept together
	// when fn returns nil, and none is kept when fn or the commit fails.
	// It returns fn's error as it is.
	AuditTx(ctx context.Context, fn func(s Store, rec Recorder) error) error
}

// auditRecord is one audit entry that describes a write.
type auditRecord struct {
	org, actor, action, target string
	payload                    map[string]any
}

// writer writes to a store of type S (LifecycleStore, RequestStore) and
// records the audit entries of its writes: in the write's transaction when
// the store records them (AuditingStore), else through the Recorder.
type writer[S any] struct {
	store    S
	recorder Recorder
}

// auditing returns the store as an AuditingStore if it records the audit
// entries itself.
func (w *writer[S]) auditing() (AuditingStore, bool) {
	as, ok := any(w.store).(AuditingStore)
	return as, ok && as.RecordsAudit()
}

// write runs f, a write to the store that returns the audit entries
// describing it, and records them: in the write's transaction when the
// store records audit entries, else through the Recorder after the write.
// stored reports whether the write is kept (it is, in the second case,
// even if recording fails). An error of f is returned as it is; a
// recording error says which action failed.
func (w *writer[S]) write(ctx context.Context, f func(s S) ([]auditRecord, error)) (stored bool, err error) {
	if as, ok := w.auditing(); ok {
		err := as.AuditTx(ctx, func(s Store, rec Recorder) error {
			bound, ok := any(s).(S)
			if !ok { // a Store is every narrow store: unreachable
				return fmt.Errorf("%w: AuditTx's store is not a %T", ErrInvalid, w.store)
			}
			recs, err := f(bound)
			if err != nil {
				return err
			}
			for _, r := range recs {
				if err := rec.Record(ctx, r.org, r.actor, r.action, r.target, r.payload); err != nil {
					return recordErr(r.action, err)
				}
			}
			return nil
		})
		return err == nil, err
	}
	recs, err := f(w.store)
	if err != nil {
		return false, err
	}
	if w.recorder == nil {
		return true, nil
	}
	for _, r := range recs {
		if err := w.recorder.Record(ctx, r.org, r.actor, r.action, r.target, r.payload); err != nil {
			return true, recordErr(r.action, err)
		}
	}
	return true, nil
}

func recordErr(action string, err error) error {
	return fmt.Errorf("privacy: record %s: %w", action, err)
}

// record records one entry that describes no write of the store (an
// export, a sweep's summary).
func (w *writer[S]) record(ctx context.Context, org, actor, action, target string, payload map[string]any) error {
	_, err := w.write(ctx, func(S) ([]auditRecord, error) {
		return []auditRecord{{org, actor, action, target, payload}}, nil
	})
	return err
}

func subjectTarget(id string) string { return "subject:" + id }

func checkIDs(org, id, actor string) error {
	if id == "" {
		return fmt.Errorf("%w: empty subject id", ErrInvalid)
	}
	if actor == "" {
		return fmt.Errorf("%w: empty actor", ErrInvalid)
	}
	return nil
}

// newID returns a random 128-bit identifier in hex.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("privacy: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}
