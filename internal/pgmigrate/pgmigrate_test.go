package pgmigrate_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgmigrate"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

func TestApplyIsIdempotentAndConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	fsys := os.DirFS("testdata/ok")

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = pgmigrate.Apply(ctx, pool, "widgets", fsys)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, pgmigrate.Apply(ctx, pool, "widgets", fsys))

	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rampart_migrations WHERE component = 'widgets'`).Scan(&n))
	require.Equal(t, 2, n)
	// The Down section never ran, and 002 did.
	_, err := pool.Exec(ctx, `INSERT INTO widgets (id, name, colour) VALUES (1, 'a', 'red')`)
	require.NoError(t, err)
}

func TestLoadRejectsBadNames(t *testing.T) {
	t.Parallel()
	for name, fsys := range map[string]fstest.MapFS{
		"no number": {"init.sql": {Data: []byte("SELECT 1")}},
		"zero":      {"000_init.sql": {Data: []byte("SELECT 1")}},
		"duplicate": {"001_a.sql": {Data: []byte("SELECT 1")}, "1_b.sql": {Data: []byte("SELECT 1")}},
	} {
		_, err := pgmigrate.Load(fsys)
		require.Error(t, err, name)
	}
	ms, err := pgmigrate.Load(fstest.MapFS{
		"002_b.sql": {Data: []byte("SELECT 2")},
		"001_a.sql": {Data: []byte("SELECT 1\n-- +goose Down\nDROP x")},
		"README.md": {Data: []byte("not sql")},
	})
	require.NoError(t, err)
	require.Len(t, ms, 2)
	require.Equal(t, 1, ms[0].Version)
	require.Equal(t, "SELECT 1\n", ms[0].SQL)
}
