package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/pgstore"
	"github.com/stretchr/testify/require"
)

// TestKeyReplacedUnderTheSameID: key 4's bytes are replaced under the same
// ID. If the document still records key 4's check value, the document alone
// fails (keys check without a database, and Load). If the check value was
// recomputed too (a registry regenerated with the same IDs), only the data
// can tell: keys check --dsn and doctor --keys open a sample of the values
// under key 4, fail, and say which key is wrong.
func TestKeyReplacedUnderTheSameID(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.json")
	args := []string{"keys", "init", "--out", path}
	for i := 1; i <= 4; i++ {
		args = append(args, "--scope", fmt.Sprintf("s%d", i), "--column", fmt.Sprintf("t.c%d=s%d", i, i))
	}
	code, stdout, stderr := runCLI(t, nil, args...)
	require.Equal(t, exitOK, code, stderr)
	d, err := keyring.ReadFile(path)
	require.NoError(t, err)
	for _, k := range d.Keys {
		require.Contains(t, stdout, fmt.Sprintf("key %d\t%s\tprimary\tkcv %s", k.ID, k.Scope, k.CheckValue()), "init prints each key's check value")
	}
	ring, err := keyring.New(d)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `CREATE TABLE t (id bigint PRIMARY KEY, c1 bytea, c2 bytea, c3 bytea, c4 bytea)`)
	require.NoError(t, err)
	for i := 1; i <= 10; i++ {
		var vals [4][]byte
		for c := range vals {
			vals[c], err = ring.Field("t", fmt.Sprintf("c%d", c+1)).Seal(strconv.Itoa(i), []byte("v"))
			require.NoError(t, err)
		}
		_, err = db.Pool.Exec(ctx, `INSERT INTO t VALUES ($1, $2, $3, $4, $5)`, i, vals[0], vals[1], vals[2], vals[3])
		require.NoError(t, err)
	}
	keysCheck := func(t *testing.T) (int, string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, nil, "keys", "check", "--file", path, "--dsn", db.URL)
		return code, stdout + stderr
	}
	const doctorKeys = "keys in use are declared and not retired"
	doctor := func(t *testing.T) doctorCheck {
		t.Helper()
		_, checks := doctorJSON(t, "doctor", "--dsn", db.URL, "--keys", path, "--private=false")
		return checks[doctorKeys]
	}

	code, out := keysCheck(t)
	require.Equal(t, exitOK, code, out)
	kcv4 := d.Keys[3].CheckValue()
	require.Contains(t, out, "key 4\ts4\tprimary\tkcv "+kcv4)
	require.Contains(t, out, "t.c4\tkey 4\tsampled 5, opened 5")
	c := doctor(t)
	require.True(t, c.OK, c.Detail)
	require.Contains(t, c.Detail, "20 sampled values open")
	// The application records the check values at startup.
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	require.NoError(t, pgstore.New(db.Pool).RecordKeyCheckValues(ctx, d))
	code, out = keysCheck(t)
	require.Equal(t, exitOK, code, out)

	// Other bytes under ID 4, the recorded check value kept.
	parsed, err := keyring.ReadFile(path)
	require.NoError(t, err)
	parsed.Keys[3].Key = keyring.GenerateSecret()
	require.NoError(t, keyring.WriteFile(path, parsed))
	_, err = keyring.Load(ctx, keyring.FileSource(path))
	require.ErrorIs(t, err, keyring.ErrKeyCheckValue)
	code, stdout, _ = runCLI(t, nil, "keys", "check", "--file", path)
	require.Equal(t, exitFindings, code, stdout)
	require.Contains(t, stdout, `FAIL kcv_mismatch: scope "s4": key 4: key material does not match its key check value `+kcv4)
	code, out = keysCheck(t)
	require.Equal(t, exitFindings, code, out)
	c = doctor(t)
	require.False(t, c.OK)
	require.Contains(t, c.Detail, "kcv_mismatch")

	// The check value recomputed for the new bytes: the document is
	// consistent, only the data shows the key is not the one that sealed it.
	parsed.Keys[3].KCV = ""
	require.NoError(t, keyring.WriteFile(path, parsed))
	_, err = keyring.Load(ctx, keyring.FileSource(path))
	require.NoError(t, err)
	code, stdout, stderr = runCLI(t, nil, "keys", "check", "--file", path)
	require.Equal(t, exitOK, code, "without --dsn nothing can tell: "+stdout+stderr)
	code, out = keysCheck(t)
	require.Equal(t, exitFindings, code, out)
	require.Contains(t, out, "FAIL wrong_key: column t.c4: none of 5 sampled values under key 4 (scope \"s4\"")
	require.Contains(t, out, "the registry's key 4 is not the key that sealed them")
	require.NotContains(t, out, "wrong_key: column t.c1")
	c = doctor(t)
	require.False(t, c.OK)
	require.Contains(t, c.Detail, "wrong_key: column t.c4")

	require.Contains(t, out, "FAIL kcv_mismatch: key 4 (scope \"s4\"): the database recorded check value "+kcv4)

	// --sample 0 turns the opening off; the check values the database
	// recorded still tell.
	code, stdout, _ = runCLI(t, nil, "keys", "check", "--file", path, "--dsn", db.URL, "--sample", "0")
	require.Equal(t, exitFindings, code, stdout)
	require.NotContains(t, stdout, "wrong_key")
	require.Contains(t, stdout, "kcv_mismatch: key 4")
	code, _, _ = runCLI(t, nil, "keys", "check", "--file", path, "--dsn", db.URL, "--sample", "-1")
	require.Equal(t, exitUsage, code)
}

// TestKeysReencryptRefusesAnotherKeyUnderAKnownID: re-encryption seals under
// the registry's primary; if the database recorded another key under that
// ID, the values it wrote would open for no application instance, so it
// refuses before reading a row.
func TestKeysReencryptRefusesAnotherKeyUnderAKnownID(t *testing.T) {
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
	ct, err := ring.Field("users", "email").Seal("1", []byte("a@example.com"))
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `INSERT INTO users (id, email) VALUES (1, $1)`, ct)
	require.NoError(t, err)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))

	// The operator rotates a stale copy of the registry, while the
	// application already recorded key 3 from the real rotation.
	stale := filepath.Join(t.TempDir(), "stale.json")
	require.NoError(t, keyring.WriteFile(stale, d))
	_, err = d.Rotate("users.email")
	require.NoError(t, err)
	require.NoError(t, pgstore.New(db.Pool).RecordKeyCheckValues(ctx, d))
	code, _, stderr := runCLI(t, nil, "keys", "rotate", "--file", stale, "--scope", "users.email")
	require.Equal(t, exitOK, code, stderr)
	code, stdout, stderr := runCLI(t, nil, "keys", "reencrypt", "--file", stale, "--dsn", db.URL, "--table", "users", "--column", "email")
	require.Equal(t, exitFindings, code, stdout+stderr)
	require.Contains(t, stderr, `scope "users.email": key 3`)
	require.Contains(t, stderr, "not the key that sealed the data")
	var v []byte
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT email FROM users WHERE id = 1`).Scan(&v))
	require.Equal(t, []byte(ct), v, "nothing rewritten")
}
