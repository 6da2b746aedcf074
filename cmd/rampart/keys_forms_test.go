package main

import (
	"context"
	"testing"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/keyring"
	"github.com/stretchr/testify/require"
)

// TestKeysRetireCountsTextEnvelopesInBytea: a text-form envelope stored in a
// BYTEA column opens, so the key under it must not be retired.
func TestKeysRetireCountsTextEnvelopesInBytea(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	path := initRegistry(t)
	d, err := keyring.ReadFile(path)
	require.NoError(t, err)
	ring, err := keyring.New(d)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `CREATE TABLE users (id bigint PRIMARY KEY, email bytea, email_idx bytea)`)
	require.NoError(t, err)
	ct, err := ring.Field("users", "email").SealText("1", []byte("alice@example.com"))
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `INSERT INTO users (id, email) VALUES (1, $1)`, []byte(ct))
	require.NoError(t, err)

	code, stdout, stderr := runCLI(t, nil, "keys", "check", "--file", path, "--dsn", db.URL)
	require.Equal(t, exitOK, code, stdout+stderr)
	require.Contains(t, stdout, "users.email\tkey 1\tprimary\t1")

	code, _, stderr = runCLI(t, nil, "keys", "rotate", "--file", path, "--scope", "users.email")
	require.Equal(t, exitOK, code, stderr)
	code, stdout, stderr = runCLI(t, nil, "keys", "retire", "--file", path, "--id", "1", "--dsn", db.URL)
	require.Equal(t, exitFindings, code, stdout+stderr)
	require.Contains(t, stderr, "users.email holds 1 values")
}
