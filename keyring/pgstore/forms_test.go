package pgstore_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/stretchr/testify/require"
)

// TestCountKeyIDsEveryFormInEveryColumnType: Open accepts an envelope in
// binary or text form whatever column it came from, so the guardrail (and
// "keys retire") must count both forms in a BYTEA column and in a TEXT one.
// A text envelope in a BYTEA column used to count as malformed, and its key
// could be retired while it still protected data.
func TestCountKeyIDsEveryFormInEveryColumnType(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := migrated(t)
	_, err := pool.Exec(ctx, `CREATE TABLE mixed (id bigint PRIMARY KEY, b bytea, t text)`)
	require.NoError(t, err)
	d := testDoc(t)
	d.Columns = append(d.Columns, keyring.Column{Table: "mixed", Column: "b", Scope: "users.email"},
		keyring.Column{Table: "mixed", Column: "t", Scope: "users.phone"})
	r := ring(t, d)
	emailKey, _ := r.Primary("users.email")
	phoneKey, _ := r.Primary("users.phone")
	fb, ft := r.Field("mixed", "b"), r.Field("mixed", "t")
	// Rows 1-3: binary in b; 4-5: text form in b; 6: garbage in b.
	// Rows 1-4: text form in t; 5: garbage in t.
	for i := 1; i <= 6; i++ {
		id := strconv.Itoa(i)
		var b, txt any
		switch {
		case i <= 3:
			b, err = fb.Seal(id, []byte("v"))
		case i <= 5:
			var s string
			s, err = fb.SealText(id, []byte("v"))
			b = []byte(s)
		default:
			b = []byte("not an envelope")
		}
		require.NoError(t, err)
		switch {
		case i <= 4:
			txt, err = ft.SealText(id, []byte("v"))
			require.NoError(t, err)
		case i == 5:
			txt = "rk1:!!!!!!!!"
		}
		_, err = pool.Exec(ctx, `INSERT INTO mixed (id, b, t) VALUES ($1, $2, $3)`, i, b, txt)
		require.NoError(t, err)
	}
	// Everything the guardrail counts under a key opens with it.
	rows, err := pool.Query(ctx, `SELECT id::text, b FROM mixed WHERE id <= 5`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		var v []byte
		require.NoError(t, rows.Scan(&id, &v))
		_, err := fb.Open(id, v)
		require.NoError(t, err, id)
	}
	require.NoError(t, rows.Err())

	counts, err := newCounter(t, pool).CountKeyIDs(ctx, "mixed", "b")
	require.NoError(t, err)
	require.Equal(t, map[uint32]int64{emailKey: 5, 0: 1}, counts)
	counts, err = newCounter(t, pool).CountKeyIDs(ctx, "mixed", "t")
	require.NoError(t, err)
	require.Equal(t, map[uint32]int64{phoneKey: 4, 0: 1}, counts)
}
