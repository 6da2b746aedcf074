package keyring_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/stretchr/testify/require"
)

func randomKeyB64(t *testing.T) string {
	t.Helper()
	b := make([]byte, keyring.KeySize)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

// TestDuplicateMembersRefused: encoding/json keeps the last of two equal
// members, so a document whose entry says "key" twice loads a key the
// reviewer did not read. Every member at every level, given twice (or twice
// in different case, which encoding/json also matches), is refused with the
// path of the object that holds it, by ParseDocument, FileSource and
// EnvSource alike.
func TestDuplicateMembersRefused(t *testing.T) {
	t.Parallel()
	k1, k2, k3 := randomKeyB64(t), randomKeyB64(t), randomKeyB64(t)
	key1 := `{"id": 1, "scope": "a", "status": "primary", "key": "` + k1 + `"}`
	key2 := `{"id": 2, "scope": "b", "status": "primary", "key": "` + k2 + `"}`
	col1 := `{"table": "t", "column": "a", "scope": "a"}`
	col2 := `{"table": "t", "column": "b", "scope": "b", "kind": "field"}`
	doc := func(top, k1, k2, c1, c2 string) string {
		return `{"version": 1` + top + `, "keys": [` + k1 + `, ` + k2 + `], "columns": [` + c1 + `, ` + c2 + `]}`
	}
	// with adds member m to the object o (before its closing brace).
	with := func(o, m string) string { return strings.TrimSuffix(o, "}") + ", " + m + "}" }
	valid := doc("", key1, key2, col1, col2)
	_, err := keyring.ParseDocument([]byte(valid))
	require.NoError(t, err)

	for _, tc := range []struct {
		name, doc, member, path string
	}{
		{"version twice", doc(`, "version": 1`, key1, key2, col1, col2), "version", "$"},
		{"keys twice", `{"version": 1, "keys": [` + key1 + `, ` + key2 + `], "keys": [` + key1 + `], "columns": [` + col1 + `, ` + col2 + `]}`, "keys", "$"},
		{"columns twice", doc(`, "columns": []`, key1, key2, col1, col2), "columns", "$"},
		{"Version in other case", doc(`, "VERSION": 1`, key1, key2, col1, col2), "VERSION", "$"},
		{"key twice", doc("", key1, with(key2, `"key": "`+k3+`"`), col1, col2), "key", "$.keys[1]"},
		{"Key in other case", doc("", with(key1, `"Key": "`+k3+`"`), key2, col1, col2), "Key", "$.keys[0]"},
		{"id twice", doc("", key1, with(key2, `"id": 9`), col1, col2), "id", "$.keys[1]"},
		{"scope twice in a key", doc("", with(key1, `"scope": "b"`), key2, col1, col2), "scope", "$.keys[0]"},
		{"status twice", doc("", with(key1, `"status": "retired"`), key2, col1, col2), "status", "$.keys[0]"},
		{"wrapped twice", doc("", key1, with(with(key2, `"wrapped": "AAAA"`), `"wrapped": "AAAA"`), col1, col2), "wrapped", "$.keys[1]"},
		{"kcv twice", doc("", with(with(key1, `"kcv": "00"`), `"kcv": "00"`), key2, col1, col2), "kcv", "$.keys[0]"},
		{"table twice", doc("", key1, key2, with(col1, `"table": "u"`), col2), "table", "$.columns[0]"},
		{"column twice", doc("", key1, key2, col1, with(col2, `"column": "c"`)), "column", "$.columns[1]"},
		{"scope twice in a column", doc("", key1, key2, col1, with(col2, `"scope": "a"`)), "scope", "$.columns[1]"},
		{"kind twice", doc("", key1, key2, col1, with(col2, `"kind": "blind_index"`)), "kind", "$.columns[1]"},
		{"Kelvin sign folds to k", doc("", with(key1, `"\u212aey": "`+k3+`"`), key2, col1, col2), "\u212aey", "$.keys[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := `duplicate member "` + tc.member + `" at ` + tc.path
			_, err := keyring.ParseDocument([]byte(tc.doc))
			require.ErrorIs(t, err, keyring.ErrInvalidDocument)
			require.ErrorContains(t, err, want)
			require.NotContains(t, err.Error(), k3)

			ctx := context.Background()
			_, err = keyring.Load(ctx, keyring.EnvSource(func(string) string { return tc.doc }, "KEYS"))
			require.ErrorContains(t, err, want)
			path := filepath.Join(t.TempDir(), "keys.json")
			require.NoError(t, os.WriteFile(path, []byte(tc.doc), 0o600))
			_, err = keyring.Load(ctx, keyring.FileSource(path))
			require.ErrorContains(t, err, want)
		})
	}
}

// TestMemberWalkBounds: hostile shapes fail cleanly, never by exhausting
// the stack, and never quote the input.
func TestMemberWalkBounds(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		strings.Repeat("[", 100000) + strings.Repeat("]", 100000),
		strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000),
		`{"version": 1, "keys": [`, `{"version" 1}`, `{1: 2}`,
	} {
		_, err := keyring.ParseDocument([]byte(in))
		require.ErrorIs(t, err, keyring.ErrInvalidDocument)
		require.Less(t, len(err.Error()), 200)
	}
}
