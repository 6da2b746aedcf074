package auditlog

import (
	"context"
	"fmt"
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
	if _, err := ParseActor(actor); err != nil {
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

// LiftHold lifts an active hold and records ActionHoldLifted.
func (l *Log) LiftHold(ctx context.Context, actor, id, reason string) error {
	if _, err := ParseActor(actor); err != nil {
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
	if err := l.store.LiftHold(ctx, id, l.now().UTC()); err != nil {
		return err
	}
	return l.Record(ctx, holdOrg(*found), actor, ActionHoldLifted, "hold:"+id, map[string]any{
		"id": id, "reason": reason,
	})
}

func holdOrg(h Hold) string {
	if h.Kind == HoldOrg {
		return h.Value
	}
	return ""
}

// Prune removes the payloads of chain's entries older than retention (for
// example 365 days) that no active hold covers. Headers, digests and hashes
// stay, so the chain still verifies. A run that pruned anything is recorded
// as ActionPruned in the global chain.
func (l *Log) Prune(ctx context.Context, chain string, retention time.Duration) (int64, error) {
	if retention <= 0 {
		return 0, fmt.Errorf("auditlog: retention must be positive, got %s", retention)
	}
	before := l.now().Add(-retention).UTC()
	n, err := l.store.PrunePayloads(ctx, chain, before)
	if err != nil || n == 0 {
		return n, err
	}
	return n, l.Record(ctx, "", "system:auditlog/retention", ActionPruned, "chain:"+chain, map[string]any{
		"chain": chain, "before": before.Format(time.RFC3339Nano), "pruned": n,
	})
}
