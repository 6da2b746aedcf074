package pgstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgfault"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/pgstore"
)

// TestFaultReencrypt kills the backend at every statement of a key
// rotation's re-encryption (counting, reading a batch, the conditional
// swap, saving the checkpoint): no panic; the run fails with an error that
// says the connection was lost; and resuming from the saved checkpoint
// leaves every row under the new key with its plaintext intact.
func TestFaultReencrypt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	pool := db.Pool
	d := testDoc(t)
	const n = 25
	setup(t, pool, ring(t, d), n)
	original := map[string][]byte{} // the rows under the old key, restored before each run
	rows, err := pool.Query(ctx, `SELECT id::text, email FROM users WHERE email IS NOT NULL`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		var v []byte
		require.NoError(t, rows.Scan(&id, &v))
		original[id] = v
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, original)
	newID, _ := d.Rotate("users.email")
	email := ring(t, d).Field("users", "email")
	clean := pgstore.New(pool)
	fp := pgfault.New(t, db.URL, 2)
	faulty := pgstore.New(fp.Pool)
	faultyCol := pgstore.NewColumn(fp.Pool, "users", "id", "email")
	cleanCol := pgstore.NewColumn(pool, "users", "id", "email")
	text := func(id string) string { return "user" + id + "@example.com" }

	fp.EachPoint(t, 100, func(ctx context.Context) error {
		for id, v := range original {
			_, err := pool.Exec(ctx, `UPDATE users SET email = $2 WHERE id = $1::bigint`, id, v)
			require.NoError(t, err)
		}
		require.NoError(t, clean.ClearCheckpoint(ctx, "users", "email"))
		_, err := email.Reencrypt(ctx, faultyCol, keyring.ReencryptOptions{BatchSize: 10,
			Checkpoint: func(ctx context.Context, after keyring.Cursor) error {
				return faulty.SaveCheckpoint(ctx, "users", "email", after.ID)
			}})
		return err
	}, func(o pgfault.Outcome) {
		if o.Err != nil {
			require.True(t, o.Killed, "an error without a kill: %v", o.Err)
			require.True(t, pgfault.ConnectionLost(o.Err), "point %d: %v", o.Point, o.Err)
		}
		cp, err := clean.LoadCheckpoint(ctx, "users", "email")
		require.NoError(t, err)
		_, err = email.Reencrypt(ctx, cleanCol, keyring.ReencryptOptions{BatchSize: 10, After: cp})
		require.NoError(t, err, "point %d: resume from %q", o.Point, cp)
		requireColumn(t, pool, email, `SELECT id::text, email FROM users WHERE email IS NOT NULL`, newID, text)
		var c int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE email IS NOT NULL`).Scan(&c))
		require.Equal(t, len(original), c, fmt.Sprint("point ", o.Point))
	})
}
