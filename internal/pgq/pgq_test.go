package pgq_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgq"
)

// TestNilTx: a nil transaction is a Querier whose every method fails with
// an error matching pgx.ErrTxClosed, as a finished transaction's do, and
// whose results are safe to use (close, iterate, scan) before the error is
// checked.
func TestNilTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := pgq.Tx(nil)
	require.NotNil(t, q)

	_, err := q.Exec(ctx, "SELECT 1")
	require.ErrorIs(t, err, pgx.ErrTxClosed)

	rows, err := q.Query(ctx, "SELECT 1")
	require.ErrorIs(t, err, pgx.ErrTxClosed)
	require.False(t, rows.Next())
	require.ErrorIs(t, rows.Err(), pgx.ErrTxClosed)
	_, err = pgx.CollectRows(rows, pgx.RowTo[int])
	require.ErrorIs(t, err, pgx.ErrTxClosed)

	var n int
	require.ErrorIs(t, q.QueryRow(ctx, "SELECT 1").Scan(&n), pgx.ErrTxClosed)

	_, err = q.Begin(ctx)
	require.ErrorIs(t, err, pgx.ErrTxClosed)
	require.ErrorIs(t, pgx.BeginFunc(ctx, q, func(pgx.Tx) error { t.Fatal("ran without a transaction"); return nil }), pgx.ErrTxClosed)

	b := &pgx.Batch{}
	b.Queue("SELECT 1")
	br := q.SendBatch(ctx, b)
	_, err = br.Exec()
	require.ErrorIs(t, err, pgx.ErrTxClosed)
	_, err = br.Query()
	require.ErrorIs(t, err, pgx.ErrTxClosed)
	require.ErrorIs(t, br.QueryRow().Scan(&n), pgx.ErrTxClosed)
	require.ErrorIs(t, br.Close(), pgx.ErrTxClosed)

	require.ErrorIs(t, pgq.ErrNilTx, pgx.ErrTxClosed)
}
