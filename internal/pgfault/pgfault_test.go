package pgfault_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgfault"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

func TestConnectionLost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("boom"), false},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "57P01", Severity: "FATAL"}, true},
		{fmt.Errorf("store: %w", &pgconn.PgError{Code: "08006"}), true},
		{fmt.Errorf("store: %w", io.ErrUnexpectedEOF), true},
		{fmt.Errorf("a: %w", fmt.Errorf("b: %w", context.DeadlineExceeded)), false},
	} {
		require.Equal(t, tc.want, pgfault.ConnectionLost(tc.err), "%v", tc.err)
	}
}

// TestEachPointKillsOnlyItsOwnBackends: every statement of an operation is
// interrupted once, the last run passes them all, and a connection of
// another pool on the same server survives the kills.
func TestEachPointKillsOnlyItsOwnBackends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	other, err := db.Pool.Acquire(ctx)
	require.NoError(t, err)
	defer other.Release()
	fp := pgfault.New(t, db.URL, 2)
	var killed []int
	points := fp.EachPoint(t, 10, func(ctx context.Context) error {
		if _, err := fp.Pool.Exec(ctx, "SELECT 1"); err != nil {
			return err
		}
		_, err := fp.Pool.Exec(ctx, "SELECT 2")
		return err
	}, func(o pgfault.Outcome) {
		if o.Killed {
			killed = append(killed, o.Point)
			require.True(t, pgfault.ConnectionLost(o.Err), "point %d: %v", o.Point, o.Err)
		} else {
			require.NoError(t, o.Err)
		}
	})
	require.Equal(t, 4, points, "two acquisitions, two statements")
	require.Equal(t, []int{1, 2, 3, 4}, killed)
	require.Equal(t, 4, fp.Kills())
	_, err = other.Exec(ctx, "SELECT 1")
	require.NoError(t, err, "another pool's backend is never killed")

	stop := fp.KillRandomly(5*time.Millisecond, 10*time.Millisecond)
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		_, _ = fp.Pool.Exec(ctx, "SELECT 1")
	}
	require.Positive(t, stop())
	_, err = other.Exec(ctx, "SELECT 1")
	require.NoError(t, err)
}
