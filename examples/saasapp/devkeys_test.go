package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/keyring"
)

// testKeysFile writes a registry for a test on PostgreSQL (a persistent
// database needs one); in memory it returns "" (ephemeral keys).
func testKeysFile(t *testing.T, databaseURL string) string {
	t.Helper()
	if databaseURL == "" {
		return ""
	}
	path := filepath.Join(t.TempDir(), "keys.json")
	require.NoError(t, writeKeys(path))
	return path
}

// TestPersistentDatabaseNeedsARegistry: on PostgreSQL without -keys the app
// would seal data under throwaway keys whose IDs (1-12) collide with any
// real registry's, and no restart could read it back. It refuses to start,
// unless -dev-keys says the database is a scratch one.
func TestPersistentDatabaseNeedsARegistry(t *testing.T) {
	t.Parallel()
	url := pgtest.New(t).URL
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, err := newApp(context.Background(), config{DatabaseURL: url, Warn: io.Discard, Logger: quiet})
	require.ErrorIs(t, err, errPersistentWithoutKeys)
	require.ErrorContains(t, err, "-keys FILE")
	require.ErrorContains(t, err, "-dev-keys")

	a, err := newApp(context.Background(), config{DatabaseURL: url, AppDatabaseURL: appURL(t, url), DevKeys: true, Warn: io.Discard, Logger: quiet})
	require.NoError(t, err, "-dev-keys allows throwaway keys on a scratch database")
	a.Close()

	// The database recorded the throwaway keys' check values: the real
	// registry, whose IDs 1-12 are the same, is refused on that database
	// instead of meeting rows it can never open.
	keys := testKeysFile(t, url)
	_, err = newApp(context.Background(), config{DatabaseURL: url, AppDatabaseURL: appURL(t, url), KeysFile: keys, Warn: io.Discard, Logger: quiet})
	require.ErrorIs(t, err, keyring.ErrKeyCheckValue)
	require.ErrorContains(t, err, "key 1")

	// On a fresh database the registry loads, and loads again after a restart.
	fresh := pgtest.New(t).URL
	for range 2 {
		a, err = newApp(context.Background(), config{DatabaseURL: fresh, AppDatabaseURL: appURL(t, fresh), KeysFile: keys, Warn: io.Discard, Logger: quiet})
		require.NoError(t, err)
		a.Close()
	}

	// In memory nothing outlives the keys: no flag needed.
	a, err = newApp(context.Background(), config{Warn: io.Discard, Logger: quiet})
	require.NoError(t, err)
	a.Close()
}
