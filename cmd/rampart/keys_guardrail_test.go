package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/keyringtest"
	"github.com/stretchr/testify/require"
)

// TestKeysCheckRefusesWhatLoadRefuses: the CI guardrail judges the registry
// the application will load. Every document keyring.Load refuses (one per
// rule of its validation) makes "keys check" exit non-zero.
func TestKeysCheckRefusesWhatLoadRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range keyringtest.RefusedDocuments(t) {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "keys.json")
			require.NoError(t, os.WriteFile(path, tc.JSON, 0o600))
			_, err := keyring.Load(context.Background(), keyring.FileSource(path))
			require.ErrorIs(t, err, tc.Want)

			code, stdout, stderr := runCLI(t, nil, "keys", "check", "--file", path)
			require.NotEqual(t, exitOK, code, "Load refuses it, keys check passed it:\n%s%s", stdout, stderr)
			require.NotContains(t, stdout, "ok:")
			code, _, _ = runCLI(t, nil, "keys", "check", "--file", path, "--json")
			require.NotEqual(t, exitOK, code)
		})
	}
}
