package keyring_test

import (
	"bytes"
	"context"
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
