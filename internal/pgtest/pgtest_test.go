package pgtest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// TestSchemasAreIsolated proves the property every Postgres test relies on:
// a table made in one test's schema is invisible from another test's.
func TestSchemasAreIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := pgtest.New(t), pgtest.New(t)
	require.NotEqual(t, a.Schema, b.Schema)

	_, err := a.Pool.Exec(ctx, `CREATE TABLE secrets (id int PRIMARY KEY)`)
	require.NoError(t, err)
	_, err = a.Pool.Exec(ctx, `INSERT INTO secrets VALUES (1)`)
	require.NoError(t, err)

	var n int
	require.NoError(t, a.Pool.QueryRow(ctx, `SELECT count(*) FROM secrets`).Scan(&n))
	require.Equal(t, 1, n)

	_, err = b.Pool.Exec(ctx, `SELECT count(*) FROM secrets`)
	require.Error(t, err, "schema %s must not see %s's table", b.Schema, a.Schema)
	require.Contains(t, err.Error(), "does not exist")
}

// TestURLCarriesSchema checks that code opening its own connections from DB.URL
// (a CLI under test, a subprocess) lands in the same schema.
func TestURLCarriesSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	_, err := db.Pool.Exec(ctx, `CREATE TABLE marker (v text)`)
	require.NoError(t, err)

	conn, err := pgx.Connect(ctx, db.URL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var schema string
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema))
	require.Equal(t, db.Schema, schema)
	_, err = conn.Exec(ctx, `INSERT INTO marker VALUES ('seen')`)
	require.NoError(t, err)
}

// TestSchemaDroppedAtCleanup runs a subtest and checks its schema is gone after.
func TestSchemaDroppedAtCleanup(t *testing.T) {
	ctx := context.Background()
	var schema string
	t.Run("inner", func(t *testing.T) {
		schema = pgtest.New(t).Schema
	})
	require.NotEmpty(t, schema)

	conn, err := pgx.Connect(ctx, pgtest.BaseURL())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var exists bool
	require.NoError(t, conn.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists))
	require.False(t, exists, "schema %s should be dropped", schema)
}

// TestManyParallelSchemas is a smoke test of the harness under parallel load.
func TestManyParallelSchemas(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]bool{}
	for i := 0; i < 4; i++ {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t)
			mu.Lock()
			defer mu.Unlock()
			require.False(t, seen[db.Schema])
			seen[db.Schema] = true
		})
	}
}

func TestWithSearchPath(t *testing.T) {
	t.Parallel()
	got, err := pgtest.WithSearchPath("postgres://u@h:1/db?sslmode=disable", "t_x")
	require.NoError(t, err)
	require.Contains(t, got, "search_path=t_x")
	require.Contains(t, got, "sslmode=disable")
}

func TestInCI(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{{"", false}, {"false", false}, {"0", false}, {"true", true}, {"1", true}} {
		t.Setenv("CI", tc.v)
		require.Equal(t, tc.want, pgtest.InCI(), "CI=%q", tc.v)
	}
}
