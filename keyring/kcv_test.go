package keyring_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/stretchr/testify/require"
)

// TestKeyCheckValues: every key written carries its check value; a document
// whose key 2 was replaced under the same ID (the value no longer matches)
// is refused at load, naming the key and scope and never the key; the
// check value survives wrapping and is checked after unwrapping.
func TestKeyCheckValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testDoc(t)
	raw, err := d.Encode()
	require.NoError(t, err)
	var w struct {
		Keys []struct {
			ID  uint32 `json:"id"`
			KCV string `json:"kcv"`
		} `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(raw, &w))
	r := testRing(t, d)
	for i, k := range w.Keys {
		require.Len(t, k.KCV, 2*keyring.KCVSize)
		require.Equal(t, keyring.KeyCheckValue(d.Keys[i].Key), k.KCV)
		require.Equal(t, d.Keys[i].CheckValue(), k.KCV)
		got, ok := r.KeyCheckValue(k.ID)
		require.True(t, ok)
		require.Equal(t, k.KCV, got)
	}
	// Distinct keys, distinct values; the same key, the same value.
	require.NotEqual(t, w.Keys[0].KCV, w.Keys[1].KCV)
	parsed, err := keyring.ParseDocument(raw)
	require.NoError(t, err)
	require.Equal(t, w.Keys[0].KCV, keyring.KeyCheckValue(parsed.Keys[0].Key), "the same key, the same value")
	_, err = keyring.New(parsed)
	require.NoError(t, err, "a document loads with the check values it recorded")

	// Replace key 2's material, keep its recorded check value.
	swapped := parsed
	swapped.Keys[1].Key = keyring.GenerateSecret()
	_, err = keyring.New(swapped)
	require.ErrorIs(t, err, keyring.ErrKeyCheckValue)
	var se *keyring.ScopeError
	require.ErrorAs(t, err, &se)
	require.Equal(t, uint32(2), se.KeyID)
	require.Equal(t, d.Keys[1].Scope, se.Scope)
	require.Contains(t, err.Error(), `key 2`)
	require.NotContains(t, err.Error(), keyring.KeyCheckValue(swapped.Keys[1].Key), "names the recorded value only")
	rep, err := keyring.Check(ctx, swapped, keyring.CheckOptions{})
	require.NoError(t, err)
	require.False(t, rep.OK)
	require.Equal(t, keyring.FindingKCVMismatch, rep.Findings[0].Kind)

	// A malformed recorded value is refused by the parser.
	for _, bad := range []string{"00", "ZZZZZZZZZZZZZZZZ", "00000000000000000", "ABCDEF0123456789"} {
		doc := strings.Replace(string(raw), `"kcv": "`+w.Keys[0].KCV+`"`, `"kcv": "`+bad+`"`, 1)
		_, err := keyring.ParseDocument([]byte(doc))
		require.ErrorIs(t, err, keyring.ErrInvalidDocument, bad)
	}

	// Wrapped documents keep the check value and check it after unwrapping.
	kek, err := keyring.NewLocalKEK(keyring.GenerateSecret())
	require.NoError(t, err)
	wd, err := keyring.WrapDocument(ctx, d, kek.Wrap)
	require.NoError(t, err)
	for i := range wd.Keys {
		require.Equal(t, w.Keys[i].KCV, wd.Keys[i].KCV)
		require.Equal(t, w.Keys[i].KCV, wd.Keys[i].CheckValue())
	}
	path := filepath.Join(t.TempDir(), "keys.json")
	require.NoError(t, keyring.WriteFile(path, wd))
	_, err = keyring.Load(ctx, keyring.EnvelopeSource(keyring.FileSource(path), kek))
	require.NoError(t, err)
	// A wrapped key re-wrapped from other material (by someone holding the
	// KEK) under the same entry is caught by the recorded check value.
	other := *d
	other.Keys = append([]keyring.KeyEntry(nil), d.Keys...)
	other.Keys[0].Key = keyring.GenerateSecret()
	owd, err := keyring.WrapDocument(ctx, &other, kek.Wrap)
	require.NoError(t, err)
	owd.Keys[0].KCV = wd.Keys[0].KCV
	require.NoError(t, keyring.WriteFile(path, owd))
	_, err = keyring.Load(ctx, keyring.EnvelopeSource(keyring.FileSource(path), kek))
	require.ErrorIs(t, err, keyring.ErrKeyCheckValue)
	b, _ := os.ReadFile(path)
	require.Contains(t, string(b), `"kcv"`)
}
