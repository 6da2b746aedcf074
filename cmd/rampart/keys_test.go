package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/keyring"
	"github.com/stretchr/testify/require"
)

func initRegistry(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.json")
	code, stdout, stderr := runCLI(t, nil, "keys", "init", "--scope", "users.email", "--scope", "users.email.idx",
		"--column", "users.email=users.email", "--blind-index", "users.email_idx=users.email.idx", "--out", path)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "2 scopes, 2 declared columns")
	return path
}

func TestKeysInitRotateCheck(t *testing.T) {
	t.Parallel()
	path := initRegistry(t)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	code, _, stderr := runCLI(t, nil, "keys", "init", "--scope", "a", "--out", path)
	require.Equal(t, exitOperational, code)
	require.Contains(t, stderr, "refusing to overwrite")
	code, _, _ = runCLI(t, nil, "keys", "init", "--out", filepath.Join(t.TempDir(), "x"))
	require.Equal(t, exitUsage, code)
	code, _, _ = runCLI(t, nil, "keys", "init", "--scope", "a", "--column", "nodot=a", "--out", filepath.Join(t.TempDir(), "x"))
	require.Equal(t, exitUsage, code)
	code, _, _ = runCLI(t, nil, "keys", "init", "--scope", "a", "--column", "t.c=ghost", "--out", filepath.Join(t.TempDir(), "x"))
	require.Equal(t, exitUsage, code)

	code, stdout, stderr := runCLI(t, nil, "keys", "check", "--file", path)
	require.Equal(t, exitOK, code, stdout+stderr)
	require.Contains(t, stdout, "ok:")

	code, stdout, _ = runCLI(t, nil, "keys", "rotate", "--file", path, "--scope", "users.email")
	require.Equal(t, exitOK, code)
	require.Contains(t, stdout, "key 3 is primary; key 1 is active")
	fi, err = os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	code, _, _ = runCLI(t, nil, "keys", "rotate", "--file", path, "--scope", "nope")
	require.Equal(t, exitUsage, code)

	// Retiring the primary is refused; retiring a key of a scope with declared columns needs --dsn.
	code, _, _ = runCLI(t, nil, "keys", "retire", "--file", path, "--id", "3", "--dsn", "postgres://unused")
	require.Equal(t, exitUsage, code)
	code, _, stderr = runCLI(t, nil, "keys", "retire", "--file", path, "--id", "1")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "--dsn is required")

	// A scope that no column uses is a finding.
	d, err := keyring.ReadFile(path)
	require.NoError(t, err)
	d.Columns = d.Columns[:1]
	require.NoError(t, keyring.WriteFile(path, d))
	code, stdout, _ = runCLI(t, nil, "keys", "check", "--file", path, "--json")
	require.Equal(t, exitFindings, code)
	var rep keyring.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.False(t, rep.OK)
	require.Equal(t, keyring.FindingUnusedScope, rep.Findings[0].Kind)

	// A world-readable registry is refused.
	require.NoError(t, os.Chmod(path, 0o644))
	code, _, stderr = runCLI(t, nil, "keys", "check", "--file", path)
	require.Equal(t, exitOperational, code)
	require.Contains(t, stderr, "readable by group or others")
	// And no key material reaches the output.
	raw, _ := d.Encode()
	require.NotContains(t, stdout, string(raw[:20]))
}

func TestKeysReencryptRetireOnPostgres(t *testing.T) {
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
	email := ring.Field("users", "email")
	for i := 1; i <= 50; i++ {
		ct, err := email.Seal(strconv.Itoa(i), []byte("u"+strconv.Itoa(i)))
		require.NoError(t, err)
		_, err = db.Pool.Exec(ctx, `INSERT INTO users (id, email) VALUES ($1, $2)`, i, ct)
		require.NoError(t, err)
	}
	code, stdout, stderr := runCLI(t, nil, "keys", "check", "--file", path, "--dsn", db.URL)
	require.Equal(t, exitOK, code, stdout+stderr)
	require.Contains(t, stdout, "users.email\tkey 1\tprimary\t50")

	code, _, _ = runCLI(t, nil, "keys", "rotate", "--file", path, "--scope", "users.email")
	require.Equal(t, exitOK, code)
	dbEnv := map[string]string{"DATABASE_URL": db.URL}
	code, stdout, stderr = runCLI(t, dbEnv, "keys", "retire", "--file", path, "--id", "1")
	require.Equal(t, exitFindings, code, stdout)
	require.Contains(t, stderr, "users.email holds 50 values")

	code, stdout, stderr = runCLI(t, dbEnv, "keys", "reencrypt", "--file", path, "--table", "users", "--column", "email", "--batch", "20")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "50 re-encrypted")
	require.Empty(t, stderr, "no progress when stderr is not a terminal")
	code, _, _ = runCLI(t, dbEnv, "keys", "reencrypt", "--file", path, "--table", "users", "--column", "nope")
	require.Equal(t, exitUsage, code)

	code, stdout, stderr = runCLI(t, dbEnv, "keys", "retire", "--file", path, "--id", "1")
	require.Equal(t, exitOK, code, stdout+stderr)
	code, stdout, stderr = runCLI(t, nil, "keys", "check", "--file", path, "--dsn", db.URL, "--json")
	require.Equal(t, exitOK, code, stdout+stderr)
	var rep keyring.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Equal(t, uint32(3), rep.Counts[0].KeyID)
	require.Equal(t, int64(50), rep.Counts[0].Count)

	// Data the app still wrote under a retired key is a finding.
	d, err = keyring.ReadFile(path)
	require.NoError(t, err)
	ct, err := email.Seal("51", []byte("late"))
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `INSERT INTO users (id, email) VALUES (51, $1)`, ct)
	require.NoError(t, err)
	code, stdout, _ = runCLI(t, nil, "keys", "check", "--file", path, "--dsn", db.URL)
	require.Equal(t, exitFindings, code)
	require.Contains(t, stdout, "retired_key")
	_ = d

	// On a terminal, re-encryption draws progress on stderr.
	code, _, _ = runCLI(t, nil, "keys", "rotate", "--file", path, "--scope", "users.email")
	require.Equal(t, exitOK, code)
	_, err = db.Pool.Exec(ctx, `DELETE FROM users WHERE id = 51`)
	require.NoError(t, err)
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, stderrIsTerminal: true,
		getenv: func(k string) string { return map[string]string{"DATABASE_URL": db.URL}[k] }}
	code = run(ctx, e, []string{"keys", "reencrypt", "--file", path, "--table", "users", "--column", "email", "--json"})
	require.Equal(t, exitOK, code, errb.String())
	require.Contains(t, errb.String(), "50/50 rows")
	require.Contains(t, errb.String(), "rows/s, ETA")
	// snake_case, like every other command's --json.
	var res map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &res))
	require.Equal(t, map[string]any{"table": "users", "column": "email", "scanned": float64(50), "rewritten": float64(50),
		"current": float64(0), "conflicts": float64(0), "last_id": res["last_id"]}, res)
	require.NotEmpty(t, res["last_id"])
}

func TestKeysWithKEK(t *testing.T) {
	t.Parallel()
	kek := make([]byte, 32)
	for i := range kek {
		kek[i] = byte(i + 1)
	}
	envs := map[string]string{"RAMPART_KEK": base64.StdEncoding.EncodeToString(kek), "BAD_KEK": "c2hvcnQ="}
	path := filepath.Join(t.TempDir(), "keys.json")
	code, _, stderr := runCLI(t, envs, "keys", "init", "--scope", "users.email", "--column", "users.email=users.email",
		"--kek-env", "RAMPART_KEK", "--out", path)
	require.Equal(t, exitOK, code, stderr)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(raw), `"wrapped"`)
	require.NotContains(t, string(raw), `"key"`, "no plain key on disk")

	code, _, stderr = runCLI(t, envs, "keys", "rotate", "--file", path, "--kek-env", "RAMPART_KEK", "--scope", "users.email")
	require.Equal(t, exitOK, code, stderr)
	raw, _ = os.ReadFile(path)
	require.NotContains(t, string(raw), `"key"`)
	code, stdout, stderr := runCLI(t, envs, "keys", "check", "--file", path, "--kek-env", "RAMPART_KEK")
	require.Equal(t, exitOK, code, stdout+stderr)

	// Without the KEK, or with a wrong one, the document cannot be used.
	before, _ := os.ReadFile(path)
	code, _, stderr = runCLI(t, envs, "keys", "rotate", "--file", path, "--scope", "users.email")
	require.Equal(t, exitUsage, code, "rotate without the KEK would add a plain key")
	require.Contains(t, stderr, "pass --kek-env")
	after, _ := os.ReadFile(path)
	require.Equal(t, before, after)
	code, _, stderr = runCLI(t, envs, "keys", "check", "--file", path, "--kek-env", "BAD_KEK")
	require.Equal(t, exitUsage, code, stderr)

	other := filepath.Join(t.TempDir(), "k.json")
	code, _, _ = runCLI(t, envs, "keys", "init", "--scope", "a", "--kek-env", "RAMPART_KEK", "--out", other)
	require.Equal(t, exitOK, code)
	envs2 := map[string]string{"RAMPART_KEK": base64.StdEncoding.EncodeToString(make([]byte, 32))}
	code, _, stderr = runCLI(t, envs2, "keys", "rotate", "--file", other, "--kek-env", "RAMPART_KEK", "--scope", "a")
	require.Equal(t, exitOperational, code)
	require.Contains(t, stderr, "unwrap")
}
