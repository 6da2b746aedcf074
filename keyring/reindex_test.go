package keyring_test

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/stretchr/testify/require"
)

// memUsers is an in-memory users table (id, email sealed, email_idx) that
// serves Reindex and counts both columns for the guardrail.
type memUsers struct {
	mu         sync.Mutex
	email, idx map[int][]byte
	failAfter  int // Swap fails (a crash) after that many calls, if > 0
	swaps      int
	beforeSwap func()
}

func newMemUsers() *memUsers { return &memUsers{email: map[int][]byte{}, idx: map[int][]byte{}} }

func (m *memUsers) set(id int, email, idx []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.email[id], m.idx[id] = email, idx
}

// lookup is the application's query: WHERE email_idx = ANY(sums).
func (m *memUsers) lookup(sums [][]byte) []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int
	for id, v := range m.idx {
		if slices.ContainsFunc(sums, func(s []byte) bool { return bytes.Equal(s, v) }) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func (m *memUsers) ids(after keyring.Cursor) []int {
	a := -1
	if after.Started {
		a, _ = strconv.Atoi(after.ID)
	}
	var ids []int
	for id, v := range m.idx {
		if id > a && v != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (m *memUsers) Remaining(_ context.Context, after keyring.Cursor) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.ids(after))), nil
}

func (m *memUsers) NextIndex(_ context.Context, after keyring.Cursor, limit int) ([]keyring.IndexRow, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []keyring.IndexRow
	for _, id := range m.ids(after) {
		if len(out) == limit {
			break
		}
		out = append(out, keyring.IndexRow{ID: strconv.Itoa(id), Index: slices.Clone(m.idx[id]), Source: slices.Clone(m.email[id])})
	}
	return out, nil
}

func (m *memUsers) Swap(_ context.Context, swaps []keyring.Swap) (int64, error) {
	if m.beforeSwap != nil {
		m.beforeSwap()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.swaps++
	if m.failAfter > 0 && m.swaps > m.failAfter {
		return 0, errCrash
	}
	var n int64
	for _, s := range swaps {
		id, _ := strconv.Atoi(s.ID)
		if bytes.Equal(m.idx[id], s.Old) {
			m.idx[id] = s.New
			n++
		}
	}
	return n, nil
}

func (m *memUsers) CountKeyIDs(_ context.Context, _, column string) (map[uint32]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[uint32]int64{}
	for _, v := range m.email {
		h, err := keyring.ParseHeader(v)
		if err != nil {
			out[0]++
			continue
		}
		out[h.KeyID]++
	}
	return out, nil
}

func (m *memUsers) CountIndexKeyIDs(_ context.Context, _, _ string, keyIDs []uint32) (map[uint32]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[uint32]int64{}
	for _, v := range m.idx {
		if v == nil {
			continue
		}
		id, ok := keyring.IndexKeyID(v)
		if !ok || !slices.Contains(keyIDs, id) {
			id = 0
		}
		out[id]++
	}
	return out, nil
}

// indexDoc declares users.email and its blind index users.email_idx only.
func indexDoc(t *testing.T) *keyring.Document {
	t.Helper()
	d, err := keyring.Init([]string{"users.email", "users.email.idx"},
		keyring.Column{Table: "users", Column: "email", Scope: "users.email"},
		keyring.Column{Table: "users", Column: "email_idx", Scope: "users.email.idx", Kind: keyring.KindBlindIndex})
	require.NoError(t, err)
	return d
}

func lowerIndex(t *testing.T, r *keyring.Ring) *keyring.BlindIndex {
	t.Helper()
	idx, err := r.BlindIndex("users", "email_idx", keyring.WithNormalizer(bytes.ToLower))
	require.NoError(t, err)
	return idx
}

func emailOf(i int) string { return "User" + strconv.Itoa(i) + "@Example.com" }

// requireLookups checks that every stored user is found by its email.
func requireLookups(t *testing.T, idx *keyring.BlindIndex, tbl *memUsers, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		require.Equal(t, []int{i}, tbl.lookup(idx.Sums([]byte(emailOf(i)))), "user %d", i)
	}
}

// TestReindexFlow is the whole rotation of a blind-index scope on memory:
// rotate, lookups still work, retire is refused, reindex (crash and resume
// midway), lookups work, retire is allowed, lookups still work.
func TestReindexFlow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := indexDoc(t)
	r1 := testRing(t, d)
	const n = 50
	tbl := newMemUsers()
	email := r1.Field("users", "email")
	idx1 := lowerIndex(t, r1)
	for i := 1; i <= n; i++ {
		ct, err := email.Seal(strconv.Itoa(i), []byte(emailOf(i)))
		require.NoError(t, err)
		v := idx1.Sum([]byte(emailOf(i)))
		if i <= 5 {
			v = v[keyring.IndexHeaderSize:] // written before key IDs were recorded
		}
		tbl.set(i, ct, v)
	}
	requireLookups(t, idx1, tbl, n)
	oldID, _ := r1.Primary("users.email.idx")

	// Rotate: lookups keep finding rows under the old key.
	newID, err := d.Rotate("users.email.idx")
	require.NoError(t, err)
	r2 := testRing(t, d)
	idx2 := lowerIndex(t, r2)
	requireLookups(t, idx2, tbl, n)

	// Retire is refused: 45 values under the old key, 5 whose key is unknown.
	use, err := keyring.KeyInUse(ctx, d, oldID, tbl)
	require.NoError(t, err)
	require.Equal(t, []keyring.KeyUse{{Table: "users", Column: "email_idx", Kind: keyring.KindBlindIndex, Count: 45, Untagged: 5}}, use)
	rep, err := keyring.Check(ctx, d, keyring.CheckOptions{Counter: tbl})
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Findings)
	require.Contains(t, rep.Counts, keyring.ColumnCount{Table: "users", Column: "email_idx", Scope: "users.email.idx", KeyID: oldID, Status: "active", Count: 45})
	require.Contains(t, rep.Counts, keyring.ColumnCount{Table: "users", Column: "email_idx", Scope: "users.email.idx", KeyID: 0, Status: keyring.StatusUntagged, Count: 5})

	// Reindex crashes after two batches; the checkpoint says where.
	var checkpoint keyring.Cursor
	opts := keyring.ReencryptOptions{BatchSize: 10, Checkpoint: func(_ context.Context, c keyring.Cursor) error { checkpoint = c; return nil }}
	tbl.failAfter = 2
	_, err = idx2.Reindex(ctx, tbl, keyring.FieldValues(r2.Field("users", "email")), opts)
	require.ErrorIs(t, err, errCrash)
	require.Equal(t, keyring.After("20"), checkpoint)
	requireLookups(t, idx2, tbl, n) // half moved, half not: every row still found
	use, err = keyring.KeyInUse(ctx, d, oldID, tbl)
	require.NoError(t, err)
	require.Equal(t, int64(30), use[0].Count)
	require.Zero(t, use[0].Untagged)

	// Resume: the application changes user 25 meanwhile (under the new key).
	tbl.failAfter, tbl.swaps = 0, 0
	tbl.beforeSwap = func() {
		ct, _ := r2.Field("users", "email").Seal("25", []byte(emailOf(25)))
		tbl.set(25, ct, idx2.Sum([]byte(emailOf(25))))
		tbl.beforeSwap = nil
	}
	opts.After = checkpoint
	res, err := idx2.Reindex(ctx, tbl, keyring.FieldValues(r2.Field("users", "email")), opts)
	require.NoError(t, err)
	require.Equal(t, keyring.ReencryptResult{Scanned: 30, Rewritten: 29, Conflicts: 1, LastID: "50", Resume: keyring.After("50")}, res)
	requireLookups(t, idx2, tbl, n)
	res, err = idx2.Reindex(ctx, tbl, keyring.FieldValues(r2.Field("users", "email")), keyring.ReencryptOptions{})
	require.NoError(t, err)
	require.Equal(t, keyring.ReencryptResult{Scanned: 50, Current: 50, LastID: "50", Resume: keyring.After("50")}, res, "idempotent")

	// Nothing needs the old key: retire it; lookups still work.
	use, err = keyring.KeyInUse(ctx, d, oldID, tbl)
	require.NoError(t, err)
	require.Empty(t, use)
	_, err = d.Retire(oldID)
	require.NoError(t, err)
	idx3 := lowerIndex(t, testRing(t, d))
	requireLookups(t, idx3, tbl, n)
	rep, err = keyring.Check(ctx, d, keyring.CheckOptions{Counter: tbl})
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Findings)
	require.Contains(t, rep.Counts, keyring.ColumnCount{Table: "users", Column: "email_idx", Scope: "users.email.idx", KeyID: newID, Status: "primary", Count: n})
}

// TestReindexRepairsRetired is the defect of issue 17: the old index key was
// retired before reindexing, so no lookup finds the rows. The guardrail now
// says so, and Reindex (which checks against retired keys too) repairs it.
func TestReindexRepairsRetired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := indexDoc(t)
	r1 := testRing(t, d)
	tbl := newMemUsers()
	idx1 := lowerIndex(t, r1)
	for i := 1; i <= 5; i++ {
		ct, _ := r1.Field("users", "email").Seal(strconv.Itoa(i), []byte(emailOf(i)))
		tbl.set(i, ct, idx1.Sum([]byte(emailOf(i))))
	}
	oldID, _ := r1.Primary("users.email.idx")
	_, err := d.Rotate("users.email.idx")
	require.NoError(t, err)
	_, err = d.Retire(oldID)
	require.NoError(t, err)
	r2 := testRing(t, d)
	idx2 := lowerIndex(t, r2)
	require.Empty(t, tbl.lookup(idx2.Sums([]byte(emailOf(1)))))
	rep, err := keyring.Check(ctx, d, keyring.CheckOptions{Counter: tbl})
	require.NoError(t, err)
	require.False(t, rep.OK)
	require.Equal(t, keyring.FindingRetiredKey, rep.Findings[0].Kind)
	require.Equal(t, int64(5), rep.Findings[0].Count)

	res, err := idx2.Reindex(ctx, tbl, keyring.FieldValues(r2.Field("users", "email")), keyring.ReencryptOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(5), res.Rewritten)
	requireLookups(t, idx2, tbl, 5)
}

// TestReindexRefusesWrongSource: a source or normaliser that does not
// reproduce the stored values stops the run before anything is written.
func TestReindexRefusesWrongSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := indexDoc(t)
	r1 := testRing(t, d)
	idx1 := lowerIndex(t, r1)
	_, err := d.Rotate("users.email.idx")
	require.NoError(t, err)
	r2 := testRing(t, d)
	field := keyring.FieldValues(r2.Field("users", "email"))
	fill := func() *memUsers {
		tbl := newMemUsers()
		for i := 1; i <= 4; i++ {
			ct, _ := r1.Field("users", "email").Seal(strconv.Itoa(i), []byte(emailOf(i)))
			tbl.set(i, ct, idx1.Sum([]byte(emailOf(i))))
		}
		return tbl
	}
	noNorm, err := r2.BlindIndex("users", "email_idx")
	require.NoError(t, err)
	tests := []struct {
		name   string
		idx    *keyring.BlindIndex
		values keyring.IndexValues
		mutate func(*memUsers)
		want   error
	}{
		{"wrong normaliser", noNorm, field, nil, keyring.ErrIndexMismatch},
		{"host value differs", lowerIndex(t, r2), func(_ context.Context, rows []keyring.IndexRow) ([][]byte, error) {
			out := make([][]byte, len(rows))
			for i := range rows {
				out[i] = []byte("someone@else")
			}
			return out, nil
		}, nil, keyring.ErrIndexMismatch},
		{"source NULL", lowerIndex(t, r2), field, func(m *memUsers) { m.email[3] = nil }, keyring.ErrIndexMismatch},
		{"source moved from another row", lowerIndex(t, r2), field, func(m *memUsers) { m.email[3] = m.email[2] }, keyring.ErrDecrypt},
		{"index tampered", lowerIndex(t, r2), field, func(m *memUsers) { m.idx[3][9] ^= 1 }, keyring.ErrIndexMismatch},
		{"short values", lowerIndex(t, r2), func(context.Context, []keyring.IndexRow) ([][]byte, error) { return nil, nil }, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl := fill()
			if tc.mutate != nil {
				tc.mutate(tbl)
			}
			before := map[int][]byte{}
			for id, v := range tbl.idx {
				before[id] = slices.Clone(v)
			}
			_, err := tc.idx.Reindex(ctx, tbl, tc.values, keyring.ReencryptOptions{})
			require.Error(t, err)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
			require.Equal(t, before, tbl.idx, "nothing written")
			require.Zero(t, tbl.swaps)
		})
	}
	_, err = lowerIndex(t, r2).Reindex(ctx, fill(), nil, keyring.ReencryptOptions{})
	require.ErrorIs(t, err, keyring.ErrInvalidDocument)
}
