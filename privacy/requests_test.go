package privacy_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/privacy"
)

func TestRequestsDueExtendOverdue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	rec := &recorder{}
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now), privacy.WithRecorder(rec))

	kinds := []privacy.RequestKind{privacy.KindAccess, privacy.KindPortability, privacy.KindRectification,
		privacy.KindErasure, privacy.KindRestriction, privacy.KindObjection}
	var reqs []privacy.Request
	for _, k := range kinds {
		r, err := m.Requests.Receive(ctx, privacy.Ref{Org: "org1", ID: "u1"}, k, false, "user:support")
		require.NoError(t, err)
		require.Equal(t, endOfDay(2026, time.February, 5, time.UTC), r.DueAt, "one month, to the end of the day")
		require.Equal(t, privacy.GDPR, r.Jurisdiction, "the default jurisdiction")
		require.Equal(t, privacy.RequestOpen, r.Status)
		reqs = append(reqs, r)
	}
	_, err := m.Requests.Receive(ctx, privacy.Ref{Org: "org1", ID: "u1"}, "gossip", true, "user:support")
	require.ErrorIs(t, err, privacy.ErrInvalid)

	// Completing before identity verification is refused.
	_, err = m.Requests.Close(ctx, privacy.Ref{Org: "org1", ID: reqs[0].ID}, privacy.RequestCompleted, "user:dpo", "sent")
	require.ErrorIs(t, err, privacy.ErrInvalidTransition)
	_, err = m.Requests.VerifyIdentity(ctx, privacy.Ref{Org: "org1", ID: reqs[0].ID}, "")
	require.ErrorIs(t, err, privacy.ErrInvalid, "who verified the identity is recorded")
	_, err = m.Requests.VerifyIdentity(ctx, privacy.Ref{Org: "org1", ID: reqs[0].ID}, "user:support")
	require.NoError(t, err)
	require.Contains(t, rec.actions(), privacy.ActionRequestVerified)
	_, err = m.Requests.Close(ctx, privacy.Ref{Org: "org1", ID: reqs[0].ID}, privacy.RequestCompleted, "user:dpo", "sent")
	require.NoError(t, err)
	_, err = m.Requests.Close(ctx, privacy.Ref{Org: "org1", ID: reqs[0].ID}, privacy.RequestRejected, "user:dpo", "")
	require.ErrorIs(t, err, privacy.ErrInvalidTransition, "closed once")
	_, err = m.Requests.Close(ctx, privacy.Ref{Org: "org1", ID: reqs[5].ID}, privacy.RequestRejected, "user:dpo", "compelling legitimate grounds")
	require.NoError(t, err, "a rejection needs no verified identity")

	_, err = m.Requests.Extend(ctx, privacy.Ref{Org: "org1", ID: reqs[1].ID}, "user:dpo", "")
	require.ErrorIs(t, err, privacy.ErrInvalid, "an extension needs a reason")
	ext, err := m.Requests.Extend(ctx, privacy.Ref{Org: "org1", ID: reqs[1].ID}, "user:dpo", "data spread over 14 systems")
	require.NoError(t, err)
	require.Equal(t, endOfDay(2026, time.April, 5, time.UTC), ext.DueAt)
	_, err = m.Requests.Extend(ctx, privacy.Ref{Org: "org1", ID: reqs[1].ID}, "user:dpo", "again")
	require.ErrorIs(t, err, privacy.ErrInvalidTransition, "extended once")

	over, err := m.Requests.Overdue(ctx)
	require.NoError(t, err)
	require.Empty(t, over)
	clk.Advance(32 * 24 * time.Hour)
	over, err = m.Requests.Overdue(ctx)
	require.NoError(t, err)
	require.Len(t, over, 3, "rectification, erasure, restriction: not the closed or extended ones")
	for _, r := range over {
		require.True(t, r.Overdue(clk.Now()))
	}
	_, err = m.Requests.Extend(ctx, privacy.Ref{Org: "org1", ID: over[0].ID}, "user:dpo", "we forgot")
	require.ErrorIs(t, err, privacy.ErrInvalidTransition, "an overdue request cannot be extended after the fact")
	over, err = m.Requests.Overdue(ctx)
	require.NoError(t, err)
	require.Len(t, over, 3)
	_, err = m.Requests.VerifyIdentity(ctx, privacy.Ref{Org: "org1", ID: reqs[5].ID}, "user:support")
	require.ErrorIs(t, err, privacy.ErrInvalidTransition, "a closed request is not verified afterwards")
	_, err = m.Requests.VerifyIdentity(ctx, privacy.Ref{Org: "org1", ID: "nope"}, "user:support")
	require.ErrorIs(t, err, privacy.ErrNotFound)
	list, err := m.Requests.List(ctx, privacy.Ref{Org: "org1", ID: "u1"})
	require.NoError(t, err)
	require.Len(t, list, 6)
	require.Contains(t, rec.actions(), privacy.ActionRequestExtended)
}
