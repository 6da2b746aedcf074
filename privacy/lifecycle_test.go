package privacy_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/privacy"
)

// TestRestoreAroundCooldown restores a day before the cooldown ends (allowed)
// and a day after (refused), for the default and a configured cooldown.
func TestRestoreAroundCooldown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		cooldown time.Duration
		after    time.Duration
		wantErr  error
	}{
		{"default, a day before", 0, 29 * day, nil},
		{"default, a day after", 0, 31 * day, privacy.ErrCooldownElapsed},
		{"default, the exact end", 0, 30 * day, privacy.ErrCooldownElapsed},
		{"7 days, a day before", 7 * day, 6 * day, nil},
		{"7 days, a day after", 7 * day, 8 * day, privacy.ErrCooldownElapsed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			rec := &recorder{}
			opts := []any{privacy.WithClock(clk.Now), privacy.WithRecorder(rec)}
			if tc.cooldown > 0 {
				opts = append(opts, privacy.WithCooldown(tc.cooldown))
			}
			m := newServices(t, privacy.NewMemoryStore(), opts...)
			s := mustDeletion(t, m.Lifecycle, "u1")
			require.Equal(t, privacy.StateDeletionRequested, s.State)
			clk.Advance(tc.after)
			got, err := m.Restore(context.Background(), privacy.Ref{Org: "org1", ID: "u1"}, "user:admin", "changed my mind")
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				st, err := m.Status(context.Background(), privacy.Ref{Org: "org1", ID: "u1"})
				require.NoError(t, err)
				require.Equal(t, privacy.StateDeletionRequested, st.State, "a refused restore changes nothing")
				require.Equal(t, []string{privacy.ActionDeletionRequested}, rec.actions())
				return
			}
			require.NoError(t, err)
			require.Equal(t, privacy.StateActive, got.State)
			require.Equal(t, []string{privacy.ActionDeletionRequested, privacy.ActionRestored}, rec.actions())
			require.Equal(t, "user:admin", rec.entries[1].actor)
			require.Equal(t, "subject:u1", rec.entries[1].target)
			require.Equal(t, "changed my mind", rec.entries[1].payload["reason"])
		})
	}
}

func TestLifecycleTransitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now))

	_, err := m.Restore(ctx, privacy.Ref{Org: "org1", ID: "u1"}, "user:u1", "")
	require.ErrorIs(t, err, privacy.ErrInvalidTransition, "restore an active subject")
	_, err = m.RequestDeletion(ctx, privacy.Ref{Org: "org1", ID: ""}, "user:u1", "")
	require.ErrorIs(t, err, privacy.ErrInvalid)
	_, err = m.RequestDeletion(ctx, privacy.Ref{Org: "org1", ID: "u1"}, "", "")
	require.ErrorIs(t, err, privacy.ErrInvalid, "the actor is required")

	mustDeletion(t, m.Lifecycle, "u1")
	_, err = m.RequestDeletion(ctx, privacy.Ref{Org: "org1", ID: "u1"}, "user:u1", "again")
	require.ErrorIs(t, err, privacy.ErrInvalidTransition)

	// Request, restore, request again: a fresh cooldown from the new request.
	clk.Advance(10 * day)
	_, err = m.Restore(ctx, privacy.Ref{Org: "org1", ID: "u1"}, "user:u1", "oops")
	require.NoError(t, err)
	clk.Advance(5 * day)
	s := mustDeletion(t, m.Lifecycle, "u1")
	require.Equal(t, clk.Now().Add(privacy.DefaultCooldown), s.EraseAfter)

	hist, err := m.History(ctx, privacy.Ref{Org: "org1", ID: "u1"})
	require.NoError(t, err)
	require.Len(t, hist, 3)
	for _, ev := range hist {
		require.NotEmpty(t, ev.Actor)
	}
	require.Equal(t, "oops", hist[1].Reason)
}

func TestAuditActionsCoverWhatIsRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	rec := &recorder{}
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now), privacy.WithRecorder(rec))
	users := newTable(privacy.Plan{"x": privacy.Delete()}, nil)
	users.insert(map[string]any{"subject": "u1"})
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: users, Exporter: users}))
	mustDeletion(t, m.Lifecycle, "u1")
	h, err := m.PlaceHold(ctx, privacy.Hold{Org: "org1", SubjectID: "u1", Reason: "case 12", Owner: "legal"}, "user:lawyer")
	require.NoError(t, err)
	_, err = m.LiftHold(ctx, privacy.Ref{Org: "org1", ID: h.ID}, "user:lawyer", "case closed")
	require.NoError(t, err)
	r, err := m.Requests.Receive(ctx, privacy.Ref{Org: "org1", ID: "u1"}, privacy.KindAccess, false, "user:u1")
	require.NoError(t, err)
	_, err = m.Requests.VerifyIdentity(ctx, privacy.Ref{Org: "org1", ID: r.ID}, "user:support")
	require.NoError(t, err)
	_, err = m.Requests.Extend(ctx, privacy.Ref{Org: "org1", ID: r.ID}, "user:dpo", "many systems")
	require.NoError(t, err)
	_, err = m.Requests.Close(ctx, privacy.Ref{Org: "org1", ID: r.ID}, privacy.RequestCompleted, "user:dpo", "sent")
	require.NoError(t, err)
	_, err = m.Export(ctx, discard{}, privacy.Ref{Org: "org1", ID: "u1"}, "user:u1")
	require.NoError(t, err)
	clk.Advance(31 * day)
	_, err = m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)

	known := privacy.AuditActions()
	for _, a := range rec.actions() {
		require.Contains(t, known, a)
	}
	for _, e := range rec.entries {
		require.NotEmpty(t, e.actor)
	}
	require.Contains(t, rec.actions(), privacy.ActionErased)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestStrategies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bi := blindIndex{key: []byte("k1")}
	keys := newSubjectKeys()
	sealed := keys.Seal("u1", []byte("alice@example.com"))
	rec := map[string]any{"subject": "u1", "email": sealed, "name": "Alice", "city": "Lyon", "note": "vip"}

	out, drop, err := privacy.Plan{"name": privacy.Replace("deleted user"), "city": privacy.SetNull(),
		"subject": privacy.Pseudonym(bi), "email": privacy.CryptoShred(keys)}.Apply(ctx, "u1", rec)
	require.NoError(t, err)
	require.False(t, drop)
	require.Equal(t, "deleted user", out["name"])
	require.Nil(t, out["city"])
	require.Equal(t, "vip", out["note"], "fields outside the plan are kept")
	require.Equal(t, privacy.PseudonymOf(bi, "u1"), out["subject"])
	require.NotEqual(t, privacy.PseudonymOf(blindIndex{key: []byte("k2")}, "u1"), out["subject"], "keyed")
	require.NotEqual(t, privacy.PseudonymOf(bi, "u2"), out["subject"])
	require.Equal(t, sealed, out["email"], "crypto-shred leaves the ciphertext")
	_, err = keys.Open("u1", sealed)
	require.ErrorIs(t, err, errKeyDestroyed)
	require.Equal(t, "Alice", rec["name"], "the input record is not modified")

	_, drop, err = privacy.Plan{"name": privacy.Delete()}.Apply(ctx, "u1", rec)
	require.NoError(t, err)
	require.True(t, drop)

	for _, bad := range []privacy.Strategy{{}, privacy.Pseudonym(nil), privacy.CryptoShred(nil)} {
		require.ErrorIs(t, bad.Validate(), privacy.ErrInvalid)
		_, _, err := privacy.Plan{"x": bad}.Apply(ctx, "u1", rec)
		require.ErrorIs(t, err, privacy.ErrInvalid)
	}
	secret := privacy.Replace("s3cr3t-value")
	for _, s := range []string{fmt.Sprint(secret), fmt.Sprintf("%v %+v %#v %s", secret, secret, secret, secret)} {
		require.NotContains(t, s, "s3cr3t")
	}
}

func TestRegisterDomain(t *testing.T) {
	t.Parallel()
	m := newServices(t, privacy.NewMemoryStore())
	_, err := m.Sweep(context.Background(), privacy.SweepOptions{})
	require.ErrorIs(t, err, privacy.ErrNoDomains, "a sweep with no eraser would mark subjects erased without erasing")
	require.ErrorIs(t, m.RegisterDomain(privacy.Domain{Name: "users"}), privacy.ErrInvalid)
	ok := privacy.Domain{Name: "users", Eraser: newTable(nil, nil)}
	require.NoError(t, m.RegisterDomain(ok))
	require.ErrorIs(t, m.RegisterDomain(ok), privacy.ErrInvalid)
	require.ErrorIs(t, m.RegisterDomain(privacy.Domain{Name: "x", Eraser: ok.Eraser, Retention: -1}), privacy.ErrInvalid)
	require.Len(t, m.Domains(), 1)
}

func TestRecorderFailureIsReported(t *testing.T) {
	t.Parallel()
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithRecorder(failingRecorder{}))
	_, err := m.RequestDeletion(context.Background(), privacy.Ref{Org: "org1", ID: "u1"}, "user:u1", "")
	require.Error(t, err)
	require.Contains(t, err.Error(), "privacy: record")
}

type failingRecorder struct{}

func (failingRecorder) Record(context.Context, string, string, string, string, map[string]any) error {
	return errors.New("audit down")
}
