package privacy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Sentinel errors. Every error the package returns wraps one of them or a
// store/driver error, so callers can branch with errors.Is.
var (
	// ErrNotFound: the store has no such subject, hold, request or record.
	ErrNotFound = errors.New("privacy: not found")
	// ErrConflict: the record changed under a concurrent writer.
	ErrConflict = errors.New("privacy: concurrent change")
	// ErrInvalidTransition: the lifecycle does not allow this step from the
	// subject's current state (restore an active subject, erase twice...).
	ErrInvalidTransition = errors.New("privacy: invalid lifecycle transition")
	// ErrCooldownElapsed: restore was asked after the cooldown ended; the
	// subject is (or is about to be) erased and cannot come back.
	ErrCooldownElapsed = errors.New("privacy: cooldown elapsed, restore refused")
	// ErrNoDomains: a sweep was asked with no data domain registered; it
	// would mark subjects erased without erasing anything.
	ErrNoDomains = errors.New("privacy: no data domain registered")
	// ErrInvalid: an argument is missing or malformed.
	ErrInvalid = errors.New("privacy: invalid argument")
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

// Recorder receives every lifecycle transition, hold and request change.
// *auditlog.Log satisfies it. Payloads never carry personal data beyond the
// subject ID in the target.
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

// Manager runs the privacy lifecycle over a Store: deletion requests with a
// cooldown, restore, erasure through registered domains, holds, data subject
// requests, consent and export. It is safe for concurrent use once
// configured; register domains and purposes before serving.
type Manager struct {
	store        Store
	now          func() time.Time
	cooldown     time.Duration
	location     *time.Location
	jurisdiction Jurisdiction
	recorder     Recorder
	heartbeat    Heartbeat
	domains      []Domain
	purposes     *purposes // shared by the copies WithStore makes
}

// purposes are the registered consent purposes. A new policy version may
// be registered at run time, hence the lock.
type purposes struct {
	mu sync.RWMutex
	m  map[string]Purpose
}

// Option configures a Manager.
type Option func(*Manager)

// WithClock sets the clock; tests and the quickstart pass a story clock.
func WithClock(now func() time.Time) Option { return func(m *Manager) { m.now = now } }

// WithCooldown sets how long a deletion request stays restorable (default
// 30 days).
func WithCooldown(d time.Duration) Option { return func(m *Manager) { m.cooldown = d } }

// WithLocation sets the controller's time zone, in which request deadlines
// are counted in calendar days (default UTC): a request received at 00:30 in
// Berlin on 1 February was received on 1 February there, whatever the UTC
// date.
func WithLocation(loc *time.Location) Option { return func(m *Manager) { m.location = loc } }

// WithJurisdiction sets the jurisdiction of requests received without
// UnderJurisdiction (default GDPR).
func WithJurisdiction(j Jurisdiction) Option { return func(m *Manager) { m.jurisdiction = j } }

// WithRecorder sends every transition to r (typically the audit log).
func WithRecorder(r Recorder) Option { return func(m *Manager) { m.recorder = r } }

// WithHeartbeat reports sweeps to h (typically compliance's job monitor).
func WithHeartbeat(h Heartbeat) Option { return func(m *Manager) { m.heartbeat = h } }

// New returns a Manager over store.
func New(store Store, opts ...Option) *Manager {
	m := &Manager{store: store, now: time.Now, cooldown: DefaultCooldown, location: time.UTC,
		jurisdiction: GDPR, purposes: &purposes{m: map[string]Purpose{}}}
	for _, o := range opts {
		o(m)
	}
	if m.cooldown <= 0 {
		m.cooldown = DefaultCooldown
	}
	if m.location == nil {
		m.location = time.UTC
	}
	return m
}

// Store returns the manager's store.
func (m *Manager) Store() Store { return m.store }

// WithStore returns a Manager over s that shares m's configuration: clock,
// cooldown, location, jurisdiction, recorder, heartbeat, the domains
// registered so far and the purposes (a purpose registered later on either
// is seen by both). It costs one small allocation, so a host may call it
// per request, typically to run privacy's operations in its own
// transaction with a store bound to it: m.WithStore(store.WithTx(tx)) with
// privacy/pgstore. Register domains before calling it.
func (m *Manager) WithStore(s Store) *Manager {
	c := *m
	c.store = s
	// A domain registered on one copy must not land in the other's
	// backing array.
	c.domains = slices.Clip(m.domains)
	return &c
}

// AuditingStore is a Store that records the audit entries of its writes in
// the same transaction as the writes, so that a committed change always
// has its entry and a change that did not commit has none (privacy/pgstore
// with WithAuditOutbox, which records through the audit log's
// transactional outbox). When the Manager's store is one and RecordsAudit
// says so, the Manager hands every entry it would record to AuditTx, with
// the write it describes, and never to its Recorder; a sweep's release
// then needs no pending-audit marker. Other stores keep the Recorder, called
// after the write, and the markers.
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

// auditing returns the store as an AuditingStore if it records the audit
// entries itself.
func (m *Manager) auditing() (AuditingStore, bool) {
	as, ok := m.store.(AuditingStore)
	return as, ok && as.RecordsAudit()
}

// write runs w, a write to the store that returns the audit entries
// describing it, and records them: in the write's transaction when the
// store records audit entries, else through the Recorder after the write.
// stored reports whether the write is kept (it is, in the second case,
// even if recording fails). An error of w is returned as it is; a
// recording error says which action failed.
func (m *Manager) write(ctx context.Context, w func(s Store) ([]auditRecord, error)) (stored bool, err error) {
	if as, ok := m.auditing(); ok {
		err := as.AuditTx(ctx, func(s Store, rec Recorder) error {
			recs, err := w(s)
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
	recs, err := w(m.store)
	if err != nil {
		return false, err
	}
	if m.recorder == nil {
		return true, nil
	}
	for _, r := range recs {
		if err := m.recorder.Record(ctx, r.org, r.actor, r.action, r.target, r.payload); err != nil {
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
func (m *Manager) record(ctx context.Context, org, actor, action, target string, payload map[string]any) error {
	_, err := m.write(ctx, func(Store) ([]auditRecord, error) {
		return []auditRecord{{org, actor, action, target, payload}}, nil
	})
	return err
}

func subjectTarget(id string) string { return "subject:" + id }

// Status returns the subject's lifecycle record; a subject the store has never
// seen is active.
func (m *Manager) Status(ctx context.Context, org, id string) (Subject, error) {
	s, err := m.store.Subject(ctx, org, id)
	if errors.Is(err, ErrNotFound) {
		return Subject{Org: org, ID: id, State: StateActive}, nil
	}
	return s, err
}

func checkIDs(org, id, actor string) error {
	if id == "" {
		return fmt.Errorf("%w: empty subject id", ErrInvalid)
	}
	if actor == "" {
		return fmt.Errorf("%w: empty actor", ErrInvalid)
	}
	return nil
}

// RequestDeletion soft-deletes an active subject: from now on the host treats
// it as gone, and the sweeper erases it when the cooldown elapses. The actor
// ("user:<id>", "system:<source>") and reason are recorded.
func (m *Manager) RequestDeletion(ctx context.Context, org, id, actor, reason string) (Subject, error) {
	if err := checkIDs(org, id, actor); err != nil {
		return Subject{}, err
	}
	cur, err := m.Status(ctx, org, id)
	if err != nil {
		return Subject{}, err
	}
	if cur.State != StateActive {
		return cur, fmt.Errorf("%w: subject is %s", ErrInvalidTransition, cur.State)
	}
	now := m.now()
	next := Subject{Org: org, ID: id, State: StateDeletionRequested, DeletionRequestedAt: now,
		EraseAfter: now.Add(m.cooldown), NextDue: now.Add(m.cooldown)}
	ev := Event{Org: org, SubjectID: id, At: now, Action: ActionDeletionRequested,
		From: StateActive, To: StateDeletionRequested, Actor: actor, Reason: reason}
	stored, err := m.transition(ctx, next, StateActive, ev, map[string]any{
		"reason": reason, "erase_after": next.EraseAfter.UTC().Format(time.RFC3339)})
	if !stored {
		return cur, err
	}
	return next, err
}

// transition writes next and ev, and records ev's audit entry with
// payload, through write.
func (m *Manager) transition(ctx context.Context, next Subject, from State, ev Event, payload map[string]any) (stored bool, err error) {
	return m.write(ctx, func(s Store) ([]auditRecord, error) {
		if err := s.Transition(ctx, next, from, ev); err != nil {
			return nil, err
		}
		return []auditRecord{{ev.Org, ev.Actor, ev.Action, subjectTarget(ev.SubjectID), payload}}, nil
	})
}

// Restore brings a soft-deleted subject back, while its cooldown has not
// elapsed; from the end of the cooldown on it returns ErrCooldownElapsed.
func (m *Manager) Restore(ctx context.Context, org, id, actor, reason string) (Subject, error) {
	if err := checkIDs(org, id, actor); err != nil {
		return Subject{}, err
	}
	cur, err := m.Status(ctx, org, id)
	if err != nil {
		return Subject{}, err
	}
	if cur.State != StateDeletionRequested {
		return cur, fmt.Errorf("%w: subject is %s", ErrInvalidTransition, cur.State)
	}
	now := m.now()
	if !now.Before(cur.EraseAfter) {
		return cur, fmt.Errorf("%w: cooldown ended %s", ErrCooldownElapsed, cur.EraseAfter.UTC().Format(time.RFC3339))
	}
	next := Subject{Org: org, ID: id, State: StateActive}
	ev := Event{Org: org, SubjectID: id, At: now, Action: ActionRestored,
		From: StateDeletionRequested, To: StateActive, Actor: actor, Reason: reason}
	stored, err := m.transition(ctx, next, StateDeletionRequested, ev, map[string]any{"reason": reason})
	if !stored {
		if errors.Is(err, ErrConflict) {
			// Raced with the sweeper or another restore; say why if we can.
			if s, e2 := m.Status(ctx, org, id); e2 == nil && s.State == StateDeletionRequested && !now.Before(s.EraseAfter) {
				return s, fmt.Errorf("%w: %w", ErrCooldownElapsed, err)
			}
		}
		return cur, err
	}
	return next, err
}

// History returns the subject's lifecycle transitions, oldest first.
func (m *Manager) History(ctx context.Context, org, id string) ([]Event, error) {
	return m.store.Events(ctx, org, id)
}

// newID returns a random 128-bit identifier in hex.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("privacy: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}
