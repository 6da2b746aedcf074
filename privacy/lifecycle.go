package privacy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Lifecycle runs the lifecycle of data subjects over a LifecycleStore:
// deletion requests with a cooldown, restore, legal holds, erasure by the
// sweeper through the registered domains, and export. It is safe for
// concurrent use once configured; register domains before serving.
type Lifecycle struct {
	w         writer[LifecycleStore]
	now       func() time.Time
	cooldown  time.Duration
	heartbeat Heartbeat
	domains   []Domain
}

// NewLifecycle returns a Lifecycle over store, configured by opts
// (WithClock, WithRecorder, WithCooldown, WithHeartbeat). An option out of
// its range is an error wrapping ErrInvalidConfig.
func NewLifecycle(store LifecycleStore, opts ...LifecycleOption) (*Lifecycle, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidConfig)
	}
	c := lifecycleConfig{common: common{now: time.Now}, cooldown: DefaultCooldown}
	if err := configure(&c.common, opts, func(o LifecycleOption) { o.applyLifecycle(&c) }); err != nil {
		return nil, err
	}
	return &Lifecycle{w: writer[LifecycleStore]{store: store, recorder: c.recorder}, now: c.now,
		cooldown: c.cooldown, heartbeat: c.heartbeat}, nil
}

// WithStore returns a Lifecycle over s that shares l's configuration:
// clock, cooldown, recorder, heartbeat and the domains registered so far.
// It costs one small allocation, so a host may call it per request with a
// store bound to its own transaction: l.WithStore(store.WithTx(tx)) with
// privacy/pgstore. Register domains first.
func (l *Lifecycle) WithStore(s LifecycleStore) *Lifecycle {
	c := *l
	c.w.store = s
	// A domain registered on one copy must not land in the other's
	// backing array.
	c.domains = slices.Clip(l.domains)
	return &c
}

// Status returns the subject's lifecycle record; a subject the store has
// never seen is active.
func (l *Lifecycle) Status(ctx context.Context, subject Ref) (Subject, error) {
	s, err := l.w.store.Subject(ctx, subject.Org, subject.ID)
	if errors.Is(err, ErrNotFound) {
		return Subject{Org: subject.Org, ID: subject.ID, State: StateActive}, nil
	}
	return s, err
}

// RequestDeletion soft-deletes an active subject: from now on the host
// treats it as gone, and the sweeper erases it when the cooldown elapses.
// The actor ("user:<id>", "system:<source>") and reason are recorded.
func (l *Lifecycle) RequestDeletion(ctx context.Context, subject Ref, actor, reason string) (Subject, error) {
	org, id := subject.Org, subject.ID
	if err := checkIDs(org, id, actor); err != nil {
		return Subject{}, err
	}
	cur, err := l.Status(ctx, subject)
	if err != nil {
		return Subject{}, err
	}
	if cur.State != StateActive {
		return cur, fmt.Errorf("%w: subject is %s", ErrInvalidTransition, cur.State)
	}
	now := l.now()
	next := Subject{Org: org, ID: id, State: StateDeletionRequested, DeletionRequestedAt: now,
		EraseAfter: now.Add(l.cooldown), NextDue: now.Add(l.cooldown)}
	ev := Event{Org: org, SubjectID: id, At: now, Action: ActionDeletionRequested,
		From: StateActive, To: StateDeletionRequested, Actor: actor, Reason: reason}
	stored, err := l.transition(ctx, next, StateActive, ev, map[string]any{
		"reason": reason, "erase_after": next.EraseAfter.UTC().Format(time.RFC3339)})
	if !stored {
		return cur, err
	}
	return next, err
}

// transition writes next and ev, and records ev's audit entry with
// payload, through write.
func (l *Lifecycle) transition(ctx context.Context, next Subject, from State, ev Event, payload map[string]any) (stored bool, err error) {
	return l.w.write(ctx, func(s LifecycleStore) ([]auditRecord, error) {
		if err := s.Transition(ctx, next, from, ev); err != nil {
			return nil, err
		}
		return []auditRecord{{ev.Org, ev.Actor, ev.Action, subjectTarget(ev.SubjectID), payload}}, nil
	})
}

// Restore brings a soft-deleted subject back, while its cooldown has not
// elapsed; from the end of the cooldown on it returns ErrCooldownElapsed.
// A subject a sweep has leased is being erased: Restore returns ErrConflict.
func (l *Lifecycle) Restore(ctx context.Context, subject Ref, actor, reason string) (Subject, error) {
	org, id := subject.Org, subject.ID
	if err := checkIDs(org, id, actor); err != nil {
		return Subject{}, err
	}
	cur, err := l.Status(ctx, subject)
	if err != nil {
		return Subject{}, err
	}
	if cur.State != StateDeletionRequested {
		return cur, fmt.Errorf("%w: subject is %s", ErrInvalidTransition, cur.State)
	}
	now := l.now()
	if !now.Before(cur.EraseAfter) {
		return cur, fmt.Errorf("%w: cooldown ended %s", ErrCooldownElapsed, cur.EraseAfter.UTC().Format(time.RFC3339))
	}
	next := Subject{Org: org, ID: id, State: StateActive}
	ev := Event{Org: org, SubjectID: id, At: now, Action: ActionRestored,
		From: StateDeletionRequested, To: StateActive, Actor: actor, Reason: reason}
	stored, err := l.transition(ctx, next, StateDeletionRequested, ev, map[string]any{"reason": reason})
	if !stored {
		if errors.Is(err, ErrConflict) {
			// Raced with the sweeper or another restore; say why if we can.
			if s, e2 := l.Status(ctx, subject); e2 == nil && s.State == StateDeletionRequested && !now.Before(s.EraseAfter) {
				return s, fmt.Errorf("%w: %w", ErrCooldownElapsed, err)
			}
		}
		return cur, err
	}
	return next, err
}

// History returns the subject's lifecycle transitions, oldest first.
func (l *Lifecycle) History(ctx context.Context, subject Ref) ([]Event, error) {
	return l.w.store.Events(ctx, subject.Org, subject.ID)
}
