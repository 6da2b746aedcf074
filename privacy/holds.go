package privacy

import (
	"context"
	"fmt"
	"time"
)

// Hold is a legal hold: while active it blocks erasure of a subject (all its
// domains, or one), or of a domain for every subject of the organisation.
type Hold struct {
	ID  string `json:"id"`
	Org string `json:"org"`
	// SubjectID limits the hold to one subject; "" holds the whole domain.
	SubjectID string `json:"subject_id,omitempty"`
	// Domain limits the hold to one domain; "" holds every domain.
	Domain string `json:"domain,omitempty"`
	Reason string `json:"reason"`
	// Owner is who answers for the hold (legal counsel, a case number).
	Owner    string    `json:"owner"`
	PlacedAt time.Time `json:"placed_at"`
	PlacedBy string    `json:"placed_by"`
	// Until, if set, ends the hold on its own.
	Until    time.Time `json:"until,omitzero"`
	LiftedAt time.Time `json:"lifted_at,omitzero"`
	LiftedBy string    `json:"lifted_by,omitempty"`
}

// ActiveAt reports whether the hold blocks erasure at t.
func (h Hold) ActiveAt(t time.Time) bool {
	return h.LiftedAt.IsZero() && (h.Until.IsZero() || t.Before(h.Until))
}

// covers reports whether the hold applies to subjectID's domain.
func (h Hold) covers(subjectID, domain string) bool {
	return (h.SubjectID == "" || h.SubjectID == subjectID) && (h.Domain == "" || h.Domain == domain)
}

// PlaceHold places a legal hold and records it. Either SubjectID or Domain
// (or both) must be set: an organisation-wide hold on everything is too blunt
// to be an accident, so it is refused. Reason and Owner are required.
func (l *Lifecycle) PlaceHold(ctx context.Context, h Hold, actor string) (Hold, error) {
	if h.SubjectID == "" && h.Domain == "" {
		return Hold{}, fmt.Errorf("%w: a hold needs a subject or a domain", ErrInvalid)
	}
	if h.Reason == "" || h.Owner == "" || actor == "" {
		return Hold{}, fmt.Errorf("%w: a hold needs a reason, an owner and an actor", ErrInvalid)
	}
	h.ID = newID()
	h.PlacedAt = l.now()
	h.PlacedBy = actor
	h.LiftedAt, h.LiftedBy = time.Time{}, ""
	stored, err := l.w.write(ctx, func(s LifecycleStore) ([]auditRecord, error) {
		if err := s.PutHold(ctx, h); err != nil {
			return nil, err
		}
		return []auditRecord{{h.Org, actor, ActionHoldPlaced, "hold:" + h.ID, holdPayload(h)}}, nil
	})
	if !stored {
		return Hold{}, err
	}
	return h, err
}

func holdPayload(h Hold) map[string]any {
	p := map[string]any{"reason": h.Reason, "owner": h.Owner}
	if h.SubjectID != "" {
		p["subject"] = h.SubjectID
	}
	if h.Domain != "" {
		p["domain"] = h.Domain
	}
	if !h.Until.IsZero() {
		p["until"] = h.Until.UTC().Format(time.RFC3339)
	}
	return p
}

// LiftHold lifts the hold named by hold (its organisation and ID) and
// records it; the next sweep proceeds.
func (l *Lifecycle) LiftHold(ctx context.Context, hold Ref, actor, reason string) (Hold, error) {
	org := hold.Org
	if actor == "" {
		return Hold{}, fmt.Errorf("%w: empty actor", ErrInvalid)
	}
	var h Hold
	stored, err := l.w.write(ctx, func(s LifecycleStore) ([]auditRecord, error) {
		var err error
		if h, err = s.LiftHold(ctx, org, hold.ID, l.now(), actor); err != nil {
			return nil, err
		}
		p := holdPayload(h)
		p["lift_reason"] = reason
		return []auditRecord{{org, actor, ActionHoldLifted, "hold:" + h.ID, p}}, nil
	})
	if !stored {
		return Hold{}, err
	}
	return h, err
}

// ActiveHolds returns the organisation's holds active now.
func (l *Lifecycle) ActiveHolds(ctx context.Context, org string) ([]Hold, error) {
	hs, err := l.w.store.Holds(ctx, org)
	if err != nil {
		return nil, err
	}
	now := l.now()
	out := hs[:0]
	for _, h := range hs {
		if h.ActiveAt(now) {
			out = append(out, h)
		}
	}
	return out, nil
}
