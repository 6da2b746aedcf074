package pgstore_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/pgstore"
	"github.com/stretchr/testify/require"
)

// TestReindexEmptyRowIDOnPostgres: a text primary key holding the empty string is
// reindexed once and the scan moves on at every batch size (it used to
// stop with "returned row again" once a batch ended at it).
func TestReindexEmptyRowIDOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := migrated(t)
	_, err := pool.Exec(ctx, `CREATE TABLE members (id text PRIMARY KEY, email bytea, email_idx bytea)`)
	require.NoError(t, err)
	ids := []string{"", "a", "b"}
	for _, batch := range []int{1, 2, 10} {
		d := indexDoc(t)
		r1 := ring(t, d)
		lower := keyring.WithNormalizer(bytes.ToLower)
		idx1, err := r1.BlindIndex("members", "email_idx", lower)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `DELETE FROM members`)
		require.NoError(t, err)
		for _, id := range ids {
			ct, err := r1.Field("members", "email").Seal(id, []byte("M"+id+"@x"))
			require.NoError(t, err)
			_, err = pool.Exec(ctx, `INSERT INTO members VALUES ($1, $2, $3)`, id, ct, idx1.Sum([]byte("M"+id+"@x")))
			require.NoError(t, err)
		}
		_, err = d.Rotate("users.email.idx")
		require.NoError(t, err)
		r2 := ring(t, d)
		idx2, err := r2.BlindIndex("members", "email_idx", lower)
		require.NoError(t, err)
		res, err := idx2.Reindex(ctx, pgstore.NewIndexColumn(pool, "members", "id", "email_idx", "email"),
			keyring.FieldValues(r2.Field("members", "email")), keyring.ReencryptOptions{BatchSize: batch})
		require.NoError(t, err, "batch %d", batch)
		require.Equal(t, int64(len(ids)), res.Rewritten, "batch %d", batch)
		for _, id := range ids {
			var got []byte
			require.NoError(t, pool.QueryRow(ctx, `SELECT email_idx FROM members WHERE id = $1`, id).Scan(&got))
			require.Equal(t, idx2.Sum([]byte("M"+id+"@x")), got, "row %q under the new key", id)
		}
	}
}
