package keyring_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/stretchr/testify/require"
)

func sealAll(t *testing.T, f *keyring.Field, tbl *memTable, n int, text bool) {
	t.Helper()
	for i := 1; i <= n; i++ {
		id := strconv.Itoa(i)
		if text {
			s, err := f.SealText(id, []byte("value-"+id))
			require.NoError(t, err)
			tbl.set(i, []byte(s))
		} else {
			ct, err := f.Seal(id, []byte("value-"+id))
			require.NoError(t, err)
			tbl.set(i, ct)
		}
	}
}

func requireAllUnder(t *testing.T, f *keyring.Field, tbl *memTable, n int, id uint32, want func(i int) string) {
	t.Helper()
	for i := 1; i <= n; i++ {
		v := tbl.get(i)
		h, err := keyring.ParseHeader(v)
		require.NoError(t, err)
		require.Equal(t, id, h.KeyID, "row %d", i)
		pt, err := f.Open(strconv.Itoa(i), v)
		require.NoError(t, err)
		require.Equal(t, want(i), string(pt))
	}
}

func TestReencrypt(t *testing.T) {
	t.Parallel()
	for _, text := range []bool{false, true} {
		d := testDoc(t)
		tbl := newMemTable()
		sealAll(t, testRing(t, d).Field("users", "email"), tbl, 250, text)
		newID, _ := d.Rotate("users.email")
		f := testRing(t, d).Field("users", "email")
		var progress []keyring.Progress
		res, err := f.Reencrypt(context.Background(), tbl, keyring.ReencryptOptions{BatchSize: 100,
			Progress: func(p keyring.Progress) { progress = append(progress, p) }})
		require.NoError(t, err)
		require.Equal(t, int64(250), res.Scanned)
		require.Equal(t, int64(250), res.Rewritten)
		require.Len(t, progress, 3)
		require.Equal(t, int64(250), progress[2].Total)
		requireAllUnder(t, f, tbl, 250, newID, func(i int) string { return "value-" + strconv.Itoa(i) })
		if text {
			require.True(t, bytes.HasPrefix(tbl.get(1), []byte(keyring.TextPrefix)))
		}
		// Idempotent: a second run rewrites nothing.
		res, err = f.Reencrypt(context.Background(), tbl, keyring.ReencryptOptions{})
		require.NoError(t, err)
		require.Equal(t, int64(0), res.Rewritten)
		require.Equal(t, int64(250), res.Current)
	}
}

func TestReencryptCrashThenResume(t *testing.T) {
	t.Parallel()
	d := testDoc(t)
	tbl := newMemTable()
	sealAll(t, testRing(t, d).Field("users", "email"), tbl, 500, false)
	newID, _ := d.Rotate("users.email")
	f := testRing(t, d).Field("users", "email")
	tbl.failAfter = 2
	var checkpoint keyring.Cursor
	_, err := f.Reencrypt(context.Background(), tbl, keyring.ReencryptOptions{BatchSize: 100,
		Checkpoint: func(_ context.Context, c keyring.Cursor) error { checkpoint = c; return nil }})
	require.ErrorIs(t, err, errCrash)
	require.Equal(t, keyring.After("200"), checkpoint)
	tbl.failAfter = 0
	res, err := f.Reencrypt(context.Background(), tbl, keyring.ReencryptOptions{BatchSize: 100, After: checkpoint})
	require.NoError(t, err)
	require.Equal(t, int64(300), res.Scanned)
	require.Equal(t, int64(300), res.Rewritten)
	requireAllUnder(t, f, tbl, 500, newID, func(i int) string { return "value-" + strconv.Itoa(i) })
}

func TestReencryptConcurrentWritesNotLost(t *testing.T) {
	t.Parallel()
	d := testDoc(t)
	tbl := newMemTable()
	const n = 400
	sealAll(t, testRing(t, d).Field("users", "email"), tbl, n, false)
	newID, _ := d.Rotate("users.email")
	ring := testRing(t, d)
	f := ring.Field("users", "email")
	// The application writes new values (under the new primary) between
	// the engine's read and its write, on every batch.
	var written sync.Map
	var next atomic.Int64
	tbl.beforeSwap = func() {
		for range 30 {
			i := int(next.Add(7)%n) + 1
			v := "updated-" + strconv.Itoa(i)
			ct, _ := f.Seal(strconv.Itoa(i), []byte(v))
			tbl.set(i, ct)
			written.Store(i, v)
		}
	}
	res, err := f.Reencrypt(context.Background(), tbl, keyring.ReencryptOptions{BatchSize: 50})
	require.NoError(t, err)
	require.Positive(t, res.Conflicts)
	requireAllUnder(t, f, tbl, n, newID, func(i int) string {
		if v, ok := written.Load(i); ok {
			return v.(string)
		}
		return "value-" + strconv.Itoa(i)
	})
}

func TestReencryptStopsOnBadRow(t *testing.T) {
	t.Parallel()
	d := testDoc(t)
	tbl := newMemTable()
	sealAll(t, testRing(t, d).Field("users", "email"), tbl, 10, false)
	v := tbl.get(5)
	v[len(v)-1] ^= 1
	_, _ = d.Rotate("users.email")
	_, err := testRing(t, d).Field("users", "email").Reencrypt(context.Background(), tbl, keyring.ReencryptOptions{BatchSize: 3})
	require.ErrorIs(t, err, keyring.ErrDecrypt)
	require.Contains(t, err.Error(), "row 5")
}

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
