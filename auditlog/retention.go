package auditlog

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// PlaceHold stores a compliance hold and records ActionHoldPlaced (in the
// organisation's chain for an org hold, else in the global chain), so that
// who held what, and why, is itself in the audit trail. actor is who placed
// it ("user:<id>", ...). A hold with no ID, value, reason or owner is refused.
func (l *Log) PlaceHold(ctx context.Context, actor string, h Hold) error {
	switch h.Kind {
	case HoldOrg, HoldActor, HoldTarget:
	default:
		return fmt.Errorf("%w: kind %q must be org, actor or target", ErrHeld, h.Kind)
	}
	if h.ID == "" || h.Value == "" || h.Reason == "" || h.Owner == "" {
		return fmt.Errorf("%w: id, value, reason and owner are required", ErrHeld)
	}
	if err := checkActor(actor); err != nil {
		return err
	}
	h.PlacedAt = time.UnixMicro(l.now().UnixMicro()).UTC()
	if err := l.store.PutHold(ctx, h); err != nil {
		return err
	}
	return l.Record(ctx, holdOrg(h), actor, ActionHoldPlaced, "hold:"+h.ID, map[string]any{
		"id": h.ID, "kind": string(h.Kind), "value": h.Value, "reason": h.Reason, "owner": h.Owner,
	})
}

// RetentionRecorder is implemented by stores that lift holds and prune
// payloads in the same transaction as the audit entry recording the change
// (auditlog/pgstore, whose database refuses either change otherwise). A Log
// uses it when its store has it; with any other store it changes first and
// records after, which a crash in between can leave unrecorded.
type RetentionRecorder interface {
	// PruneRecorded prunes like Store.PrunePayloads and, if it pruned
	// anything, appends record(pruned) to chain in the same transaction.
	// If it pruned nothing it changes nothing and record is not called.
	PruneRecorded(ctx context.Context, chain string, before time.Time, record func(pruned int64) (Entry, error)) (int64, error)
	// LiftHoldRecorded lifts hold id like Store.LiftHold and appends record
	// to record.Chain in the same transaction.
	LiftHoldRecorded(ctx context.Context, id string, at time.Time, record Entry) error
}

// LiftHold lifts an active hold and records ActionHoldLifted in the chain
// the hold was placed in (its organisation's for an org hold, else the
// global chain), in the same transaction when the store is a
// RetentionRecorder.
func (l *Log) LiftHold(ctx context.Context, actor, id, reason string) error {
	if err := checkActor(actor); err != nil {
		return err
	}
	var found *Hold
	holds, err := l.store.Holds(ctx)
	if err != nil {
		return err
	}
	for i := range holds {
		if holds[i].ID == id {
			found = &holds[i]
		}
	}
	if found == nil {
		return fmt.Errorf("%w: active hold %q", ErrNotFound, id)
	}
	payload := map[string]any{"id": id, "reason": reason}
	at := l.now().UTC()
	if rr, ok := l.store.(RetentionRecorder); ok {
		e, err := l.prepared(holdOrg(*found), actor, ActionHoldLifted, "hold:"+id, payload)
		if err != nil {
			return err
		}
		return rr.LiftHoldRecorded(ctx, id, at, e)
	}
	if err := l.store.LiftHold(ctx, id, at); err != nil {
		return err
	}
	return l.Record(ctx, holdOrg(*found), actor, ActionHoldLifted, "hold:"+id, payload)
}

func holdOrg(h Hold) string {
	if h.Kind == HoldOrg {
		return h.Value
	}
	return ""
}

// pruneActor is who a Log's prune entries name.
const pruneActor = "system:auditlog/retention"

// Prune removes the payloads of chain's entries older than retention (for
// example 365 days) that no active hold covers. Headers, digests and hashes
// stay, so the chain still verifies. A run that pruned anything is recorded
// as ActionPruned in chain itself, with the cutoff and the count, in the
// same transaction when the store is a RetentionRecorder. A store may
// refuse a retention shorter than the one it enforces (ErrInsideRetention).
func (l *Log) Prune(ctx context.Context, chain string, retention time.Duration) (int64, error) {
	if retention <= 0 {
		return 0, fmt.Errorf("auditlog: retention must be positive, got %s", retention)
	}
	org, err := orgOf(chain)
	if err != nil {
		return 0, err
	}
	// Microseconds, as stored: the cutoff in the entry is the one applied.
	before := time.UnixMicro(l.now().Add(-retention).UnixMicro()).UTC()
	payload := func(n int64) map[string]any {
		return map[string]any{"chain": chain, "before": before.Format(pruneCutoff), "pruned": n}
	}
	if rr, ok := l.store.(RetentionRecorder); ok {
		return rr.PruneRecorded(ctx, chain, before, func(n int64) (Entry, error) {
			return l.prepared(org, pruneActor, ActionPruned, "chain:"+chain, payload(n))
		})
	}
	n, err := l.store.PrunePayloads(ctx, chain, before)
	if err != nil || n == 0 {
		return n, err
	}
	return n, l.Record(ctx, org, pruneActor, ActionPruned, "chain:"+chain, payload(n))
}

// pruneCutoff is how an ActionPruned entry writes its cutoff: UTC with
// exactly six fractional digits (auditlog/pgstore's database compares it).
const pruneCutoff = "2006-01-02T15:04:05.000000Z"

// orgOf is the organisation whose chain is chain (ChainFor's inverse).
func orgOf(chain string) (string, error) {
	if chain == GlobalChain {
		return "", nil
	}
	if org, ok := strings.CutPrefix(chain, "org:"); ok && org != "" {
		return org, nil
	}
	return "", fmt.Errorf("%w: %q is not the chain of an organisation nor the global chain", ErrBadEntry, chain)
}

// prepared returns the validated entry Record would append, for a store
// that appends it itself (RetentionRecorder).
func (l *Log) prepared(org, actor, action, target string, payload map[string]any) (Entry, error) {
	p, err := CanonicalPayload(payload)
	if err != nil {
		return Entry{}, err
	}
	pe, err := l.prepare(Entry{Org: org, Actor: actor, Action: action, Target: target, Payload: p})
	if err != nil {
		return Entry{}, err
	}
	return pe.e, nil
}
