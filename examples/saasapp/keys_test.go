package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/keyring"
)

// Twelve scopes, each used by exactly one declared column, none sharing key
// material: the guardrail has no finding.
func TestTwelveDisjointScopes(t *testing.T) {
	require.Len(t, keyScopes, 12)
	perScope := map[string]int{}
	for _, c := range keyColumns {
		perScope[c.Scope]++
	}
	require.Len(t, perScope, 12)
	for s, n := range perScope {
		require.Equal(t, 1, n, "scope %s protects one column", s)
	}
	doc, err := loadKeys(context.Background(), "", io.Discard)
	require.NoError(t, err)
	rep, err := keyring.Check(context.Background(), doc, keyring.CheckOptions{Columns: keyColumns})
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep.Findings)
}

// A registry written by -write-keys is private to its owner, loads, and
// keeps data readable across restarts (unlike the ephemeral demo keys).
func TestKeysFileSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	require.NoError(t, writeKeys(path))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	var warn bytes.Buffer
	open := func() *fields {
		doc, err := loadKeys(context.Background(), path, &warn)
		require.NoError(t, err)
		f, err := newFields(doc, keyring.NewMemoryStore())
		require.NoError(t, err)
		return f
	}
	ct, err := open().taxID.Seal("usr-1", []byte("123-45-6789"))
	require.NoError(t, err)
	pt, err := open().taxID.Open("usr-1", ct)
	require.NoError(t, err)
	require.Equal(t, "123-45-6789", string(pt))
	require.Empty(t, warn.String(), "no ephemeral-key warning with a registry file")

	// A ciphertext moved to another row, or read as another column, fails.
	_, err = open().taxID.Open("usr-2", ct)
	require.ErrorIs(t, err, keyring.ErrDecrypt)
	_, err = open().name.Open("usr-1", ct)
	require.Error(t, err)

	// Group- or world-readable registries are refused.
	require.NoError(t, os.Chmod(path, 0o644))
	_, err = loadKeys(context.Background(), path, &warn)
	require.ErrorIs(t, err, keyring.ErrInsecureFile)
}

func TestEphemeralKeysWarn(t *testing.T) {
	var warn bytes.Buffer
	_, err := loadKeys(context.Background(), "", &warn)
	require.NoError(t, err)
	require.Contains(t, warn.String(), "WARNING")
}
