package privacy

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// memoryStore is the in-memory Store. It is unexported because its methods
// only restate the interfaces; NewMemoryStore documents it.
type memoryStore struct {
	mu       sync.Mutex
	subjects map[Ref]*memSubject
	events   map[Ref][]Event
	progress map[Ref]map[string]Progress
	holds    map[string][]Hold // by org
	requests map[string]Request
	reqOrder []string
	consent  []ConsentRecord

	pending      map[string]*memPending // pending audits by ID
	pendingOrder []string               // IDs in release order
}

type memSubject struct {
	s          Subject
	leaseOwner string
	leaseUntil time.Time
	lastRun    string
}

// NewMemoryStore returns an empty in-memory Store, for tests, the
// quickstart and single-process hosts. Everything is lost when the process
// exits.
func NewMemoryStore() Store {
	return &memoryStore{
		subjects: map[Ref]*memSubject{},
		events:   map[Ref][]Event{},
		progress: map[Ref]map[string]Progress{},
		holds:    map[string][]Hold{},
		requests: map[string]Request{},
		pending:  map[string]*memPending{},
	}
}

// Subject implements Store.
func (s *memoryStore) Subject(_ context.Context, org, id string) (Subject, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms, ok := s.subjects[Ref{org, id}]
	if !ok {
		return Subject{}, fmt.Errorf("%w: subject %q", ErrNotFound, id)
	}
	return ms.s, nil
}

// Transition implements Store.
func (s *memoryStore) Transition(_ context.Context, next Subject, from State, ev Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := Ref{next.Org, next.ID}
	ms, ok := s.subjects[ref]
	cur := StateActive
	if ok {
		cur = ms.s.State
	}
	if cur != from {
		return fmt.Errorf("%w: subject %q is %s, not %s", ErrConflict, next.ID, cur, from)
	}
	if ok && ms.leaseOwner != "" {
		return fmt.Errorf("%w: subject %q is being erased by a sweeper", ErrConflict, next.ID)
	}
	if ok && from == StateDeletionRequested && next.State == StateActive && !ev.At.Before(ms.s.EraseAfter) {
		return fmt.Errorf("%w: cooldown of subject %q ended", ErrConflict, next.ID)
	}
	if !ok {
		ms = &memSubject{}
		s.subjects[ref] = ms
	}
	ms.s = next
	s.events[ref] = append(s.events[ref], ev)
	return nil
}

// Events implements Store.
func (s *memoryStore) Events(_ context.Context, org, id string) ([]Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events[Ref{org, id}]...), nil
}

func (s *memoryStore) due(now time.Time) []*memSubject {
	var out []*memSubject
	for _, ms := range s.subjects {
		if !ms.s.NextDue.IsZero() && !ms.s.NextDue.After(now) {
			out = append(out, ms)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].s, out[j].s
		if !a.NextDue.Equal(b.NextDue) {
			return a.NextDue.Before(b.NextDue)
		}
		if a.Org != b.Org {
			return a.Org < b.Org
		}
		return a.ID < b.ID
	})
	return out
}

// ClaimDue implements Store.
func (s *memoryStore) ClaimDue(_ context.Context, c Claim) ([]Subject, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Subject
	for _, ms := range s.due(c.Now) {
		if len(out) >= c.Limit {
			break
		}
		if ms.lastRun == c.Owner || (ms.leaseOwner != "" && c.Now.Before(ms.leaseUntil)) {
			continue
		}
		ms.leaseOwner, ms.leaseUntil, ms.lastRun = c.Owner, c.Now.Add(c.Lease), c.Owner
		out = append(out, ms.s)
	}
	return out, nil
}

// DueSubjects implements Store.
func (s *memoryStore) DueSubjects(_ context.Context, now time.Time, limit int) ([]Subject, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Subject
	for _, ms := range s.due(now) {
		if limit > 0 && len(out) >= limit {
			break
		}
		out = append(out, ms.s)
	}
	return out, nil
}

// Progress implements Store.
func (s *memoryStore) Progress(_ context.Context, refs []Ref) ([]Progress, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Progress
	for _, r := range refs {
		for _, p := range s.progress[r] {
			out = append(out, p)
		}
	}
	return out, nil
}

// SetProgress implements Store.
func (s *memoryStore) SetProgress(_ context.Context, ps []Progress) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		r := Ref{p.Org, p.SubjectID}
		m := s.progress[r]
		if m == nil {
			m = map[string]Progress{}
			s.progress[r] = m
		}
		if m[p.Domain].Phase == PhaseErased {
			continue
		}
		m[p.Domain] = p
	}
	return nil
}

// Release implements Store.
func (s *memoryStore) Release(_ context.Context, owner string, rs []Release) ([]Ref, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var released []Ref
	for _, r := range rs {
		ref := Ref{r.Subject.Org, r.Subject.ID}
		ms, ok := s.subjects[ref]
		if !ok || ms.leaseOwner != owner {
			continue
		}
		ms.s = r.Subject
		ms.leaseOwner, ms.leaseUntil = "", time.Time{}
		if r.Event != nil {
			s.events[ref] = append(s.events[ref], *r.Event)
			if r.AuditID != "" {
				s.pending[r.AuditID] = &memPending{pa: PendingAudit{ID: r.AuditID, Event: *r.Event}}
				s.pendingOrder = append(s.pendingOrder, r.AuditID)
			}
		}
		released = append(released, ref)
	}
	return released, nil
}

// memPending is a pending audit and its claim.
type memPending struct {
	pa         PendingAudit
	owner      string
	leaseUntil time.Time
}

// ClaimPendingAudits implements Store.
func (s *memoryStore) ClaimPendingAudits(_ context.Context, c Claim) ([]PendingAudit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cutoff := c.Now.Add(-c.Lease)
	var out []PendingAudit
	kept := s.pendingOrder[:0]
	for _, id := range s.pendingOrder {
		p, ok := s.pending[id]
		if !ok {
			continue // marked audited
		}
		kept = append(kept, id)
		if len(out) >= c.Limit || p.pa.Event.At.After(cutoff) || (p.owner != "" && c.Now.Before(p.leaseUntil)) {
			continue
		}
		p.owner, p.leaseUntil = c.Owner, c.Now.Add(c.Lease)
		out = append(out, p.pa)
	}
	s.pendingOrder = kept
	sort.SliceStable(out, func(i, j int) bool { return out[i].Event.At.Before(out[j].Event.At) })
	return out, nil
}

// MarkAudited implements Store.
func (s *memoryStore) MarkAudited(_ context.Context, ids []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		delete(s.pending, id)
	}
	return nil
}

// PutHold implements Store.
func (s *memoryStore) PutHold(_ context.Context, h Hold) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holds[h.Org] = append(s.holds[h.Org], h)
	return nil
}

// LiftHold implements Store.
func (s *memoryStore) LiftHold(_ context.Context, org, id string, at time.Time, by string) (Hold, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, h := range s.holds[org] {
		if h.ID == id && h.LiftedAt.IsZero() {
			h.LiftedAt, h.LiftedBy = at, by
			s.holds[org][i] = h
			return h, nil
		}
	}
	return Hold{}, fmt.Errorf("%w: hold %q", ErrNotFound, id)
}

// Holds implements Store.
func (s *memoryStore) Holds(_ context.Context, org string) ([]Hold, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Hold
	for _, h := range s.holds[org] {
		if h.LiftedAt.IsZero() {
			out = append(out, h)
		}
	}
	return out, nil
}

func reqKey(org, id string) string { return org + "\x00" + id }

// PutRequest implements Store.
func (s *memoryStore) PutRequest(_ context.Context, r Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := r.withJurisdiction()
	if err != nil {
		return err
	}
	k := reqKey(r.Org, r.ID)
	if _, ok := s.requests[k]; ok {
		return fmt.Errorf("%w: request %q exists", ErrConflict, r.ID)
	}
	s.reqOrder = append(s.reqOrder, k)
	s.requests[k] = r
	return nil
}

// UpdateRequest implements Store.
func (s *memoryStore) UpdateRequest(_ context.Context, prev, next Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := reqKey(prev.Org, prev.ID)
	cur, ok := s.requests[k]
	if !ok || next.Org != prev.Org || next.ID != prev.ID || cur.Status != prev.Status ||
		cur.IdentityVerified != prev.IdentityVerified || cur.ExtendedReason != prev.ExtendedReason {
		return fmt.Errorf("%w: request %q changed concurrently", ErrConflict, prev.ID)
	}
	cur.IdentityVerified, cur.DueAt, cur.ExtendedReason = next.IdentityVerified, next.DueAt, next.ExtendedReason
	cur.Status, cur.ClosedAt, cur.Resolution = next.Status, next.ClosedAt, next.Resolution
	s.requests[k] = cur
	return nil
}

// Request implements Store.
func (s *memoryStore) Request(_ context.Context, org, id string) (Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[reqKey(org, id)]
	if !ok {
		return Request{}, fmt.Errorf("%w: request %q", ErrNotFound, id)
	}
	return r, nil
}

// Requests implements Store.
func (s *memoryStore) Requests(_ context.Context, org, subjectID string) ([]Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, k := range s.reqOrder {
		if r := s.requests[k]; r.Org == org && r.SubjectID == subjectID {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ReceivedAt.Before(out[j].ReceivedAt) })
	return out, nil
}

// OpenRequestsDueBefore implements Store.
func (s *memoryStore) OpenRequestsDueBefore(_ context.Context, t time.Time) ([]Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, k := range s.reqOrder {
		if r := s.requests[k]; r.Status == RequestOpen && r.DueAt.Before(t) {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].DueAt.Before(out[j].DueAt) })
	return out, nil
}

// AppendConsent implements Store.
func (s *memoryStore) AppendConsent(_ context.Context, c ConsentRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consent = append(s.consent, c)
	return nil
}

// LatestConsent implements Store.
func (s *memoryStore) LatestConsent(_ context.Context, org, who, purpose string) (ConsentRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.consent) - 1; i >= 0; i-- {
		if c := s.consent[i]; c.Org == org && c.Who == who && c.Purpose == purpose {
			return c, nil
		}
	}
	return ConsentRecord{}, fmt.Errorf("%w: consent of %q to %q", ErrNotFound, who, purpose)
}

// ConsentHistory implements Store.
func (s *memoryStore) ConsentHistory(_ context.Context, org, who string) ([]ConsentRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ConsentRecord
	for _, c := range s.consent {
		if c.Org == org && c.Who == who {
			out = append(out, c)
		}
	}
	return out, nil
}
