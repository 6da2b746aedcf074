package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
)

func TestMigrateUpAndStatus(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	env := map[string]string{"DATABASE_URL": db.URL}

	code, stdout, _ := runCLI(t, env, "migrate", "status")
	require.Equal(t, exitFindings, code, "a fresh database has pending migrations")
	require.Contains(t, stdout, "pending")

	code, stdout, stderr := runCLI(t, env, "migrate", "up")
	require.Equal(t, exitOK, code, stderr)
	for _, c := range components() {
		require.Contains(t, stdout, c.name)
	}
	// Idempotent.
	code, _, stderr = runCLI(t, env, "migrate", "up")
	require.Equal(t, exitOK, code, stderr)

	code, stdout, _ = runCLI(t, env, "migrate", "status", "--json")
	require.Equal(t, exitOK, code)
	var sts []componentStatus
	require.NoError(t, json.Unmarshal([]byte(stdout), &sts))
	require.Len(t, sts, len(components()))
	for _, st := range sts {
		require.Empty(t, st.Pending, st.Component)
		require.NotEmpty(t, st.Applied, st.Component)
	}
}

func TestMigrateOnly(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	code, stdout, stderr := runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--only", "mfa")
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, "mfa          up to date\n", stdout)

	code, _, stderr = runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--only", "nope")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, `unknown component "nope"`)

	code, _, _ = runCLI(t, nil, "migrate", "up")
	require.Equal(t, exitUsage, code, "no --dsn and no DATABASE_URL")
}
