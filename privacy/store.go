package privacy

import (
	"context"
	"time"
)

// State is where a data subject is in its lifecycle.
type State string

// The lifecycle states. A subject that the store has never seen is active.
const (
	// StateActive is a normal, visible subject.
	StateActive State = "active"
	// StateDeletionRequested is a soft-deleted subject: the host's login and
	// product views must treat it as gone, but its data still exists and a
	// restore is possible until the cooldown elapses.
	StateDeletionRequested State = "deletion_requested"
	// StateErased is a subject whose data has been erased in every domain,
	// except what a retention class keeps, minimised, until its period ends.
	StateErased State = "erased"
)

// Subject is the lifecycle record of one data subject in one organisation.
type Subject struct {
	Org string
	ID  string
	// State is the lifecycle state.
	State State
	// DeletionRequestedAt is when deletion was last requested.
	DeletionRequestedAt time.Time
	// EraseAfter is the end of the cooldown: restore is refused from then on
	// and the sweeper erases the subject.
	EraseAfter time.Time
	// ErasedAt is when every domain was erased or minimised.
	ErasedAt time.Time
	// NextDue is when the sweeper must next look at the subject (cooldown end,
	// then the end of the earliest retention period); zero when nothing is due.
	NextDue time.Time
}

// Ref names a record of an organisation: a subject (ID is the subject's
// ID), a data subject request or a legal hold (ID is its ID).
type Ref struct{ Org, ID string }

// Event is one lifecycle transition, kept as history for the subject's export
// and sent to the recorder.
type Event struct {
	Org       string    `json:"org"`
	SubjectID string    `json:"subject_id"`
	At        time.Time `json:"at"`
	Action    string    `json:"action"`
	From      State     `json:"from"`
	To        State     `json:"to"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason,omitempty"`
}

// Phase is how far erasure has gone in one domain for one subject.
type Phase string

// Erasure phases, persisted per subject and domain so a sweep that stops
// halfway resumes without redoing or skipping a domain.
const (
	// PhaseMinimised: the domain keeps only its legally required fields
	// until RetainUntil.
	PhaseMinimised Phase = "minimised"
	// PhaseErased: nothing of the subject is left in the domain.
	PhaseErased Phase = "erased"
)

// Progress is the erasure progress of one subject in one domain.
type Progress struct {
	Org         string
	SubjectID   string
	Domain      string
	Phase       Phase
	At          time.Time
	RetainUntil time.Time
}

// Claim asks the store for due subjects, leased to one sweep run.
type Claim struct {
	// Owner identifies the sweep run; a subject attempted by a run is not
	// handed to the same run again.
	Owner string
	Now   time.Time
	// Lease is how long the claim excludes other sweepers.
	Lease time.Duration
	Limit int
}

// Release is the outcome of a claimed subject, written back by the sweeper.
type Release struct {
	Subject Subject
	// Event, if set, is appended to the subject's lifecycle history in the
	// same write.
	Event *Event
	// AuditID, if set with Event, keeps Event pending audit under this ID,
	// in the same write, until MarkAudited: an erasure is committed together
	// with the promise to audit it, so a sweep that dies (or an audit log
	// that fails) between the release and the audit entry leaves a marker
	// the next sweep records.
	AuditID string
}

// PendingAudit is a lifecycle event a sweep released whose audit entry is
// not yet known to be recorded.
type PendingAudit struct {
	// ID is unique per event; the audit entry's payload carries it as
	// "event_id", so an entry recorded twice (a sweep that died after
	// recording and before MarkAudited) is recognisable as one event.
	ID    string `json:"id"`
	Event Event  `json:"event"`
}

// Store keeps the privacy state. NewMemoryStore is the in-memory store;
// privacy/pgstore is the PostgreSQL one; privacytest.TestStore checks both and
// any host adapter. Methods that report a missing row return ErrNotFound.
type Store interface {
	SubjectStore
	HoldStore
	RequestStore
	ConsentStore
}

// LifecycleStore is what a Lifecycle needs of a Store: the subjects'
// records, history and erasure progress, the legal holds, and, for Export,
// the subject's requests and consent history. Every Store is one.
type LifecycleStore interface {
	SubjectStore
	HoldStore
	// Requests lists a subject's requests, oldest first, as
	// RequestStore.Requests.
	Requests(ctx context.Context, org, subjectID string) ([]Request, error)
	// ConsentHistory returns every consent record of who, oldest first, as
	// ConsentStore.ConsentHistory.
	ConsentHistory(ctx context.Context, org, who string) ([]ConsentRecord, error)
}

// SubjectStore keeps lifecycle records, their history and erasure progress.
type SubjectStore interface {
	// Subject returns the subject's record, or ErrNotFound (an active subject
	// the store has never seen).
	Subject(ctx context.Context, org, id string) (Subject, error)
	// Transition writes next if the subject is currently in state from (a
	// missing record counts as active) and, for a restore, only while
	// next's previous cooldown has not elapsed at ev.At; it appends ev in the
	// same write. A subject leased to a sweeper (claimed and not released) is
	// being erased and cannot transition: otherwise a restore that read the
	// clock just before the cooldown ended could succeed while the sweeper
	// erases the data and then overwrites the restored state. Otherwise it
	// returns ErrConflict and writes nothing.
	Transition(ctx context.Context, next Subject, from State, ev Event) error
	// Events returns the subject's lifecycle history, oldest first.
	Events(ctx context.Context, org, id string) ([]Event, error)
	// ClaimDue leases up to c.Limit subjects whose NextDue is at or before
	// c.Now, that no other live lease holds and that c.Owner has not claimed
	// before. Two concurrent callers never receive the same subject.
	ClaimDue(ctx context.Context, c Claim) ([]Subject, error)
	// DueSubjects lists, without claiming, subjects due at now (for reports).
	DueSubjects(ctx context.Context, now time.Time, limit int) ([]Subject, error)
	// Progress returns the erasure progress of the given subjects.
	Progress(ctx context.Context, refs []Ref) ([]Progress, error)
	// SetProgress records progress; an erased domain never goes back.
	SetProgress(ctx context.Context, ps []Progress) error
	// Release writes the outcome of subjects claimed by owner and ends their
	// lease. A subject whose lease owner changed (its lease expired and
	// another sweep claimed it) is left alone. It returns the subjects it
	// released, so the sweeper reports and audits only those: the other
	// sweep reports its own.
	Release(ctx context.Context, owner string, rs []Release) (released []Ref, err error)
	// ClaimPendingAudits leases to c.Owner, for c.Lease, up to c.Limit
	// pending audits whose event happened at or before c.Now minus c.Lease
	// (the sweep that released them has had its lease to record them) and
	// that no live claim holds, oldest first. Two concurrent callers never
	// receive the same pending audit.
	ClaimPendingAudits(ctx context.Context, c Claim) ([]PendingAudit, error)
	// MarkAudited removes the pending audits whose entries were recorded.
	// Unknown IDs are ignored.
	MarkAudited(ctx context.Context, ids []string) error
}

// HoldStore keeps legal holds.
type HoldStore interface {
	PutHold(ctx context.Context, h Hold) error
	// LiftHold marks the hold lifted at the given time and returns it.
	LiftHold(ctx context.Context, org, id string, at time.Time, by string) (Hold, error)
	// Holds returns the organisation's holds that have not been lifted.
	Holds(ctx context.Context, org string) ([]Hold, error)
}

// RequestStore keeps data subject requests.
type RequestStore interface {
	// PutRequest inserts a new request; ErrConflict if (Org, ID) exists.
	PutRequest(ctx context.Context, r Request) error
	// UpdateRequest replaces the stored request prev with next (same Org and
	// ID; only identity verification, due date, extension reason, status,
	// close time and resolution change) if, and only if, the stored one still
	// has prev's status, verification and extension reason; otherwise it
	// returns ErrConflict and writes nothing. So two instances closing or
	// extending the same request at once cannot both succeed.
	UpdateRequest(ctx context.Context, prev, next Request) error
	Request(ctx context.Context, org, id string) (Request, error)
	// Requests lists a subject's requests, oldest first.
	Requests(ctx context.Context, org, subjectID string) ([]Request, error)
	// OpenRequestsDueBefore lists open requests of every organisation whose
	// due date is before t, most overdue first.
	OpenRequestsDueBefore(ctx context.Context, t time.Time) ([]Request, error)
}

// ConsentStore keeps append-only consent history.
type ConsentStore interface {
	AppendConsent(ctx context.Context, c ConsentRecord) error
	// LatestConsent returns the most recent record for (org, who, purpose), or
	// ErrNotFound.
	LatestConsent(ctx context.Context, org, who, purpose string) (ConsentRecord, error)
	// ConsentHistory returns every record of who, oldest first.
	ConsentHistory(ctx context.Context, org, who string) ([]ConsentRecord, error)
}
