package privacy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/privacy"
)

var errLostConn = errors.New("connection lost")

type failingEraser struct{}

func (failingEraser) Erase(context.Context, privacy.EraseRequest) (privacy.Result, error) {
	return privacy.Result{}, errLostConn
}

// TestSweepErrorWrapsTheEraserError: a subject whose erasure failed makes
// Sweep fail with an error that wraps the eraser's, so that a caller can
// tell a lost connection (pgconn errors, context deadlines) from a bug.
// Before, the eraser's error was flattened to text.
func TestSweepErrorWrapsTheEraserError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := t0
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(func() time.Time { return now }))
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: failingEraser{}}))
	_, err := m.RequestDeletion(ctx, privacy.Ref{Org: "o1", ID: "u1"}, "user:u1", "")
	require.NoError(t, err)
	now = now.Add(31 * 24 * time.Hour)
	rep, err := m.Sweep(ctx, privacy.SweepOptions{})
	require.ErrorIs(t, err, errLostConn)
	require.Len(t, rep.Failed, 1)
	require.Equal(t, errLostConn.Error(), rep.Failed[0].Error)
}
