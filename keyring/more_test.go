package keyring_test

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/keyringtest"
	"github.com/stretchr/testify/require"
)

func TestBlindIndex(t *testing.T) {
	t.Parallel()
	d := testDoc(t)
	r := testRing(t, d)
	norm := keyring.WithNormalizer(func(b []byte) []byte { return bytes.ToLower(bytes.TrimSpace(b)) })
	idx, err := r.BlindIndex("users", "email_idx", norm)
	require.NoError(t, err)
	a := idx.Sum([]byte("Alice@Example.com "))
	require.Len(t, a, keyring.IndexHeaderSize+32)
	oldID, _ := r.Primary("users.email.idx")
	id, ok := idx.KeyID(a)
	require.True(t, ok)
	require.Equal(t, oldID, id, "the stored value names its key")
	require.Equal(t, a, idx.Sum([]byte("alice@example.com")))
	require.NotEqual(t, a, idx.Sum([]byte("bob@example.com")))
	// Sums: the tagged value, then the bare token that rows written before
	// key IDs were recorded hold.
	require.Equal(t, [][]byte{a, a[keyring.IndexHeaderSize:]}, idx.Sums([]byte("alice@example.com")))

	short, err := r.BlindIndex("users", "email_idx", norm, keyring.WithTruncation(8))
	require.NoError(t, err)
	require.Equal(t, a[:keyring.IndexHeaderSize+8], short.Sum([]byte("alice@example.com")))
	_, ok = idx.KeyID(short.Sum([]byte("alice@example.com")))
	require.False(t, ok, "a value of another size is not this index's")
	_, err = r.BlindIndex("users", "email_idx", keyring.WithTruncation(4))
	require.Error(t, err)
	_, err = r.BlindIndex("users", "email")
	require.ErrorIs(t, err, keyring.ErrUndeclaredColumn)

	// The index key is not the field key: a different scope gives a different token.
	d2 := testDoc(t)
	other, _ := testRing(t, d2).BlindIndex("users", "email_idx", norm)
	require.NotEqual(t, a, other.Sum([]byte("alice@example.com")))

	// Rotation: Sum moves to the new key, Sums finds old and new, primary first.
	_, err = d.Rotate("users.email.idx")
	require.NoError(t, err)
	idx2, err := testRing(t, d).BlindIndex("users", "email_idx", norm)
	require.NoError(t, err)
	b := idx2.Sum([]byte("alice@example.com"))
	require.NotEqual(t, a, b)
	require.Equal(t, [][]byte{b, a, b[keyring.IndexHeaderSize:], a[keyring.IndexHeaderSize:]}, idx2.Sums([]byte("alice@example.com")))
	// After retirement the old token is no longer searched.
	_, err = d.Retire(oldID)
	require.NoError(t, err)
	idx3, _ := testRing(t, d).BlindIndex("users", "email_idx", norm)
	require.Equal(t, [][]byte{b, b[keyring.IndexHeaderSize:]}, idx3.Sums([]byte("alice@example.com")))
}

func TestIndexKeyID(t *testing.T) {
	t.Parallel()
	tagged := append([]byte{keyring.VersionIndex, 0, 0, 0, 7}, make([]byte, 32)...)
	for _, tc := range []struct {
		name string
		v    []byte
		id   uint32
		ok   bool
	}{
		{"tagged", tagged, 7, true},
		{"shortest", tagged[:keyring.IndexHeaderSize+8], 7, true},
		{"too short", tagged[:keyring.IndexHeaderSize+7], 0, false},
		{"too long", append(tagged, 0), 0, false},
		{"bare token", make([]byte, 32), 0, false},
		{"key ID 0", append([]byte{keyring.VersionIndex, 0, 0, 0, 0}, make([]byte, 32)...), 0, false},
		{"envelope version", append([]byte{keyring.VersionBinary, 0, 0, 0, 7}, make([]byte, 32)...), 0, false},
		{"empty", nil, 0, false},
	} {
		id, ok := keyring.IndexKeyID(tc.v)
		require.Equal(t, tc.ok, ok, tc.name)
		if ok {
			require.Equal(t, tc.id, id, tc.name)
		}
	}
}

func TestSubjectKeysMemoryStore(t *testing.T) {
	t.Parallel()
	keyringtest.TestSubjectKeyStore(t, func(t *testing.T) keyring.SubjectKeyStore { return keyring.NewMemoryStore() })
}

func TestSubjectKeysShredding(t *testing.T) {
	t.Parallel()
	d := testDoc(t)
	keyringtest.TestSubjectKeys(t, testRing(t, d), "subjects", keyring.NewMemoryStore())
	// A rotation of the wrapping scope keeps existing subjects readable.
	ctx := context.Background()
	store := keyring.NewMemoryStore()
	sk, err := testRing(t, d).SubjectKeys("subjects", store)
	require.NoError(t, err)
	ct, err := sk.Seal(ctx, "u1", "users.email:1", []byte("alice"))
	require.NoError(t, err)
	_, err = d.Rotate("subjects")
	require.NoError(t, err)
	sk2, err := testRing(t, d).SubjectKeys("subjects", store)
	require.NoError(t, err)
	pt, err := sk2.Open(ctx, "u1", "users.email:1", ct)
	require.NoError(t, err)
	require.Equal(t, "alice", string(pt))
	_, err = testRing(t, d).SubjectKeys("nope", store)
	require.ErrorIs(t, err, keyring.ErrUnknownScope)
	// A scope that encrypts or indexes a declared column cannot also wrap
	// data keys; declaring the subject-key column itself is fine.
	for _, shared := range []string{"users.email", "users.email.idx"} {
		_, err = testRing(t, d).SubjectKeys(shared, store)
		require.ErrorIs(t, err, keyring.ErrInvalidDocument, shared)
	}
	withWrapCol, err := keyring.New(d, keyring.Column{Table: keyring.SubjectKeyTable, Column: keyring.SubjectKeyColumn, Scope: "subjects"})
	require.NoError(t, err)
	_, err = withWrapCol.SubjectKeys("subjects", store)
	require.NoError(t, err)
}

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

func TestCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testDoc(t)
	r := testRing(t, d)
	rep, err := keyring.Check(ctx, d, keyring.CheckOptions{Columns: []keyring.Column{{Table: "s", Column: "k", Scope: "subjects"}}})
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep.Findings)
	keyringtest.RequireGuardrail(t, d, keyring.CheckOptions{Columns: []keyring.Column{{Table: "s", Column: "k", Scope: "subjects"}}})

	// Static problems are all reported, not only the first.
	bad := testDoc(t)
	bad.Keys = append(bad.Keys, keyring.KeyEntry{ID: 99, Scope: "orphan", Status: keyring.Primary, Key: bad.Keys[0].Key})
	bad.Columns = append(bad.Columns, keyring.Column{Table: "t", Column: "c", Scope: "ghost"},
		keyring.Column{Table: "t", Column: "c_idx", Scope: "users.email", Kind: keyring.KindBlindIndex})
	rep, err = keyring.Check(ctx, bad, keyring.CheckOptions{})
	require.NoError(t, err)
	require.False(t, rep.OK)
	kinds := map[keyring.FindingKind]bool{}
	for _, f := range rep.Findings {
		kinds[f.Kind] = true
	}
	require.True(t, kinds[keyring.FindingSharedKey])
	require.True(t, kinds[keyring.FindingUnknownScope])
	require.True(t, kinds[keyring.FindingUnusedScope])
	require.True(t, kinds[keyring.FindingMixedScope])

	// Stored data: under primary (fine), phone's key (undeclared), retired, junk.
	tbl := newMemTable()
	sealAll(t, r.Field("users", "email"), tbl, 5, false)
	phone, _ := r.Field("users", "phone").Seal("6", []byte("x"))
	tbl.set(6, phone)
	tbl.set(7, []byte("plaintext!"))
	oldID, _ := r.Primary("users.email")
	_, _ = d.Rotate("users.email")
	_, _ = d.Retire(oldID)
	rep, err = keyring.Check(ctx, d, keyring.CheckOptions{Counter: tbl,
		Columns: []keyring.Column{{Table: "s", Column: "k", Scope: "subjects"}}})
	require.NoError(t, err)
	require.False(t, rep.OK)
	got := map[keyring.FindingKind]int64{}
	for _, f := range rep.Findings {
		if f.Table == "users" && f.Column == "email" {
			got[f.Kind] = f.Count
		}
	}
	require.Equal(t, map[keyring.FindingKind]int64{keyring.FindingRetiredKey: 5, keyring.FindingUndeclaredKey: 1, keyring.FindingMalformed: 1}, got)
	require.NotEmpty(t, rep.Counts)
}

func TestMemTableRowSource(t *testing.T) {
	t.Parallel()
	keyringtest.TestRowSource(t, func(t *testing.T, rows []keyring.Row) keyring.RowSource {
		tbl := newMemTable()
		for _, r := range rows {
			id, _ := strconv.Atoi(r.ID)
			tbl.set(id, r.Value)
		}
		return tbl
	})
}
