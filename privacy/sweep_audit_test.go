package privacy_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/privacy"
)

// flakyRecorder fails every erasure record while down, like an audit log
// that is briefly unreachable; it keeps what it recorded.
type flakyRecorder struct {
	recorder
	mu   sync.Mutex
	down bool
	okN  int // erasure records accepted before going down (when >= 0)
}

var errAuditDown = errors.New("audit log unreachable")

func (r *flakyRecorder) Record(ctx context.Context, org, actor, action, target string, payload map[string]any) error {
	r.mu.Lock()
	if action == privacy.ActionErased {
		if r.okN == 0 {
			r.down = true
		}
		if r.down {
			r.mu.Unlock()
			return errAuditDown
		}
		r.okN--
	}
	r.mu.Unlock()
	return r.recorder.Record(ctx, org, actor, action, target, payload)
}

func (r *flakyRecorder) up() { r.mu.Lock(); r.down, r.okN = false, -1; r.mu.Unlock() }

// erasedEventIDs returns, per subject, the event IDs of its erasure entries.
func (r *flakyRecorder) erasedEventIDs() map[string][]string {
	r.recorder.mu.Lock()
	defer r.recorder.mu.Unlock()
	out := map[string][]string{}
	for _, e := range r.entries {
		if e.action == privacy.ActionErased {
			out[e.target] = append(out[e.target], fmt.Sprint(e.payload["event_id"]))
		}
	}
	return out
}

// lostRelease commits a Release and then reports an error, as when the
// connection dies after COMMIT was sent: the sweep cannot tell the erasure
// committed, and records nothing.
type lostRelease struct {
	privacy.Store
	mu   sync.Mutex
	lose bool
}

func (s *lostRelease) Release(ctx context.Context, owner string, rs []privacy.Release) ([]privacy.Ref, error) {
	refs, err := s.Store.Release(ctx, owner, rs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.lose {
		s.lose = false
		return nil, errors.New("conn closed")
	}
	return refs, err
}

// TestErasureIsAuditedDespiteFaults: an erasure committed by a sweep whose
// audit entry could not be recorded (the audit log was down, or the sweep
// lost its connection right after the release committed) is recorded by the
// next sweep, exactly once per subject.
func TestErasureIsAuditedDespiteFaults(t *testing.T) {
	t.Parallel()
	const n = 5
	lease := 10 * time.Minute
	faults := []struct {
		name      string
		fault     func(rec *flakyRecorder, st *lostRelease)
		recovered int // entries the next sweep records
	}{
		{"audit log down from the first entry", func(rec *flakyRecorder, _ *lostRelease) { rec.okN = 0 }, n},
		{"audit log down after two entries", func(rec *flakyRecorder, _ *lostRelease) { rec.okN = 2 }, n - 2},
		{"release committed, outcome lost", func(_ *flakyRecorder, st *lostRelease) { st.lose = true }, n},
	}
	for _, tc := range faults {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clk := newClock()
			rec := &flakyRecorder{okN: -1}
			st := &lostRelease{Store: privacy.NewMemoryStore()}
			m := newServices(t, st, privacy.WithClock(clk.Now), privacy.WithRecorder(rec))
			users := newTable(privacy.Plan{"row": privacy.Delete()}, nil)
			require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: users}))
			for _, id := range ids(n) {
				users.insert(map[string]any{"subject": id})
				mustDeletion(t, m.Lifecycle, id)
			}
			clk.Advance(31 * day)

			tc.fault(rec, st)
			_, err := m.Sweep(ctx, privacy.SweepOptions{Lease: lease})
			require.Error(t, err, "the sweep says it did not finish")
			for _, id := range ids(n) {
				s, err := m.Status(ctx, privacy.Ref{Org: "org1", ID: id})
				require.NoError(t, err)
				require.Equal(t, privacy.StateErased, s.State, "the erasure itself committed")
			}
			rec.up()

			// Within the releasing sweep's lease the markers are left alone.
			rep, err := m.Sweep(ctx, privacy.SweepOptions{Lease: lease})
			require.NoError(t, err)
			require.Zero(t, rep.AuditsRecovered)

			clk.Advance(lease + time.Second)
			rep, err = m.Sweep(ctx, privacy.SweepOptions{Lease: lease})
			require.NoError(t, err)
			got := rec.erasedEventIDs()
			require.Len(t, got, n, "every erased subject is audited")
			for target, evIDs := range got {
				require.Len(t, evIDs, 1, "%s is audited once", target)
				require.NotEmpty(t, evIDs[0])
			}
			require.Equal(t, tc.recovered, rep.AuditsRecovered)

			clk.Advance(lease + time.Second)
			rep, err = m.Sweep(ctx, privacy.SweepOptions{Lease: lease})
			require.NoError(t, err)
			require.Zero(t, rep.AuditsRecovered, "nothing is recorded twice")
			require.Len(t, rec.erasedEventIDs(), n)
		})
	}
}
