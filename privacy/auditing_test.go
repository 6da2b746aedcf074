package privacy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/privacy"
)

// auditingStore is a memory store that records audit entries "in its
// transaction": entries recorded in AuditTx are kept only if fn succeeds.
// It does not undo the store writes of a failed fn (the memory store has
// no transactions); privacy/pgstore's tests check that part.
type auditingStore struct {
	privacy.Store
	on   bool
	rec  recorder
	fail error // if set, every Record in AuditTx fails with it
	txs  int
}

func (s *auditingStore) RecordsAudit() bool { return s.on }

func (s *auditingStore) AuditTx(ctx context.Context, fn func(privacy.Store, privacy.Recorder) error) error {
	s.txs++
	staged := &recorder{}
	var rec privacy.Recorder = staged
	if s.fail != nil {
		rec = downRecorder{s.fail}
	}
	if err := fn(s.Store, rec); err != nil {
		return err
	}
	s.rec.entries = append(s.rec.entries, staged.entries...)
	return nil
}

type downRecorder struct{ err error }

func (r downRecorder) Record(context.Context, string, string, string, string, map[string]any) error {
	return r.err
}

// A store that records audit entries gets every entry a Lifecycle and a Requests record,
// in the transaction of the write it describes, and their Recorder
// none; a sweep's erasure leaves no pending marker. A store that says it
// does not record keeps today's path through the Recorder.
func TestAuditingStoreRecordsInsteadOfRecorder(t *testing.T) {
	t.Parallel()
	want := []string{
		privacy.ActionDeletionRequested, privacy.ActionRestored, privacy.ActionDeletionRequested,
		privacy.ActionHoldPlaced, privacy.ActionHoldLifted,
		privacy.ActionRequestReceived, privacy.ActionRequestVerified, privacy.ActionRequestExtended, privacy.ActionRequestClosed,
		privacy.ActionErased, privacy.ActionSweepCompleted,
	}
	for _, on := range []bool{true, false} {
		t.Run(map[bool]string{true: "records", false: "does not record"}[on], func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clk := newClock()
			store := &auditingStore{Store: privacy.NewMemoryStore(), on: on}
			mrec := &recorder{}
			m := newServices(t, store, privacy.WithClock(clk.Now), privacy.WithRecorder(mrec))
			users := newTable(privacy.Plan{"name": privacy.Replace("deleted user")}, nil)
			users.insert(map[string]any{"subject": "u1", "name": "Ada"})
			require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: users}))

			mustDeletion(t, m.Lifecycle, "u1")
			_, err := m.Restore(ctx, privacy.Ref{Org: "org1", ID: "u1"}, "user:admin", "mistake")
			require.NoError(t, err)
			mustDeletion(t, m.Lifecycle, "u1")
			h, err := m.PlaceHold(ctx, privacy.Hold{Org: "org1", SubjectID: "u1", Reason: "case 7", Owner: "legal"}, "user:legal")
			require.NoError(t, err)
			_, err = m.LiftHold(ctx, privacy.Ref{Org: "org1", ID: h.ID}, "user:legal", "case closed")
			require.NoError(t, err)
			r, err := m.Requests.Receive(ctx, privacy.Ref{Org: "org1", ID: "u1"}, privacy.KindErasure, false, "user:dpo")
			require.NoError(t, err)
			_, err = m.Requests.VerifyIdentity(ctx, privacy.Ref{Org: "org1", ID: r.ID}, "user:dpo")
			require.NoError(t, err)
			_, err = m.Requests.Extend(ctx, privacy.Ref{Org: "org1", ID: r.ID}, "user:dpo", "complex")
			require.NoError(t, err)
			_, err = m.Requests.Close(ctx, privacy.Ref{Org: "org1", ID: r.ID}, privacy.RequestCompleted, "user:dpo", "erased")
			require.NoError(t, err)
			clk.Advance(30*day + 1)
			rep, err := m.Sweep(ctx, privacy.SweepOptions{})
			require.NoError(t, err)
			require.Equal(t, 1, rep.Erased)
			pending, err := store.ClaimPendingAudits(ctx, privacy.Claim{Owner: "check", Now: clk.Now().Add(365 * day), Lease: day, Limit: 10})
			require.NoError(t, err)

			if !on {
				require.Equal(t, want, mrec.actions())
				require.Empty(t, store.rec.entries)
				require.Zero(t, store.txs)
				require.Empty(t, pending, "recorded after the release, then marked")
				return
			}
			require.Equal(t, want, store.rec.actions())
			require.Empty(t, mrec.entries, "never recorded a second time")
			require.Empty(t, pending, "no marker: the entry commits with the release")
			erased := store.rec.entries[len(want)-2]
			require.Equal(t, "subject:u1", erased.target)
			require.NotEmpty(t, erased.payload["event_id"])
		})
	}
}

// When the store cannot record the entry, the write it describes fails
// with it: the Lifecycle reports the recording error and returns what it
// would return for a refused write.
func TestAuditingStoreRecordFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	down := errors.New("outbox unavailable")
	store := &auditingStore{Store: privacy.NewMemoryStore(), on: true, fail: down}
	mrec := &recorder{}
	m := newServices(t, store, privacy.WithClock(newClock().Now), privacy.WithRecorder(mrec))

	s, err := m.RequestDeletion(ctx, privacy.Ref{Org: "org1", ID: "u1"}, "user:u1", "")
	require.ErrorIs(t, err, down)
	require.ErrorContains(t, err, privacy.ActionDeletionRequested)
	require.Equal(t, privacy.StateActive, s.State, "the subject as it was")
	h, err := m.PlaceHold(ctx, privacy.Hold{Org: "org1", SubjectID: "u1", Reason: "r", Owner: "o"}, "user:legal")
	require.ErrorIs(t, err, down)
	require.Zero(t, h)
	r, err := m.Requests.Receive(ctx, privacy.Ref{Org: "org1", ID: "u1"}, privacy.KindAccess, true, "user:dpo")
	require.ErrorIs(t, err, down)
	require.Zero(t, r)
	require.Empty(t, mrec.entries, "no fallback to the Recorder")
}

// WithStore shares the configuration (clock, cooldown, recorder, the
// domains registered so far) over another store.
func TestWithStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	rec := &recorder{}
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now), privacy.WithRecorder(rec), privacy.WithCooldown(7*day))
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: newTable(nil, nil)}))
	other := privacy.NewMemoryStore()
	c := m.WithStore(other)

	s, err := c.RequestDeletion(ctx, privacy.Ref{Org: "org1", ID: "u1"}, "user:u1", "")
	require.NoError(t, err)
	got, err := other.Subject(ctx, "org1", "u1")
	require.NoError(t, err)
	require.Equal(t, privacy.StateDeletionRequested, got.State, "the copy writes to the other store")
	require.Equal(t, t0.Add(7*day), s.EraseAfter, "clock and cooldown shared")
	require.Equal(t, []string{privacy.ActionDeletionRequested}, rec.actions(), "recorder shared")
	st, err := m.Status(ctx, privacy.Ref{Org: "org1", ID: "u1"})
	require.NoError(t, err)
	require.Equal(t, privacy.StateActive, st.State, "the original's store is untouched")

	require.Len(t, c.Domains(), 1)
	require.NoError(t, c.RegisterDomain(privacy.Domain{Name: "more", Eraser: newTable(nil, nil)}))
	require.Len(t, m.Domains(), 1, "a domain registered on the copy stays there")
}

// Requests.WithStore shares the clock, recorder, location and
// jurisdiction; Consent.WithStore the clock and the purposes, also those
// registered later.
func TestRequestsAndConsentWithStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	rec := &recorder{}
	la, err := time.LoadLocation("America/Los_Angeles")
	require.NoError(t, err)
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now), privacy.WithRecorder(rec),
		privacy.WithLocation(la), privacy.WithJurisdiction(privacy.CCPA))
	other := privacy.NewMemoryStore()
	u1 := privacy.Ref{Org: "org1", ID: "u1"}

	rq := m.Requests.WithStore(other)
	r, err := rq.Receive(ctx, u1, privacy.KindAccess, true, "user:u1")
	require.NoError(t, err)
	require.Equal(t, privacy.CCPA, r.Jurisdiction, "jurisdiction shared")
	require.Equal(t, la, r.DueAt.Location(), "location shared")
	require.True(t, r.ReceivedAt.Equal(t0), "clock shared")
	require.Equal(t, []string{privacy.ActionRequestReceived}, rec.actions(), "recorder shared")
	got, err := m.Requests.List(ctx, u1)
	require.NoError(t, err)
	require.Empty(t, got, "the original's store is untouched")
	got, err = rq.List(ctx, u1)
	require.NoError(t, err)
	require.Len(t, got, 1)

	cs := m.Consent.WithStore(other)
	require.NoError(t, m.Consent.RegisterPurpose(privacy.Purpose{Name: "news", Version: 1}))
	c, err := cs.Grant(ctx, "org1", "subject:u1", "news", "form")
	require.NoError(t, err, "a purpose registered later on the original is seen by the copy")
	require.True(t, c.At.Equal(t0), "clock shared")
	ok, err := m.Consent.Allowed(ctx, "org1", "subject:u1", "news")
	require.NoError(t, err)
	require.False(t, ok, "the original's store is untouched")
	ok, err = cs.Allowed(ctx, "org1", "subject:u1", "news")
	require.NoError(t, err)
	require.True(t, ok)
}

// BenchmarkWithStore is the per-request cost of a Lifecycle over a store
// bound to the host's transaction.
func BenchmarkWithStore(b *testing.B) {
	m := newServices(b, privacy.NewMemoryStore())
	other := privacy.NewMemoryStore()
	b.ReportAllocs()
	for b.Loop() {
		sink = m.WithStore(other)
	}
}

// sink keeps the benchmarked Lifecycle on the heap, as a request keeps it.
var sink *privacy.Lifecycle
