package keyring_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/stretchr/testify/require"
)

// textTable is an in-memory RowSource over text row IDs, ordered as Go
// orders strings (so "" comes first), with a bound on Next calls so that a
// scan that never moves on fails instead of hanging the test.
type textTable struct {
	mu        sync.Mutex
	rows      map[string][]byte
	nexts     int
	failSwaps int // Swap fails once after this many calls, if > 0
	swaps     int
}

var errLooping = errors.New("the scan does not move on")

func (m *textTable) after(c keyring.Cursor) []string {
	var ids []string
	for id := range m.rows {
		if !c.Started || id > c.ID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (m *textTable) Remaining(_ context.Context, c keyring.Cursor) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.after(c))), nil
}

func (m *textTable) Next(_ context.Context, c keyring.Cursor, limit int) ([]keyring.Row, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nexts++; m.nexts > 100 {
		return nil, errLooping
	}
	var out []keyring.Row
	for _, id := range m.after(c) {
		if len(out) == limit {
			break
		}
		out = append(out, keyring.Row{ID: id, Value: slices.Clone(m.rows[id])})
	}
	return out, nil
}

func (m *textTable) Swap(_ context.Context, swaps []keyring.Swap) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.swaps++; m.failSwaps > 0 && m.swaps > m.failSwaps {
		m.failSwaps = 0
		return 0, errCrash
	}
	var n int64
	for _, s := range swaps {
		if string(m.rows[s.ID]) == string(s.Old) {
			m.rows[s.ID] = s.New
			n++
		}
	}
	return n, nil
}

// TestReencryptEmptyRowID: a text primary key may hold "". The scan reads
// that row once and moves on (it used to read it again for ever, "after
// the empty ID" being taken for "from the start"), and a checkpoint taken
// just after it resumes after it, not from the start.
func TestReencryptEmptyRowID(t *testing.T) {
	t.Parallel()
	ids := []string{"", "a", "b", "c"}
	for _, batch := range []int{1, 2, 3, 10} {
		d := testDoc(t)
		old := testRing(t, d).Field("users", "email")
		tbl := &textTable{rows: map[string][]byte{}}
		for _, id := range ids {
			ct, err := old.Seal(id, []byte("v"+id))
			require.NoError(t, err)
			tbl.rows[id] = ct
		}
		newID, err := d.Rotate("users.email")
		require.NoError(t, err)
		f := testRing(t, d).Field("users", "email")
		res, err := f.Reencrypt(context.Background(), tbl, keyring.ReencryptOptions{BatchSize: batch})
		require.NoError(t, err, "batch %d", batch)
		require.Equal(t, int64(len(ids)), res.Scanned, "batch %d: every row once", batch)
		require.Equal(t, int64(len(ids)), res.Rewritten)
		require.Equal(t, keyring.After("c"), res.Resume)
		for _, id := range ids {
			h, err := keyring.ParseHeader(tbl.rows[id])
			require.NoError(t, err)
			require.Equal(t, newID, h.KeyID)
			pt, err := f.Open(id, tbl.rows[id])
			require.NoError(t, err)
			require.Equal(t, "v"+id, string(pt))
		}
	}

	// Crash right after the batch holding only the empty ID: the checkpoint
	// is "after row \"\"", and resuming from it reads the other rows only.
	d := testDoc(t)
	old := testRing(t, d).Field("users", "email")
	tbl := &textTable{rows: map[string][]byte{}, failSwaps: 1}
	for _, id := range ids {
		ct, err := old.Seal(id, []byte("v"+id))
		require.NoError(t, err)
		tbl.rows[id] = ct
	}
	_, err := d.Rotate("users.email")
	require.NoError(t, err)
	f := testRing(t, d).Field("users", "email")
	var cp keyring.Cursor
	save := func(_ context.Context, c keyring.Cursor) error { cp = c; return nil }
	_, err = f.Reencrypt(context.Background(), tbl, keyring.ReencryptOptions{BatchSize: 1, Checkpoint: save})
	require.ErrorIs(t, err, errCrash)
	require.Equal(t, keyring.Cursor{ID: "", Started: true}, cp)
	require.NotEqual(t, keyring.Cursor{}, cp, "after the empty ID is not the start")
	res, err := f.Reencrypt(context.Background(), tbl, keyring.ReencryptOptions{BatchSize: 1, After: cp, Checkpoint: save})
	require.NoError(t, err)
	require.Equal(t, int64(3), res.Scanned)
	require.Equal(t, int64(3), res.Rewritten)
}

// stuckSource returns the same row whatever the cursor: the engine stops
// with an error instead of looping.
type stuckSource struct{ textTable }

func (s *stuckSource) Next(ctx context.Context, _ keyring.Cursor, limit int) ([]keyring.Row, error) {
	return s.textTable.Next(ctx, keyring.Cursor{}, limit)
}

func TestReencryptStopsOnASourceThatDoesNotMoveOn(t *testing.T) {
	t.Parallel()
	d := testDoc(t)
	f := testRing(t, d).Field("users", "email")
	ct, err := f.Seal("x", []byte("v"))
	require.NoError(t, err)
	src := &stuckSource{textTable{rows: map[string][]byte{"x": ct}}}
	_, err = f.Reencrypt(context.Background(), src, keyring.ReencryptOptions{BatchSize: 1})
	require.ErrorContains(t, err, `returned row "x" again`)
}
