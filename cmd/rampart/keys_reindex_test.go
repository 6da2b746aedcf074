package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rampart-sdk/rampart/authn"
	authnpg "github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/pgstore"
	"github.com/stretchr/testify/require"
)

// TestKeysIndexVerbsWithoutDatabase: every verb pointed at an index scope,
// a wrong column or an unknown scope fails with a usage error before any
// connection is made.
func TestKeysIndexVerbsWithoutDatabase(t *testing.T) {
	t.Parallel()
	path := initRegistry(t)                                                                           // users.email = key 1, users.email.idx = key 2
	code, _, stderr := runCLI(t, nil, "keys", "rotate", "--file", path, "--scope", "users.email.idx") // key 3
	require.Equal(t, exitOK, code, stderr)
	dsn := "postgres://unused.invalid/db"
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"rotate unknown scope", []string{"rotate", "--scope", "users.nope"}, exitUsage, "unknown scope"},
		{"retire index key without dsn", []string{"retire", "--id", "2"}, exitUsage, "--dsn is required"},
		{"retire index primary", []string{"retire", "--id", "3", "--dsn", dsn}, exitUsage, "rotate the scope first"},
		{"reencrypt an index", []string{"reencrypt", "--dsn", dsn, "--table", "users", "--column", "email_idx"}, exitUsage, "keys reindex --table users --column email_idx --source-column"},
		{"reindex a field", []string{"reindex", "--dsn", dsn, "--table", "users", "--column", "email", "--source-column", "email"}, exitUsage, "is an encrypted column, not a blind index"},
		{"reindex undeclared column", []string{"reindex", "--dsn", dsn, "--table", "users", "--column", "ghost_idx", "--source-column", "email"}, exitUsage, "not declared"},
		{"reindex wrong table", []string{"reindex", "--dsn", dsn, "--table", "members", "--column", "email_idx", "--source-column", "email"}, exitUsage, "not declared"},
		{"reindex without source", []string{"reindex", "--dsn", dsn, "--table", "users", "--column", "email_idx"}, exitUsage, "--source-column is required"},
		{"reindex source undeclared", []string{"reindex", "--dsn", dsn, "--table", "users", "--column", "email_idx", "--source-column", "phone"}, exitUsage, "--source-column: keyring: column users.phone"},
		{"reindex source is the index", []string{"reindex", "--dsn", dsn, "--table", "users", "--column", "email_idx", "--source-column", "email_idx"}, exitUsage, "--source-column"},
		{"reindex bad normaliser", []string{"reindex", "--dsn", dsn, "--table", "users", "--column", "email_idx", "--source-column", "email", "--normalize", "upper"}, exitUsage, "--normalize"},
		{"reindex bad truncation", []string{"reindex", "--dsn", dsn, "--table", "users", "--column", "email_idx", "--source-column", "email", "--truncate", "4"}, exitUsage, "truncation 4"},
		{"reindex missing table", []string{"reindex", "--dsn", dsn, "--column", "email_idx"}, exitUsage, "--table"},
		{"reindex bad flag", []string{"reindex", "--frobnicate"}, exitUsage, "frobnicate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"keys"}, tc.args...)
			args = append(args, "--file", path)
			code, stdout, stderr := runCLI(t, nil, args...)
			require.Equal(t, tc.code, code, stdout+stderr)
			require.Contains(t, stderr, tc.inStderr)
		})
	}
	var stdout string
	code, stdout, stderr = runCLI(t, nil, "keys", "reindex", "--help")
	require.Equal(t, exitOK, code, stdout+stderr)
	require.Contains(t, stderr, "--source-column")
	code, stdout, _ = runCLI(t, nil, "keys", "--help")
	require.Equal(t, exitOK, code)
	require.Contains(t, stdout, "reindex")
}

func lookupUsers(t *testing.T, db *pgtest.DB, idx *keyring.BlindIndex, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		var id int
		require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT id FROM users WHERE email_idx = ANY($1)`,
			idx.Sums([]byte("User"+strconv.Itoa(i)+"@Example.com"))).Scan(&id), "user %d", i)
		require.Equal(t, i, id)
	}
}

func loadIndex(t *testing.T, path string) (*keyring.Ring, *keyring.BlindIndex) {
	t.Helper()
	d, err := keyring.ReadFile(path)
	require.NoError(t, err)
	r, err := keyring.New(d)
	require.NoError(t, err)
	idx, err := r.BlindIndex("users", "email_idx", keyring.WithNormalizer(bytes.ToLower))
	require.NoError(t, err)
	return r, idx
}

// TestKeysReindexFlowOnPostgres is issue 17's defect as an operator meets
// it: rotate the index scope, retire is refused, reindex (resumed after a
// crash, refused with the wrong normaliser), retire, check; lookups work at
// every step.
func TestKeysReindexFlowOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	path := initRegistry(t)
	r1, idx1 := loadIndex(t, path)
	_, err := db.Pool.Exec(ctx, `CREATE TABLE users (id bigint PRIMARY KEY, email bytea, email_idx bytea UNIQUE)`)
	require.NoError(t, err)
	const n = 50
	for i := 1; i <= n; i++ {
		e := "User" + strconv.Itoa(i) + "@Example.com"
		ct, err := r1.Field("users", "email").Seal(strconv.Itoa(i), []byte(e))
		require.NoError(t, err)
		_, err = db.Pool.Exec(ctx, `INSERT INTO users VALUES ($1, $2, $3)`, i, ct, idx1.Sum([]byte(e)))
		require.NoError(t, err)
	}
	dbEnv := map[string]string{"DATABASE_URL": db.URL}
	code, stdout, stderr := runCLI(t, dbEnv, "keys", "check", "--file", path, "--dsn", db.URL)
	require.Equal(t, exitOK, code, stdout+stderr)
	require.Contains(t, stdout, "users.email_idx\tkey 2\tprimary\t50")

	code, stdout, stderr = runCLI(t, dbEnv, "keys", "rotate", "--file", path, "--scope", "users.email.idx")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, `scope "users.email.idx": key 3 is primary; key 2 is active until the index is recomputed ("rampart keys reindex")`)
	r2, idx2 := loadIndex(t, path)
	lookupUsers(t, db, idx2, n)

	code, stdout, stderr = runCLI(t, dbEnv, "keys", "retire", "--file", path, "--id", "2")
	require.Equal(t, exitFindings, code, stdout+stderr)
	require.Contains(t, stderr, "users.email_idx holds 50 index values under it")
	require.Contains(t, stderr, "rampart keys reindex --table users --column email_idx")

	// The wrong normaliser: refused, nothing written.
	code, stdout, stderr = runCLI(t, dbEnv, "keys", "reindex", "--file", path, "--table", "users", "--column", "email_idx", "--source-column", "email")
	require.Equal(t, exitFindings, code, stdout+stderr)
	require.Contains(t, stderr, "does not match its source")
	require.Contains(t, stderr, "--normalize")
	lookupUsers(t, db, idx2, n)

	// A run that crashed after 20 rows left its checkpoint; the CLI resumes.
	store := pgstore.New(db.Pool)
	save := func(ctx context.Context, c keyring.Cursor) error {
		return store.SaveCheckpoint(ctx, "users", "email_idx", c.ID)
	}
	col := pgstore.NewIndexColumn(db.Pool, "users", "id", "email_idx", "email")
	_, err = idx2.Reindex(ctx, &crashAfter{IndexRowSource: col, n: 2}, keyring.FieldValues(r2.Field("users", "email")),
		keyring.ReencryptOptions{BatchSize: 10, Checkpoint: save})
	require.ErrorContains(t, err, "simulated crash")
	lookupUsers(t, db, idx2, n)
	code, stdout, stderr = runCLI(t, dbEnv, "keys", "retire", "--file", path, "--id", "2")
	require.Equal(t, exitFindings, code, stdout+stderr)
	require.Contains(t, stderr, "holds 30 index values")

	code, stdout, stderr = runCLI(t, dbEnv, "keys", "reindex", "--file", path, "--table", "users", "--column", "email_idx",
		"--source-column", "email", "--normalize", "lower", "--batch", "7")
	require.Equal(t, exitOK, code, stdout+stderr)
	require.Contains(t, stderr, `resuming after row "20"`)
	require.Contains(t, stdout, "users.email_idx: 30 rows scanned, 30 reindexed, 0 already current")
	lookupUsers(t, db, idx2, n)
	code, stdout, stderr = runCLI(t, dbEnv, "keys", "reindex", "--file", path, "--table", "users", "--column", "email_idx",
		"--source-column", "email", "--normalize", "lower", "--json")
	require.Equal(t, exitOK, code, stdout+stderr)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	require.Equal(t, map[string]any{"scanned": 50.0, "rewritten": 0.0, "current": 50.0, "conflicts": 0.0, "last_id": "50"}, res)

	code, stdout, stderr = runCLI(t, dbEnv, "keys", "retire", "--file", path, "--id", "2")
	require.Equal(t, exitOK, code, stdout+stderr)
	require.Contains(t, stdout, `key 2 of scope "users.email.idx" is retired`)
	_, idx3 := loadIndex(t, path)
	lookupUsers(t, db, idx3, n)
	code, stdout, stderr = runCLI(t, dbEnv, "keys", "check", "--file", path, "--dsn", db.URL)
	require.Equal(t, exitOK, code, stdout+stderr)
	require.Contains(t, stdout, "users.email_idx\tkey 3\tprimary\t50")

	// An index row written under the retired key (an old instance) is a
	// finding, and reindex repairs it.
	_, err = db.Pool.Exec(ctx, `UPDATE users SET email_idx = $1 WHERE id = 7`, idx1.Sum([]byte("user7@example.com")))
	require.NoError(t, err)
	code, stdout, _ = runCLI(t, dbEnv, "keys", "check", "--file", path, "--dsn", db.URL)
	require.Equal(t, exitFindings, code, stdout)
	require.Contains(t, stdout, "FAIL retired_key: blind index users.email_idx: 1 values under retired key 2")
	code, stdout, stderr = runCLI(t, dbEnv, "keys", "reindex", "--file", path, "--table", "users", "--column", "email_idx",
		"--source-column", "email", "--normalize", "lower")
	require.Equal(t, exitOK, code, stdout+stderr)
	require.Contains(t, stdout, "1 reindexed")
	lookupUsers(t, db, idx3, n)
}

type crashAfter struct {
	keyring.IndexRowSource
	n, calls int
}

func (c *crashAfter) Swap(ctx context.Context, s []keyring.Swap) (int64, error) {
	c.calls++
	if c.calls > c.n {
		return 0, errSimulatedCrash
	}
	return c.IndexRowSource.Swap(ctx, s)
}

type crashError struct{}

func (crashError) Error() string { return "simulated crash" }

var errSimulatedCrash = crashError{}

// TestKeysPepperRotationOnPostgres: an API-key pepper cannot be recomputed;
// retire refuses, saying why and until when, while live keys were hashed
// under the old key, and allows it once they are revoked or expired.
func TestKeysPepperRotationOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, authnpg.Migrate(ctx, db.Pool))
	path := filepath.Join(t.TempDir(), "keys.json")
	code, _, stderr := runCLI(t, nil, "keys", "init", "--scope", "apikeys.pepper",
		"--blind-index", "authn_api_keys.hash=apikeys.pepper", "--out", path)
	require.Equal(t, exitOK, code, stderr)
	keysFor := func() *authn.APIKeys {
		d, err := keyring.ReadFile(path)
		require.NoError(t, err)
		r, err := keyring.New(d)
		require.NoError(t, err)
		pepper, err := r.BlindIndex("authn_api_keys", "hash")
		require.NoError(t, err)
		store, err := authnpg.New(db.Pool)
		require.NoError(t, err)
		k, err := authn.NewAPIKeys(store, "rk_test", pepper)
		require.NoError(t, err)
		return k
	}
	old := keysFor()
	expiring, expKey, err := old.Create(ctx, authn.NewAPIKey{Org: "acme", Owner: "u1", ExpiresAt: time.Now().Add(48 * time.Hour)})
	require.NoError(t, err)
	forever, foreverKey, err := old.Create(ctx, authn.NewAPIKey{Org: "acme", Owner: "u2"})
	require.NoError(t, err)
	dbEnv := map[string]string{"DATABASE_URL": db.URL}

	code, stdout, stderr := runCLI(t, dbEnv, "keys", "rotate", "--file", path, "--scope", "apikeys.pepper")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "key 1 stays active until every API key hashed under it has expired or been reissued")
	cur := keysFor()
	for _, raw := range []authn.RawAPIKey{expiring, forever} {
		_, err := cur.Verify(ctx, raw.Reveal())
		require.NoError(t, err, "keys hashed under the old pepper still verify")
	}

	code, stdout, stderr = runCLI(t, dbEnv, "keys", "reindex", "--file", path, "--table", "authn_api_keys", "--column", "hash")
	require.Equal(t, exitUsage, code, stdout+stderr)
	require.Contains(t, stderr, "is the API-key pepper")
	code, stdout, stderr = runCLI(t, dbEnv, "keys", "reencrypt", "--file", path, "--table", "authn_api_keys", "--column", "hash")
	require.Equal(t, exitUsage, code, stdout+stderr)
	require.Contains(t, stderr, "is the API-key pepper")

	code, stdout, stderr = runCLI(t, dbEnv, "keys", "retire", "--file", path, "--id", "1")
	require.Equal(t, exitFindings, code, stdout+stderr)
	require.Contains(t, stderr, "authn_api_keys.hash holds 2 live API keys hashed under it")
	require.Contains(t, stderr, "the last of those with an expiry expires at "+expKey.ExpiresAt.UTC().Format(time.RFC3339))
	require.Contains(t, stderr, "1 never expire and must be reissued")
	require.Contains(t, stderr, "key 1 must stay active until those keys have expired, been revoked or been reissued")

	// Reissue the key that never expires; let the other one expire.
	fresh, _, err := cur.Create(ctx, authn.NewAPIKey{Org: "acme", Owner: "u2"})
	require.NoError(t, err)
	require.NoError(t, cur.Revoke(ctx, "acme", foreverKey.ID))
	code, _, stderr = runCLI(t, dbEnv, "keys", "retire", "--file", path, "--id", "1")
	require.Equal(t, exitFindings, code)
	require.Contains(t, stderr, "holds 1 live API keys")
	_, err = db.Pool.Exec(ctx, `UPDATE authn_api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, expKey.ID)
	require.NoError(t, err)

	code, stdout, stderr = runCLI(t, dbEnv, "keys", "retire", "--file", path, "--id", "1")
	require.Equal(t, exitOK, code, stdout+stderr)
	code, stdout, stderr = runCLI(t, dbEnv, "keys", "check", "--file", path, "--dsn", db.URL)
	require.Equal(t, exitOK, code, stdout+stderr)
	require.Contains(t, stdout, "authn_api_keys.hash\tkey 2\tprimary\t1")
	_, err = keysFor().Verify(ctx, fresh.Reveal())
	require.NoError(t, err, "the reissued key verifies after retirement")
}
