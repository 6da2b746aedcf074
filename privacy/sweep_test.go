package privacy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/privacy"
)

// TestCryptoShredMakesBackupUnreadable erases a subject with crypto-shredding
// and shows that a copy of the table taken before the erasure (a "backup")
// can no longer be decrypted, while other subjects' data still can.
func TestCryptoShredMakesBackupUnreadable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	keys := newSubjectKeys()
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now))
	users := newTable(privacy.Plan{"email": privacy.CryptoShred(keys), "name": privacy.Replace("deleted user")}, nil)
	for _, id := range []string{"u1", "u2"} {
		users.insert(map[string]any{"subject": id, "name": "name of " + id, "email": keys.Seal(id, []byte(id+"@example.com"))})
	}
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: users}))

	backup := users.snapshot() // taken while u1 is still readable
	pt, err := keys.Open("u1", backup[0]["email"].([]byte))
	require.NoError(t, err)
	require.Equal(t, "u1@example.com", string(pt))

	mustDeletion(t, m.Lifecycle, "u1")
	clk.Advance(30*day + 1)
	rep, err := m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Erased)

	_, err = keys.Open("u1", backup[0]["email"].([]byte))
	require.ErrorIs(t, err, errKeyDestroyed, "the backup's copy is unreadable")
	_, err = keys.Open("u1", users.of("u1")[0]["email"].([]byte))
	require.ErrorIs(t, err, errKeyDestroyed)
	require.Equal(t, "deleted user", users.of("u1")[0]["name"])
	pt, err = keys.Open("u2", backup[1]["email"].([]byte))
	require.NoError(t, err, "other subjects are untouched")
	require.Equal(t, "u2@example.com", string(pt))
	st, err := m.Status(ctx, privacy.Ref{Org: "org1", ID: "u1"})
	require.NoError(t, err)
	require.Equal(t, privacy.StateErased, st.State)
}

// TestInvoiceRetention: an invoice under a 7-year retention class keeps only
// its required fields at erasure, and is erased when the period ends.
func TestInvoiceRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	rec := &recorder{}
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now), privacy.WithRecorder(rec))
	users := newTable(privacy.Plan{"row": privacy.Delete()}, nil)
	users.insert(map[string]any{"subject": "u1", "email": "a@example.com"})
	invoices := newTable(privacy.Plan{"row": privacy.Delete()},
		privacy.Plan{"name": privacy.SetNull(), "address": privacy.Replace("")})
	invoices.insert(map[string]any{"subject": "u1", "number": "INV-7", "amount": 120, "date": "2026-01-02", "name": "Alice", "address": "1 rue X"})
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: users}))
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "invoices", Eraser: invoices, Retention: 7 * 365 * day}))

	mustDeletion(t, m.Lifecycle, "u1")
	clk.Advance(31 * day)
	rep, err := m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Erased)
	require.Equal(t, 1, rep.DomainsMinimised)
	require.Empty(t, users.of("u1"))
	inv := invoices.of("u1")
	require.Len(t, inv, 1)
	require.Equal(t, map[string]any{"subject": "u1", "number": "INV-7", "amount": 120, "date": "2026-01-02", "name": nil, "address": ""}, inv[0])
	st, err := m.Status(ctx, privacy.Ref{Org: "org1", ID: "u1"})
	require.NoError(t, err)
	require.Equal(t, privacy.StateErased, st.State)
	require.Equal(t, clk.Now().Add(7*365*day), st.NextDue)

	// A day before the period ends: nothing to do.
	clk.Advance(7*365*day - day)
	rep, err = m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Zero(t, rep.Claimed)
	require.Len(t, invoices.of("u1"), 1)

	clk.Advance(2 * day)
	rep, err = m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, rep.RetentionErased)
	require.Empty(t, invoices.of("u1"))
	require.Equal(t, 1, users.callsOf("u1"), "the users domain is not erased again")
	st, err = m.Status(ctx, privacy.Ref{Org: "org1", ID: "u1"})
	require.NoError(t, err)
	require.True(t, st.NextDue.IsZero())
	require.Contains(t, rec.actions(), privacy.ActionRetentionErased)
	hist, err := m.History(ctx, privacy.Ref{Org: "org1", ID: "u1"})
	require.NoError(t, err)
	require.Equal(t, privacy.ActionRetentionErased, hist[len(hist)-1].Action)

	rep, err = m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Zero(t, rep.Claimed, "nothing is left to do")
}

// TestHoldBlocksErasure: a hold on the subject blocks erasure; lifting it lets
// the next sweep proceed. A hold on one domain blocks only that domain.
func TestHoldBlocksErasure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	rec := &recorder{}
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now), privacy.WithRecorder(rec))
	users := newTable(privacy.Plan{"row": privacy.Delete()}, nil)
	leads := newTable(privacy.Plan{"row": privacy.Delete()}, nil)
	for _, id := range []string{"u1", "u2"} {
		users.insert(map[string]any{"subject": id})
		leads.insert(map[string]any{"subject": id})
	}
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: users}))
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "leads", Eraser: leads}))

	_, err := m.PlaceHold(ctx, privacy.Hold{Org: "org1", Reason: "x", Owner: "y"}, "user:lawyer")
	require.ErrorIs(t, err, privacy.ErrInvalid, "a hold on everything is refused")
	_, err = m.PlaceHold(ctx, privacy.Hold{Org: "org1", SubjectID: "u1"}, "user:lawyer")
	require.ErrorIs(t, err, privacy.ErrInvalid, "reason and owner are required")

	hold, err := m.PlaceHold(ctx, privacy.Hold{Org: "org1", SubjectID: "u1", Reason: "litigation 2026-14", Owner: "legal@example.com"}, "user:lawyer")
	require.NoError(t, err)
	dhold, err := m.PlaceHold(ctx, privacy.Hold{Org: "org1", Domain: "leads", Reason: "regulator inquiry", Owner: "dpo"}, "user:dpo")
	require.NoError(t, err)
	mustDeletion(t, m.Lifecycle, "u1")
	mustDeletion(t, m.Lifecycle, "u2")
	clk.Advance(31 * day)

	rep, err := m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Equal(t, 2, rep.Held)
	require.Zero(t, rep.Erased)
	require.Len(t, users.of("u1"), 1, "the subject hold blocks every domain")
	require.Empty(t, users.of("u2"), "the domain hold does not block other domains")
	require.Len(t, leads.of("u2"), 1)
	for _, id := range []string{"u1", "u2"} {
		st, err := m.Status(ctx, privacy.Ref{Org: "org1", ID: id})
		require.NoError(t, err)
		require.Equal(t, privacy.StateDeletionRequested, st.State)
	}

	// Still held at the next sweep.
	rep, err = m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Equal(t, 2, rep.Held)

	_, err = m.LiftHold(ctx, privacy.Ref{Org: "org1", ID: hold.ID}, "user:lawyer", "settled")
	require.NoError(t, err)
	_, err = m.LiftHold(ctx, privacy.Ref{Org: "org1", ID: dhold.ID}, "user:dpo", "closed")
	require.NoError(t, err)
	_, err = m.LiftHold(ctx, privacy.Ref{Org: "org1", ID: dhold.ID}, "user:dpo", "closed")
	require.ErrorIs(t, err, privacy.ErrNotFound)

	rep, err = m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Equal(t, 2, rep.Erased)
	require.Empty(t, users.snapshot())
	require.Empty(t, leads.snapshot())
	require.Equal(t, 1, users.callsOf("u2"), "u2's users domain was not redone")

	acts := rec.actions()
	require.Contains(t, acts, privacy.ActionHoldPlaced)
	require.Contains(t, acts, privacy.ActionHoldLifted)
	active, err := m.ActiveHolds(ctx, "org1")
	require.NoError(t, err)
	require.Empty(t, active)
}

func TestHoldWithEndExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now))
	users := newTable(privacy.Plan{"row": privacy.Delete()}, nil)
	users.insert(map[string]any{"subject": "u1"})
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: users}))
	_, err := m.PlaceHold(ctx, privacy.Hold{Org: "org1", SubjectID: "u1", Reason: "r", Owner: "o", Until: t0.Add(40 * day)}, "user:l")
	require.NoError(t, err)
	mustDeletion(t, m.Lifecycle, "u1")
	clk.Advance(31 * day)
	rep, err := m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Held)
	clk.Advance(10 * day)
	rep, err = m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Erased)
}

// TestSweepResumesAfterFailure kills a sweep halfway (the second of three
// domains fails, then panics) and shows the next sweep finishes without
// redoing the first domain or skipping any.
func TestSweepResumesAfterFailure(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"error", "panic"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clk := newClock()
			hb := &heartbeat{}
			m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now), privacy.WithHeartbeat(hb))
			d1 := newTable(privacy.Plan{"row": privacy.Delete()}, nil)
			d2 := newTable(privacy.Plan{"row": privacy.Delete()}, nil)
			d3 := newTable(privacy.Plan{"row": privacy.Delete()}, nil)
			broken := true
			d2.fail = func(subject string, call int) error {
				if broken && subject == "u1" {
					if mode == "panic" {
						panic("disk on fire")
					}
					return errors.New("connection reset")
				}
				return nil
			}
			for _, d := range []*table{d1, d2, d3} {
				for _, id := range []string{"u1", "u2"} {
					d.insert(map[string]any{"subject": id})
				}
			}
			for i, d := range []*table{d1, d2, d3} {
				require.NoError(t, m.RegisterDomain(privacy.Domain{Name: []string{"users", "leads", "events"}[i], Eraser: d}))
			}
			mustDeletion(t, m.Lifecycle, "u1")
			mustDeletion(t, m.Lifecycle, "u2")
			clk.Advance(31 * day)

			rep, err := m.Sweep(ctx, privacy.SweepOptions{BatchSize: 1})
			require.Error(t, err)
			require.Len(t, rep.Failed, 1)
			require.Equal(t, "leads", rep.Failed[0].Domain)
			require.Equal(t, 1, rep.Erased, "the other subject is not held back")
			require.Equal(t, 1, d1.callsOf("u1"))
			require.Equal(t, 1, d2.callsOf("u1"))
			require.Zero(t, d3.callsOf("u1"), "domains after the failed one wait, in order")
			require.Equal(t, []string{"start privacy-sweeper", "fail privacy-sweeper"}, hb.events)
			st, err := m.Status(ctx, privacy.Ref{Org: "org1", ID: "u1"})
			require.NoError(t, err)
			require.Equal(t, privacy.StateDeletionRequested, st.State)

			broken = false
			rep, err = m.Sweep(ctx, privacy.SweepOptions{})
			require.NoError(t, err)
			require.Equal(t, 1, rep.Erased)
			require.Equal(t, 1, d1.callsOf("u1"), "the first domain is not redone")
			require.Equal(t, 2, d2.callsOf("u1"))
			require.Equal(t, 1, d3.callsOf("u1"), "no domain is skipped")
			require.Equal(t, 1, d1.callsOf("u2"))
			for _, d := range []*table{d1, d2, d3} {
				require.Empty(t, d.snapshot())
			}
			require.Equal(t, "succeed privacy-sweeper", hb.events[len(hb.events)-1])
		})
	}
}

func TestSweepBatchesAndLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now))
	users := newTable(privacy.Plan{"row": privacy.Delete()}, nil)
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: users}))
	for _, id := range ids(25) {
		users.insert(map[string]any{"subject": id})
		mustDeletion(t, m.Lifecycle, id)
	}
	clk.Advance(31 * day)
	_, err := m.Sweep(ctx, privacy.SweepOptions{MaxSubjects: -1})
	require.ErrorIs(t, err, privacy.ErrInvalid, "a sweep that would do nothing must not report success")
	rep, err := m.Sweep(ctx, privacy.SweepOptions{BatchSize: 4, MaxSubjects: 10})
	require.NoError(t, err)
	require.Equal(t, 10, rep.Erased)
	rep, err = m.Sweep(ctx, privacy.SweepOptions{BatchSize: 4})
	require.NoError(t, err)
	require.Equal(t, 15, rep.Erased)
	require.Empty(t, users.snapshot())
	for _, id := range ids(25) {
		require.Equal(t, 1, users.callsOf(id))
	}
}

// TestRestoreRaceWithSweep: a restore just before the cooldown keeps the
// subject; the sweep at the end of the cooldown erases only those still due.
func TestSweepIgnoresRestored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now))
	users := newTable(privacy.Plan{"row": privacy.Delete()}, nil)
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: users}))
	users.insert(map[string]any{"subject": "u1"})
	mustDeletion(t, m.Lifecycle, "u1")
	clk.Advance(29 * day)
	_, err := m.Restore(ctx, privacy.Ref{Org: "org1", ID: "u1"}, "user:u1", "")
	require.NoError(t, err)
	clk.Advance(2 * day)
	rep, err := m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Zero(t, rep.Claimed)
	require.Len(t, users.snapshot(), 1)
}

// TestSweepAfterCrashedSweeper simulates a sweeper process killed after its
// first domain: it holds the lease and left progress for one domain. Until
// the lease ends no other sweep touches the subject; after it, the next
// sweep finishes the remaining domains only.
func TestSweepAfterCrashedSweeper(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	st := privacy.NewMemoryStore()
	m := newServices(t, st, privacy.WithClock(clk.Now))
	d1 := newTable(privacy.Plan{"row": privacy.Delete()}, nil)
	d2 := newTable(privacy.Plan{"row": privacy.Delete()}, nil)
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: d1}))
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "leads", Eraser: d2}))
	d1.insert(map[string]any{"subject": "u1"})
	d2.insert(map[string]any{"subject": "u1"})
	mustDeletion(t, m.Lifecycle, "u1")
	clk.Advance(31 * day)

	// The crashed run: claimed u1, erased "users", died before the rest.
	claimed, err := st.ClaimDue(ctx, privacy.Claim{Owner: "dead-run", Now: clk.Now(), Lease: 10 * time.Minute, Limit: 10})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	_, err = d1.Erase(ctx, privacy.EraseRequest{Org: "org1", SubjectID: "u1", Domain: "users"})
	require.NoError(t, err)
	require.NoError(t, st.SetProgress(ctx, []privacy.Progress{{Org: "org1", SubjectID: "u1", Domain: "users", Phase: privacy.PhaseErased, At: clk.Now()}}))

	rep, err := m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Zero(t, rep.Claimed, "the dead run's lease still holds")

	clk.Advance(11 * time.Minute)
	rep, err = m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Erased)
	require.Equal(t, 1, d1.callsOf("u1"), "users is not redone")
	require.Equal(t, 1, d2.callsOf("u1"), "leads is not skipped")
	require.Empty(t, d2.snapshot())
}

// TestSweepWithExpiredLeaseReportsOnce: a sweep whose batch outlives its
// lease loses the subject to a second sweep. Only the sweep that releases
// the subject counts and audits its erasure, so the audit trail shows one
// erasure, not two.
func TestSweepWithExpiredLeaseReportsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	st := privacy.NewMemoryStore()
	rec := &recorder{}
	slow := newServices(t, st, privacy.WithClock(clk.Now), privacy.WithRecorder(rec))
	fast := newServices(t, st, privacy.WithClock(clk.Now), privacy.WithRecorder(rec))
	var fastRep privacy.SweepReport
	stall := privacy.EraserFunc(func(ctx context.Context, _ privacy.EraseRequest) (privacy.Result, error) {
		clk.Advance(11 * time.Minute) // the slow sweep's 10-minute lease runs out...
		var err error
		fastRep, err = fast.Sweep(ctx, privacy.SweepOptions{}) // ...and another sweep takes the subject
		return privacy.Result{Records: 1}, err
	})
	plain := privacy.EraserFunc(func(context.Context, privacy.EraseRequest) (privacy.Result, error) {
		return privacy.Result{Records: 1}, nil
	})
	require.NoError(t, slow.RegisterDomain(privacy.Domain{Name: "users", Eraser: stall}))
	require.NoError(t, fast.RegisterDomain(privacy.Domain{Name: "users", Eraser: plain}))
	mustDeletion(t, slow.Lifecycle, "u1")
	clk.Advance(31 * day)

	slowRep, err := slow.Sweep(ctx, privacy.SweepOptions{Lease: 10 * time.Minute})
	require.NoError(t, err)
	require.Equal(t, 1, fastRep.Erased, "the sweep that took over erases and reports the subject")
	require.Zero(t, slowRep.Erased, "the sweep that lost its lease does not report it again")
	n := 0
	for _, a := range rec.actions() {
		if a == privacy.ActionErased {
			n++
		}
	}
	require.Equal(t, 1, n, "one erasure, one audit entry")
	evs, err := slow.History(ctx, privacy.Ref{Org: "org1", ID: "u1"})
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, privacy.ActionErased, evs[1].Action)
}

// ctxHeartbeat, like a heartbeat over the network, cannot report with a
// cancelled context.
type ctxHeartbeat struct{ heartbeat }

func (h *ctxHeartbeat) Fail(ctx context.Context, job string, cause error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return h.heartbeat.Fail(ctx, job, cause)
}

// TestCancelledSweepReportsFailure: a sweep killed by its context (a
// deploy, a timeout) still tells the heartbeat it failed.
func TestCancelledSweepReportsFailure(t *testing.T) {
	t.Parallel()
	hb := &ctxHeartbeat{}
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithHeartbeat(hb))
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: newTable(privacy.Plan{"row": privacy.Delete()}, nil)}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.Sweep(ctx, privacy.SweepOptions{})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, []string{"start privacy-sweeper", "fail privacy-sweeper"}, hb.events)
}
