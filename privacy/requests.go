package privacy

import (
	"context"
	"fmt"
	"time"
)

// RequestKind is a GDPR data subject right.
type RequestKind string

// The data subject request kinds (GDPR Articles 15 to 21).
const (
	KindAccess        RequestKind = "access"        // Art. 15
	KindRectification RequestKind = "rectification" // Art. 16
	KindErasure       RequestKind = "erasure"       // Art. 17
	KindRestriction   RequestKind = "restriction"   // Art. 18
	KindPortability   RequestKind = "portability"   // Art. 20
	KindObjection     RequestKind = "objection"     // Art. 21
)

// RequestStatus is where a request stands.
type RequestStatus string

// Request statuses.
const (
	RequestOpen      RequestStatus = "open"
	RequestCompleted RequestStatus = "completed"
	RequestRejected  RequestStatus = "rejected"
)

// Request is a data subject request, due by its jurisdiction's deadline
// (Deadline), which may be extended once, with a reason (Requests.Extend).
type Request struct {
	ID               string        `json:"id"`
	Org              string        `json:"org"`
	SubjectID        string        `json:"subject_id"`
	Kind             RequestKind   `json:"kind"`
	Jurisdiction     Jurisdiction  `json:"jurisdiction"`
	ReceivedAt       time.Time     `json:"received_at"`
	IdentityVerified bool          `json:"identity_verified"`
	DueAt            time.Time     `json:"due_at"`
	ExtendedReason   string        `json:"extended_reason,omitempty"`
	Status           RequestStatus `json:"status"`
	ClosedAt         time.Time     `json:"closed_at,omitzero"`
	Resolution       string        `json:"resolution,omitempty"`
}

// jurisdiction is r's jurisdiction; a request stored before jurisdictions
// existed has none and was received under the GDPR.
func (r Request) jurisdiction() Jurisdiction {
	if r.Jurisdiction == "" {
		return GDPR
	}
	return r.Jurisdiction
}

// withJurisdiction returns r with its jurisdiction set (GDPR when empty), or
// ErrInvalid when it names none the package knows. Stores call it in
// PutRequest, so every stored request has a valid jurisdiction.
func (r Request) withJurisdiction() (Request, error) {
	r.Jurisdiction = r.jurisdiction()
	if !r.Jurisdiction.Valid() {
		return r, fmt.Errorf("%w: unknown jurisdiction %q", ErrInvalid, string(r.Jurisdiction))
	}
	return r, nil
}

// Overdue reports whether the request is open past its due date at t.
func (r Request) Overdue(t time.Time) bool { return r.Status == RequestOpen && t.After(r.DueAt) }

func validKind(k RequestKind) bool {
	switch k {
	case KindAccess, KindRectification, KindErasure, KindRestriction, KindPortability, KindObjection:
		return true
	}
	return false
}

// RequestOption sets a property of one request at Requests.Receive.
type RequestOption func(*Request)

// UnderJurisdiction makes the request follow j's deadlines instead of the
// default of its Requests (WithJurisdiction).
func UnderJurisdiction(j Jurisdiction) RequestOption {
	return func(r *Request) { r.Jurisdiction = j }
}

// Requests keeps data subject requests over a RequestStore: receipt with
// the deadline of the request's jurisdiction, identity verification, one
// extension, closing, and the overdue report. It is safe for concurrent
// use.
type Requests struct {
	w            writer[RequestStore]
	now          func() time.Time
	location     *time.Location
	jurisdiction Jurisdiction
}

// NewRequests returns a Requests over store, configured by opts
// (WithClock, WithRecorder, WithLocation, WithJurisdiction). An option out
// of its range is an error wrapping ErrInvalidConfig.
func NewRequests(store RequestStore, opts ...RequestsOption) (*Requests, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidConfig)
	}
	c := requestsConfig{common: common{now: time.Now}, location: time.UTC, jurisdiction: GDPR}
	if err := configure(&c.common, opts, func(o RequestsOption) { o.applyRequests(&c) }); err != nil {
		return nil, err
	}
	return &Requests{w: writer[RequestStore]{store: store, recorder: c.recorder}, now: c.now,
		location: c.location, jurisdiction: c.jurisdiction}, nil
}

// WithStore returns a Requests over s that shares rs's configuration
// (clock, recorder, location, jurisdiction), as Lifecycle.WithStore.
func (rs *Requests) WithStore(s RequestStore) *Requests {
	c := *rs
	c.w.store = s
	return &c
}

// Receive records a new data subject request of subject received now, due
// by its jurisdiction's deadline (the default of rs unless an option says
// otherwise).
func (rs *Requests) Receive(ctx context.Context, subject Ref, kind RequestKind, identityVerified bool, actor string, opts ...RequestOption) (Request, error) {
	org, subjectID := subject.Org, subject.ID
	if err := checkIDs(org, subjectID, actor); err != nil {
		return Request{}, err
	}
	if !validKind(kind) {
		return Request{}, fmt.Errorf("%w: unknown request kind %q", ErrInvalid, string(kind))
	}
	now := rs.now()
	r := Request{ID: newID(), Org: org, SubjectID: subjectID, Kind: kind, Jurisdiction: rs.jurisdiction,
		ReceivedAt: now, IdentityVerified: identityVerified, Status: RequestOpen}
	for _, o := range opts {
		o(&r)
	}
	due, err := Deadline(r.Jurisdiction, now, rs.location, false)
	if err != nil {
		return Request{}, err
	}
	r.DueAt = due
	return rs.store(ctx, nil, r, actor, ActionRequestReceived, map[string]any{
		"kind": string(kind), "subject": subjectID, "identity_verified": identityVerified,
		"jurisdiction": string(r.Jurisdiction), "due_at": r.DueAt.UTC().Format(time.RFC3339Nano)})
}

// store inserts next (prev nil) or stores it in place of *prev, and
// records action with payload, through write.
func (rs *Requests) store(ctx context.Context, prev *Request, next Request, actor, action string, payload map[string]any) (Request, error) {
	stored, err := rs.w.write(ctx, func(s RequestStore) ([]auditRecord, error) {
		var err error
		if prev == nil {
			err = s.PutRequest(ctx, next)
		} else {
			err = s.UpdateRequest(ctx, *prev, next)
		}
		if err != nil {
			return nil, err
		}
		return []auditRecord{{next.Org, actor, action, "request:" + next.ID, payload}}, nil
	})
	if !stored {
		return Request{}, err
	}
	return next, err
}

// VerifyIdentity marks the requester of the request named by req (its
// organisation and ID) as verified, by actor (who checked the identity,
// and so answers for releasing data to the requester), and records it:
// completing a request requires it. Verifying an already verified request
// changes nothing; a closed request cannot be verified.
func (rs *Requests) VerifyIdentity(ctx context.Context, req Ref, actor string) (Request, error) {
	if actor == "" {
		return Request{}, fmt.Errorf("%w: empty actor", ErrInvalid)
	}
	r, err := rs.w.store.Request(ctx, req.Org, req.ID)
	if err != nil {
		return Request{}, err
	}
	if r.IdentityVerified {
		return r, nil
	}
	if r.Status != RequestOpen {
		return r, fmt.Errorf("%w: request is already %s", ErrInvalidTransition, r.Status)
	}
	prev := r
	r.IdentityVerified = true
	return rs.store(ctx, &prev, r, actor, ActionRequestVerified, map[string]any{"kind": string(r.Kind)})
}

// Extend extends an open request's deadline once, with a recorded reason,
// and only before the first deadline has passed: under GDPR and UK GDPR to
// three months after receipt (Art. 12(3)), under CCPA to 90 days
// (§1798.130(a)(2)). See Deadline.
func (rs *Requests) Extend(ctx context.Context, req Ref, actor, reason string) (Request, error) {
	if reason == "" || actor == "" {
		return Request{}, fmt.Errorf("%w: an extension needs an actor and a reason", ErrInvalid)
	}
	r, err := rs.w.store.Request(ctx, req.Org, req.ID)
	if err != nil {
		return Request{}, err
	}
	if r.Status != RequestOpen || r.ExtendedReason != "" {
		return r, fmt.Errorf("%w: request is %s and extended=%t", ErrInvalidTransition, r.Status, r.ExtendedReason != "")
	}
	if rs.now().After(r.DueAt) {
		// Art. 12(3): the subject is told of an extension within the first
		// month; an overdue request cannot be made punctual after the fact.
		return r, fmt.Errorf("%w: the request is already overdue; an extension must be made before %s",
			ErrInvalidTransition, r.DueAt.UTC().Format(time.RFC3339))
	}
	due, err := Deadline(r.jurisdiction(), r.ReceivedAt, rs.location, true)
	if err != nil {
		return r, err
	}
	prev := r
	r.DueAt = due
	r.ExtendedReason = reason
	return rs.store(ctx, &prev, r, actor, ActionRequestExtended, map[string]any{
		"reason": reason, "due_at": r.DueAt.UTC().Format(time.RFC3339Nano)})
}

// Close completes or rejects an open request. Completing a request
// requires a verified identity: answering an unverified requester is how
// personal data leaks to an impostor.
func (rs *Requests) Close(ctx context.Context, req Ref, status RequestStatus, actor, resolution string) (Request, error) {
	if actor == "" || (status != RequestCompleted && status != RequestRejected) {
		return Request{}, fmt.Errorf("%w: close needs an actor and a completed or rejected status", ErrInvalid)
	}
	r, err := rs.w.store.Request(ctx, req.Org, req.ID)
	if err != nil {
		return Request{}, err
	}
	if r.Status != RequestOpen {
		return r, fmt.Errorf("%w: request is already %s", ErrInvalidTransition, r.Status)
	}
	if status == RequestCompleted && !r.IdentityVerified {
		return r, fmt.Errorf("%w: identity of the requester is not verified", ErrInvalidTransition)
	}
	prev := r
	r.Status, r.ClosedAt, r.Resolution = status, rs.now(), resolution
	return rs.store(ctx, &prev, r, actor, ActionRequestClosed, map[string]any{
		"status": string(status), "resolution": resolution})
}

// List lists a subject's requests, oldest first.
func (rs *Requests) List(ctx context.Context, subject Ref) ([]Request, error) {
	return rs.w.store.Requests(ctx, subject.Org, subject.ID)
}

// Overdue lists open requests of every organisation past their due date
// now, most overdue first.
func (rs *Requests) Overdue(ctx context.Context) ([]Request, error) {
	return rs.w.store.OpenRequestsDueBefore(ctx, rs.now())
}
