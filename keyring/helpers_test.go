package keyring_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/keyringtest"
	"github.com/stretchr/testify/require"
)

// testDoc returns a document with three scopes and their declared columns.
func testDoc(t testing.TB) *keyring.Document {
	t.Helper()
	d, err := keyring.Init([]string{"users.email", "users.phone", "users.email.idx", "subjects"},
		keyring.Column{Table: "users", Column: "email", Scope: "users.email"},
		keyring.Column{Table: "users", Column: "email_backup", Scope: "users.email"},
		keyring.Column{Table: "users", Column: "phone", Scope: "users.phone"},
		keyring.Column{Table: "users", Column: "email_idx", Scope: "users.email.idx", Kind: keyring.KindBlindIndex},
	)
	require.NoError(t, err)
	return d
}

func testRing(t testing.TB, d *keyring.Document) *keyring.Ring {
	t.Helper()
	r, err := keyring.New(d)
	require.NoError(t, err)
	return r
}

// memTable is an in-memory RowSource over integer row IDs.
type memTable struct {
	mu   sync.Mutex
	rows map[int][]byte
	// failAfter makes Swap fail after that many calls (a crash), if > 0.
	failAfter int
	swaps     int
	// beforeSwap runs before each Swap (the application writing meanwhile).
	beforeSwap func()
}

func newMemTable() *memTable { return &memTable{rows: map[int][]byte{}} }

func (m *memTable) set(id int, v []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows[id] = v
}

func (m *memTable) get(id int) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rows[id]
}

func (m *memTable) ids(after keyring.Cursor) []int {
	a := -1
	if after.Started {
		a, _ = strconv.Atoi(after.ID)
	}
	var ids []int
	for id, v := range m.rows {
		if id > a && v != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (m *memTable) Remaining(_ context.Context, after keyring.Cursor) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.ids(after))), nil
}

func (m *memTable) Next(_ context.Context, after keyring.Cursor, limit int) ([]keyring.Row, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []keyring.Row
	for _, id := range m.ids(after) {
		if len(out) == limit {
			break
		}
		out = append(out, keyring.Row{ID: strconv.Itoa(id), Value: slices.Clone(m.rows[id])})
	}
	return out, nil
}

var errCrash = errorString("crash")

type errorString string

func (e errorString) Error() string { return string(e) }

func (m *memTable) Swap(_ context.Context, swaps []keyring.Swap) (int64, error) {
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
		if string(m.rows[id]) == string(s.Old) {
			m.rows[id] = s.New
			n++
		}
	}
	return n, nil
}

func (m *memTable) CountKeyIDs(_ context.Context, _, _ string) (map[uint32]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[uint32]int64{}
	for _, v := range m.rows {
		h, err := keyring.ParseHeader(v)
		if err != nil {
			out[0]++
			continue
		}
		out[h.KeyID]++
	}
	return out, nil
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
