// Package privacytest is the conformance suite of privacy.Store: the memory
// store, privacy/pgstore and any host adapter must pass it, the way
// testing/fstest.TestFS checks a file system.
package privacytest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/privacy"
)

// T0 is the suite's base time, whole microseconds so every store keeps it
// exactly.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Option configures TestStore.
type Option func(*suite)

type suite struct {
	concurrent func(t *testing.T) privacy.Store
	sweep      func(t *testing.T) privacy.Store
}

// WithSweepStore gives the subtests that call the sweep's
// cross-organisation operations (Claim, PendingAudits, Progress, and
// Requests, which reads overdue requests of every organisation) their own
// factory; by default they use newStore. A store whose sweep never joins a
// caller's transaction (privacy/pgstore under tenant binding, where it runs
// on a maintenance pool) cannot see that transaction's writes, so a suite
// run on transaction-bound stores passes a pool-bound factory here.
func WithSweepStore(newStore func(t *testing.T) privacy.Store) Option {
	return func(s *suite) { s.sweep = newStore }
}

// WithConcurrentStore gives the subtests that race goroutines on one store
// (ConcurrentClaim, RequestConcurrentClose) their own factory; by default
// they use newStore. A suite run with stores bound to a caller's
// transaction passes a pool-bound factory here: a transaction is one
// connection that runs one statement at a time, so the races these subtests
// stage need two or more sessions, as two application instances have.
func WithConcurrentStore(newStore func(t *testing.T) privacy.Store) Option {
	return func(s *suite) { s.concurrent = newStore }
}

// TestStore runs the conformance suite. newStore must return an empty store
// each call.
func TestStore(t *testing.T, newStore func(t *testing.T) privacy.Store, opts ...Option) {
	cfg := suite{concurrent: newStore, sweep: newStore}
	for _, o := range opts {
		o(&cfg)
	}
	racy, sweep := cfg.concurrent, cfg.sweep
	t.Run("Lifecycle", func(t *testing.T) { t.Parallel(); testLifecycle(t, newStore(t)) })
	t.Run("Claim", func(t *testing.T) { t.Parallel(); testClaim(t, sweep(t)) })
	t.Run("ConcurrentClaim", func(t *testing.T) { t.Parallel(); testConcurrentClaim(t, racy(t)) })
	t.Run("RequestConcurrentClose", func(t *testing.T) { t.Parallel(); testConcurrentClose(t, racy(t)) })
	t.Run("PendingAudits", func(t *testing.T) { t.Parallel(); testPendingAudits(t, sweep(t)) })
	t.Run("Progress", func(t *testing.T) { t.Parallel(); testProgress(t, sweep(t)) })
	t.Run("Holds", func(t *testing.T) { t.Parallel(); testHolds(t, newStore(t)) })
	t.Run("Requests", func(t *testing.T) { t.Parallel(); testRequests(t, sweep(t)) })
	t.Run("Consent", func(t *testing.T) { t.Parallel(); testConsent(t, newStore(t)) })
	t.Run("AuditTx", func(t *testing.T) { t.Parallel(); testAuditTx(t, newStore(t)) })
}

// testAuditTx checks a store that implements privacy.AuditingStore: what
// fn writes through the store it is given is kept when fn returns nil and
// none of it when fn fails, whose error AuditTx returns. (Whether entries
// are recorded is the adapter's own test: the suite has no audit log.)
func testAuditTx(t *testing.T, st privacy.Store) {
	as, ok := st.(privacy.AuditingStore)
	if !ok {
		t.Skip("not a privacy.AuditingStore")
	}
	ctx := context.Background()
	boom := errors.New("privacytest: fn failed")
	err := as.AuditTx(ctx, func(s privacy.Store, _ privacy.Recorder) error {
		require.NoError(t, s.PutHold(ctx, privacy.Hold{ID: "h1", Org: "o", SubjectID: "s1", Reason: "r", Owner: "o", PlacedAt: T0, PlacedBy: "user:x"}))
		sub, ev := requested("o", "s1", T0, time.Hour)
		require.NoError(t, s.Transition(ctx, sub, privacy.StateActive, ev))
		return boom
	})
	require.ErrorIs(t, err, boom)
	hs, err := st.Holds(ctx, "o")
	require.NoError(t, err)
	require.Empty(t, hs, "nothing of a failed fn is kept")
	_, err = st.Subject(ctx, "o", "s1")
	require.ErrorIs(t, err, privacy.ErrNotFound)
	evs, err := st.Events(ctx, "o", "s1")
	require.NoError(t, err)
	require.Empty(t, evs)

	require.NoError(t, as.AuditTx(ctx, func(s privacy.Store, _ privacy.Recorder) error {
		sub, ev := requested("o", "s1", T0, time.Hour)
		return s.Transition(ctx, sub, privacy.StateActive, ev)
	}))
	got, err := st.Subject(ctx, "o", "s1")
	require.NoError(t, err)
	require.Equal(t, privacy.StateDeletionRequested, got.State)
}

func requested(org, id string, at time.Time, cooldown time.Duration) (privacy.Subject, privacy.Event) {
	s := privacy.Subject{Org: org, ID: id, State: privacy.StateDeletionRequested, DeletionRequestedAt: at,
		EraseAfter: at.Add(cooldown), NextDue: at.Add(cooldown)}
	ev := privacy.Event{Org: org, SubjectID: id, At: at, Action: privacy.ActionDeletionRequested,
		From: privacy.StateActive, To: privacy.StateDeletionRequested, Actor: "user:" + id, Reason: "asked"}
	return s, ev
}

func sameTime(t *testing.T, want, got time.Time, msg string) {
	t.Helper()
	require.True(t, want.Equal(got), "%s: want %v, got %v", msg, want, got)
}

// testPendingAudits: a released event with an AuditID stays pending until
// marked audited; it is claimed only once its releasing sweep's lease has
// passed, by one claimant at a time, oldest first; a release the store
// refused (another owner's lease) leaves no marker.
func testPendingAudits(t *testing.T, st privacy.Store) {
	ctx := context.Background()
	lease := 10 * time.Minute
	var evs []privacy.Event
	for _, id := range []string{"u1", "u2", "u3"} {
		s, ev := requested("org1", id, T0, time.Hour)
		require.NoError(t, st.Transition(ctx, s, privacy.StateActive, ev))
	}
	claimed, err := st.ClaimDue(ctx, privacy.Claim{Owner: "run1", Now: T0.Add(2 * time.Hour), Lease: lease, Limit: 10})
	require.NoError(t, err)
	require.Len(t, claimed, 3)
	var rels []privacy.Release
	for i, s := range claimed {
		erased := s
		erased.State, erased.ErasedAt, erased.NextDue = privacy.StateErased, T0.Add(2*time.Hour), time.Time{}
		ev := privacy.Event{Org: s.Org, SubjectID: s.ID, At: T0.Add(2*time.Hour + time.Duration(i)*time.Second),
			Action: privacy.ActionErased, From: privacy.StateDeletionRequested, To: privacy.StateErased,
			Actor: "system:cron/privacy-sweeper", Reason: "cooldown elapsed"}
		evs = append(evs, ev)
		rels = append(rels, privacy.Release{Subject: erased, Event: &evs[i], AuditID: "a-" + s.ID})
	}
	// Another owner's release is refused and leaves no marker.
	rel, err := st.Release(ctx, "intruder", rels[:1])
	require.NoError(t, err)
	require.Empty(t, rel)
	rel, err = st.Release(ctx, "run1", rels)
	require.NoError(t, err)
	require.Len(t, rel, 3)

	claim := func(owner string, now time.Time) []privacy.PendingAudit {
		t.Helper()
		ps, err := st.ClaimPendingAudits(ctx, privacy.Claim{Owner: owner, Now: now, Lease: lease, Limit: 2})
		require.NoError(t, err)
		return ps
	}
	released := T0.Add(2 * time.Hour)
	require.Empty(t, claim("run2", released.Add(lease/2)), "the releasing sweep's lease has not passed")
	later := released.Add(lease + time.Minute)
	first := claim("run2", later)
	require.Len(t, first, 2, "limit")
	require.Equal(t, "a-u1", first[0].ID, "oldest first")
	require.Equal(t, "a-u2", first[1].ID)
	require.Equal(t, "org1", first[0].Event.Org)
	require.Equal(t, "u1", first[0].Event.SubjectID)
	require.Equal(t, privacy.ActionErased, first[0].Event.Action)
	require.Equal(t, "cooldown elapsed", first[0].Event.Reason)
	sameTime(t, evs[0].At, first[0].Event.At, "event time")
	second := claim("run3", later)
	require.Len(t, second, 1, "a live claim keeps other claimants away")
	require.Equal(t, "a-u3", second[0].ID)

	require.NoError(t, st.MarkAudited(ctx, []string{"a-u1", "nope"}))
	again := claim("run4", later.Add(lease+time.Minute))
	require.Len(t, again, 2, "run2's claim expired; a-u1 is gone")
	require.Equal(t, []string{"a-u2", "a-u3"}, []string{again[0].ID, again[1].ID})
	require.NoError(t, st.MarkAudited(ctx, []string{"a-u2", "a-u3"}))
	require.Empty(t, claim("run5", later.Add(3*lease)))
	require.NoError(t, st.MarkAudited(ctx, nil))
}

func testLifecycle(t *testing.T, st privacy.Store) {
	ctx := context.Background()
	_, err := st.Subject(ctx, "org1", "u1")
	require.ErrorIs(t, err, privacy.ErrNotFound)

	s, ev := requested("org1", "u1", T0, time.Hour)
	require.ErrorIs(t, st.Transition(ctx, s, privacy.StateDeletionRequested, ev), privacy.ErrConflict, "missing record is active")
	require.NoError(t, st.Transition(ctx, s, privacy.StateActive, ev))
	require.ErrorIs(t, st.Transition(ctx, s, privacy.StateActive, ev), privacy.ErrConflict, "second request from active")

	got, err := st.Subject(ctx, "org1", "u1")
	require.NoError(t, err)
	require.Equal(t, privacy.StateDeletionRequested, got.State)
	sameTime(t, T0.Add(time.Hour), got.EraseAfter, "erase after")
	sameTime(t, T0.Add(time.Hour), got.NextDue, "next due")
	_, err = st.Subject(ctx, "org2", "u1")
	require.ErrorIs(t, err, privacy.ErrNotFound, "organisations are isolated")

	// Restore after the cooldown is refused by the store itself.
	restore := privacy.Subject{Org: "org1", ID: "u1", State: privacy.StateActive}
	late := privacy.Event{Org: "org1", SubjectID: "u1", At: T0.Add(time.Hour), Action: privacy.ActionRestored,
		From: privacy.StateDeletionRequested, To: privacy.StateActive, Actor: "user:u1"}
	require.ErrorIs(t, st.Transition(ctx, restore, privacy.StateDeletionRequested, late), privacy.ErrConflict)
	early := late
	early.At = T0.Add(time.Hour - time.Second)
	require.NoError(t, st.Transition(ctx, restore, privacy.StateDeletionRequested, early))

	evs, err := st.Events(ctx, "org1", "u1")
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, privacy.ActionDeletionRequested, evs[0].Action)
	require.Equal(t, "asked", evs[0].Reason)
	require.Equal(t, privacy.ActionRestored, evs[1].Action)
	sameTime(t, early.At, evs[1].At, "event time")
	evs, err = st.Events(ctx, "org2", "u1")
	require.NoError(t, err)
	require.Empty(t, evs)

	got, err = st.Subject(ctx, "org1", "u1")
	require.NoError(t, err)
	require.Equal(t, privacy.StateActive, got.State)
	require.True(t, got.NextDue.IsZero())
}

func ids(ss []privacy.Subject) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Org + "/" + s.ID
	}
	return out
}

func testClaim(t *testing.T, st privacy.Store) {
	ctx := context.Background()
	for i, id := range []string{"a", "b", "c"} {
		s, ev := requested("org1", id, T0.Add(time.Duration(i)*time.Minute), time.Hour)
		require.NoError(t, st.Transition(ctx, s, privacy.StateActive, ev))
	}
	s, ev := requested("org2", "a", T0, 10*time.Hour) // not due yet
	require.NoError(t, st.Transition(ctx, s, privacy.StateActive, ev))

	now := T0.Add(time.Hour + 90*time.Second) // a and b due
	due, err := st.DueSubjects(ctx, now, 0)
	require.NoError(t, err)
	require.Equal(t, []string{"org1/a", "org1/b"}, ids(due))

	got, err := st.ClaimDue(ctx, privacy.Claim{Owner: "run1", Now: now, Lease: time.Minute, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, []string{"org1/a"}, ids(got), "oldest due first")
	got2, err := st.ClaimDue(ctx, privacy.Claim{Owner: "run2", Now: now, Lease: time.Minute, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"org1/b"}, ids(got2), "a leased subject is not handed out twice")
	none, err := st.ClaimDue(ctx, privacy.Claim{Owner: "run1", Now: now, Lease: time.Minute, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, none)

	// A leased subject is being erased: a restore that read the clock before
	// the cooldown ended (a slow instance, or one that read it just before
	// the claim) must not succeed behind the sweeper's back.
	restore := privacy.Subject{Org: "org1", ID: "a", State: privacy.StateActive}
	early := privacy.Event{Org: "org1", SubjectID: "a", At: T0, Action: privacy.ActionRestored,
		From: privacy.StateDeletionRequested, To: privacy.StateActive, Actor: "user:a"}
	require.ErrorIs(t, st.Transition(ctx, restore, privacy.StateDeletionRequested, early), privacy.ErrConflict,
		"a subject leased to a sweeper cannot be restored")
	cur, err := st.Subject(ctx, "org1", "a")
	require.NoError(t, err)
	require.Equal(t, privacy.StateDeletionRequested, cur.State)

	// A release by someone who does not hold the lease is ignored.
	erased := got[0]
	erased.State, erased.NextDue, erased.ErasedAt = privacy.StateErased, time.Time{}, now
	rel, err := st.Release(ctx, "run2", []privacy.Release{{Subject: erased}})
	require.NoError(t, err)
	require.Empty(t, rel, "nothing released by a run that holds no lease")
	cur, err = st.Subject(ctx, "org1", "a")
	require.NoError(t, err)
	require.Equal(t, privacy.StateDeletionRequested, cur.State)

	ev2 := privacy.Event{Org: "org1", SubjectID: "a", At: now, Action: privacy.ActionErased,
		From: privacy.StateDeletionRequested, To: privacy.StateErased, Actor: "system:cron/privacy-sweeper"}
	rel, err = st.Release(ctx, "run1", []privacy.Release{{Subject: erased, Event: &ev2}})
	require.NoError(t, err)
	require.Equal(t, []privacy.Ref{{Org: "org1", ID: "a"}}, rel)
	cur, err = st.Subject(ctx, "org1", "a")
	require.NoError(t, err)
	require.Equal(t, privacy.StateErased, cur.State)
	require.True(t, cur.NextDue.IsZero())
	evs, err := st.Events(ctx, "org1", "a")
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, privacy.ActionErased, evs[1].Action)

	// b's lease, run2's, expires: a new run may take it; run2 released
	// nothing, so b is still due.
	later := now.Add(2 * time.Minute)
	got3, err := st.ClaimDue(ctx, privacy.Claim{Owner: "run3", Now: later, Lease: time.Minute, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"org1/b", "org1/c"}, ids(got3))
	// Released unchanged (failed or held): due again, but not for the same run.
	rel, err = st.Release(ctx, "run3", []privacy.Release{{Subject: got3[0]}, {Subject: got3[1]}})
	require.NoError(t, err)
	require.ElementsMatch(t, []privacy.Ref{{Org: "org1", ID: "b"}, {Org: "org1", ID: "c"}}, rel)
	again, err := st.ClaimDue(ctx, privacy.Claim{Owner: "run3", Now: later, Lease: time.Minute, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, again, "a run never claims a subject twice")
	again, err = st.ClaimDue(ctx, privacy.Claim{Owner: "run4", Now: later, Lease: time.Minute, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"org1/b", "org1/c"}, ids(again))
}

func testConcurrentClaim(t *testing.T, st privacy.Store) {
	ctx := context.Background()
	const n = 60
	for i := range n {
		s, ev := requested("org1", fmt.Sprintf("s%03d", i), T0, time.Hour)
		require.NoError(t, st.Transition(ctx, s, privacy.StateActive, ev))
	}
	now := T0.Add(2 * time.Hour)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := st.ClaimDue(ctx, privacy.Claim{Owner: fmt.Sprintf("w%d", w), Now: now, Lease: time.Hour, Limit: 7})
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, s := range got {
					seen[s.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, seen, n, "every due subject claimed")
	for id, c := range seen {
		require.Equal(t, 1, c, "subject %s claimed %d times", id, c)
	}
}

func testProgress(t *testing.T, st privacy.Store) {
	ctx := context.Background()
	ps := []privacy.Progress{
		{Org: "o", SubjectID: "s1", Domain: "users", Phase: privacy.PhaseErased, At: T0},
		{Org: "o", SubjectID: "s1", Domain: "invoices", Phase: privacy.PhaseMinimised, At: T0, RetainUntil: T0.AddDate(7, 0, 0)},
		{Org: "o", SubjectID: "s2", Domain: "users", Phase: privacy.PhaseMinimised, At: T0},
	}
	require.NoError(t, st.SetProgress(ctx, ps))
	// An erased domain never goes back to minimised.
	require.NoError(t, st.SetProgress(ctx, []privacy.Progress{{Org: "o", SubjectID: "s1", Domain: "users", Phase: privacy.PhaseMinimised, At: T0}}))
	require.NoError(t, st.SetProgress(ctx, []privacy.Progress{{Org: "o", SubjectID: "s2", Domain: "users", Phase: privacy.PhaseErased, At: T0}}))
	got, err := st.Progress(ctx, []privacy.Ref{{Org: "o", ID: "s1"}, {Org: "o", ID: "s2"}, {Org: "x", ID: "s1"}})
	require.NoError(t, err)
	m := map[string]privacy.Progress{}
	for _, p := range got {
		m[p.SubjectID+"/"+p.Domain] = p
	}
	require.Len(t, m, 3)
	require.Equal(t, privacy.PhaseErased, m["s1/users"].Phase)
	require.Equal(t, privacy.PhaseMinimised, m["s1/invoices"].Phase)
	sameTime(t, T0.AddDate(7, 0, 0), m["s1/invoices"].RetainUntil, "retain until")
	require.Equal(t, privacy.PhaseErased, m["s2/users"].Phase)
}

func testHolds(t *testing.T, st privacy.Store) {
	ctx := context.Background()
	h1 := privacy.Hold{ID: "h1", Org: "o", SubjectID: "s1", Reason: "litigation", Owner: "legal", PlacedAt: T0, PlacedBy: "user:lawyer"}
	h2 := privacy.Hold{ID: "h2", Org: "o", Domain: "invoices", Reason: "tax audit", Owner: "finance", PlacedAt: T0, PlacedBy: "user:cfo", Until: T0.AddDate(0, 6, 0)}
	h3 := privacy.Hold{ID: "h3", Org: "other", SubjectID: "s1", Reason: "x", Owner: "y", PlacedAt: T0, PlacedBy: "user:z"}
	for _, h := range []privacy.Hold{h1, h2, h3} {
		require.NoError(t, st.PutHold(ctx, h))
	}
	hs, err := st.Holds(ctx, "o")
	require.NoError(t, err)
	require.Len(t, hs, 2)
	lifted, err := st.LiftHold(ctx, "o", "h1", T0.Add(time.Hour), "user:lawyer")
	require.NoError(t, err)
	require.Equal(t, "litigation", lifted.Reason)
	sameTime(t, T0.Add(time.Hour), lifted.LiftedAt, "lifted at")
	require.Equal(t, "user:lawyer", lifted.LiftedBy)
	_, err = st.LiftHold(ctx, "o", "h1", T0.Add(time.Hour), "user:lawyer")
	require.ErrorIs(t, err, privacy.ErrNotFound, "a hold is lifted once")
	_, err = st.LiftHold(ctx, "o", "h3", T0, "user:x")
	require.ErrorIs(t, err, privacy.ErrNotFound, "holds of another organisation")
	hs, err = st.Holds(ctx, "o")
	require.NoError(t, err)
	require.Len(t, hs, 1)
	require.Equal(t, "h2", hs[0].ID)
	require.Equal(t, "invoices", hs[0].Domain)
	sameTime(t, T0.AddDate(0, 6, 0), hs[0].Until, "until")
}

func testRequests(t *testing.T, st privacy.Store) {
	ctx := context.Background()
	r1 := privacy.Request{ID: "r1", Org: "o", SubjectID: "s1", Kind: privacy.KindAccess, ReceivedAt: T0, DueAt: T0.AddDate(0, 1, 0), Status: privacy.RequestOpen}
	r2 := privacy.Request{ID: "r2", Org: "o", SubjectID: "s1", Kind: privacy.KindErasure, ReceivedAt: T0.Add(time.Hour), DueAt: T0.Add(time.Hour).AddDate(0, 1, 0), Status: privacy.RequestOpen}
	r3 := privacy.Request{ID: "r3", Org: "p", SubjectID: "s9", Kind: privacy.KindObjection, Jurisdiction: privacy.CCPA, ReceivedAt: T0.Add(-24 * time.Hour), DueAt: T0.Add(-24*time.Hour).AddDate(0, 1, 0), Status: privacy.RequestOpen}
	for _, r := range []privacy.Request{r1, r2, r3} {
		require.NoError(t, st.PutRequest(ctx, r))
	}
	bad := r3
	bad.ID, bad.Jurisdiction = "r4", "mars"
	require.ErrorIs(t, st.PutRequest(ctx, bad), privacy.ErrInvalid, "an unknown jurisdiction is refused")
	got3, err := st.Request(ctx, "p", "r3")
	require.NoError(t, err)
	require.Equal(t, privacy.CCPA, got3.Jurisdiction, "the jurisdiction is kept")
	_, err = st.Request(ctx, "p", "r1")
	require.ErrorIs(t, err, privacy.ErrNotFound)
	require.ErrorIs(t, st.PutRequest(ctx, r1), privacy.ErrConflict, "a request is inserted once")
	prev := r1
	r1.IdentityVerified = true
	r1.ExtendedReason = "complex"
	r1.DueAt = T0.AddDate(0, 3, 0)
	require.NoError(t, st.UpdateRequest(ctx, prev, r1))
	require.ErrorIs(t, st.UpdateRequest(ctx, prev, r1), privacy.ErrConflict, "an update from a stale read is refused")
	other := r1
	other.Org = "p"
	require.ErrorIs(t, st.UpdateRequest(ctx, other, other), privacy.ErrConflict, "requests of another organisation")

	got, err := st.Request(ctx, "o", "r1")
	require.NoError(t, err)
	require.True(t, got.IdentityVerified)
	require.Equal(t, "complex", got.ExtendedReason)
	require.Equal(t, privacy.GDPR, got.Jurisdiction, "a request stored without a jurisdiction is under the GDPR")
	sameTime(t, T0.AddDate(0, 3, 0), got.DueAt, "due")

	list, err := st.Requests(ctx, "o", "s1")
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "r1", list[0].ID)

	over, err := st.OpenRequestsDueBefore(ctx, T0.AddDate(0, 1, 0).Add(2*time.Hour))
	require.NoError(t, err)
	require.Len(t, over, 2, "r1 was extended")
	require.Equal(t, "r3", over[0].ID, "most overdue first")
	require.Equal(t, "r2", over[1].ID)

	// Two closings from the same read: the second is refused (raced by
	// testConcurrentClose).
	closed := r2
	closed.Status, closed.ClosedAt, closed.Resolution = privacy.RequestCompleted, T0.Add(2*time.Hour), "sent"
	require.NoError(t, st.UpdateRequest(ctx, r2, closed))
	require.ErrorIs(t, st.UpdateRequest(ctx, r2, closed), privacy.ErrConflict)
	over, err = st.OpenRequestsDueBefore(ctx, T0.AddDate(1, 0, 0))
	require.NoError(t, err)
	require.Len(t, over, 2)
	require.Equal(t, []string{"r3", "r1"}, []string{over[0].ID, over[1].ID})
}

// testConcurrentClose: instances closing the same request at once, exactly
// one wins.
func testConcurrentClose(t *testing.T, st privacy.Store) {
	ctx := context.Background()
	for i := range 3 {
		r := privacy.Request{ID: fmt.Sprint("r", i), Org: "o", SubjectID: "s1", Kind: privacy.KindErasure, ReceivedAt: T0,
			DueAt: T0.AddDate(0, 1, 0), Status: privacy.RequestOpen}
		require.NoError(t, st.PutRequest(ctx, r))
		closed := r
		closed.Status, closed.ClosedAt, closed.Resolution = privacy.RequestCompleted, T0.Add(2*time.Hour), "sent"
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if err := st.UpdateRequest(ctx, r, closed); err == nil {
					wins.Add(1)
				} else if !errors.Is(err, privacy.ErrConflict) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		require.Equal(t, int32(1), wins.Load())
	}
}

func testConsent(t *testing.T, st privacy.Store) {
	ctx := context.Background()
	_, err := st.LatestConsent(ctx, "o", "visitor:v1", "analytics")
	require.True(t, errors.Is(err, privacy.ErrNotFound))
	recs := []privacy.ConsentRecord{
		{Org: "o", Who: "visitor:v1", Purpose: "analytics", Granted: true, Version: 1, At: T0, Source: "banner"},
		{Org: "o", Who: "visitor:v1", Purpose: "marketing", Granted: true, Version: 2, At: T0.Add(time.Second), Source: "banner"},
		{Org: "o", Who: "visitor:v1", Purpose: "analytics", Granted: false, Version: 1, At: T0.Add(2 * time.Second), Source: "settings"},
		{Org: "p", Who: "visitor:v1", Purpose: "analytics", Granted: true, Version: 1, At: T0.Add(3 * time.Second), Source: "banner"},
	}
	for _, c := range recs {
		require.NoError(t, st.AppendConsent(ctx, c))
	}
	c, err := st.LatestConsent(ctx, "o", "visitor:v1", "analytics")
	require.NoError(t, err)
	require.False(t, c.Granted)
	require.Equal(t, "settings", c.Source)
	c, err = st.LatestConsent(ctx, "o", "visitor:v1", "marketing")
	require.NoError(t, err)
	require.True(t, c.Granted)
	require.Equal(t, 2, c.Version)
	// Same timestamp: the later append wins.
	require.NoError(t, st.AppendConsent(ctx, privacy.ConsentRecord{Org: "o", Who: "visitor:v1", Purpose: "analytics", Granted: true, Version: 1, At: T0.Add(2 * time.Second), Source: "banner"}))
	c, err = st.LatestConsent(ctx, "o", "visitor:v1", "analytics")
	require.NoError(t, err)
	require.True(t, c.Granted)
	h, err := st.ConsentHistory(ctx, "o", "visitor:v1")
	require.NoError(t, err)
	require.Len(t, h, 4)
	require.Equal(t, "banner", h[0].Source)
	require.Equal(t, "settings", h[2].Source)
	sameTime(t, T0.Add(time.Second), h[1].At, "history order")
}
