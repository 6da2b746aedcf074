package pgstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/pgstore"
	"github.com/stretchr/testify/require"
)

// boundedSource fails the scan after 100 pages instead of looping for ever.
type boundedSource struct {
	keyring.RowSource
	nexts int
}

func (b *boundedSource) Next(ctx context.Context, c keyring.Cursor, limit int) ([]keyring.Row, error) {
	if b.nexts++; b.nexts > 100 {
		return nil, errors.New("the scan does not move on")
	}
	return b.RowSource.Next(ctx, c, limit)
}

// TestReencryptEmptyRowIDOnPostgres: a text primary key holding the empty string is read
// once and the scan moves on, at every batch size; a checkpoint saved just
// after it resumes after it.
func TestReencryptEmptyRowIDOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := migrated(t)
	_, err := pool.Exec(ctx, `CREATE TABLE notes (id text PRIMARY KEY, body bytea)`)
	require.NoError(t, err)
	d := testDoc(t)
	d.Columns = append(d.Columns, keyring.Column{Table: "notes", Column: "body", Scope: "users.phone"})
	ids := []string{"", "a", "b", "c"}
	for _, batch := range []int{1, 2, 10} {
		r := ring(t, d)
		for _, id := range ids {
			ct, err := r.Field("notes", "body").Seal(id, []byte("v"+id))
			require.NoError(t, err)
			_, err = pool.Exec(ctx, `INSERT INTO notes (id, body) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body`, id, ct)
			require.NoError(t, err)
		}
		newID, err := d.Rotate("users.phone")
		require.NoError(t, err)
		f := ring(t, d).Field("notes", "body")
		store := pgstore.New(pool)
		save := func(ctx context.Context, c keyring.Cursor) error {
			return store.SaveCheckpoint(ctx, "notes", "body", c.ID)
		}
		src := &boundedSource{RowSource: pgstore.NewColumn(pool, "notes", "id", "body")}
		res, err := f.Reencrypt(ctx, &crashing{RowSource: src, n: 1}, keyring.ReencryptOptions{BatchSize: batch, Checkpoint: save})
		if batch < len(ids) {
			require.ErrorContains(t, err, "simulated crash")
			cp, err := store.LoadCheckpoint(ctx, "notes", "body")
			require.NoError(t, err)
			require.True(t, cp.Started)
			if batch == 1 {
				require.Equal(t, keyring.After(""), cp, "after the empty ID, not the start")
			}
			res2, err := f.Reencrypt(ctx, src, keyring.ReencryptOptions{BatchSize: batch, After: cp, Checkpoint: save})
			require.NoError(t, err, "batch %d", batch)
			require.Equal(t, int64(len(ids)-batch), res2.Scanned, "batch %d: the rows after the checkpoint, once", batch)
		} else {
			require.NoError(t, err)
			require.Equal(t, int64(len(ids)), res.Scanned, "batch %d", batch)
		}
		require.NoError(t, store.ClearCheckpoint(ctx, "notes", "body"))
		requireColumn(t, pool, f, `SELECT id, body FROM notes`, newID, func(id string) string { return "v" + id })
	}
}
