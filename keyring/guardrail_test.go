package keyring_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/keyringtest"
	"github.com/stretchr/testify/require"
)

// TestCheckRefusesWhatLoadRefuses: the guardrail runs the validation Load
// runs, so every document Load refuses fails Check too (the CLI's
// "keys check" runs the same table in cmd/rampart).
func TestCheckRefusesWhatLoadRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range keyringtest.RefusedDocuments(t) {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "keys.json")
			require.NoError(t, os.WriteFile(path, tc.JSON, 0o600))
			_, err := keyring.Load(ctx, keyring.FileSource(path))
			require.ErrorIs(t, err, tc.Want)

			d, err := keyring.ParseDocument(tc.JSON)
			if err != nil {
				return // the parser refuses it for Load and the guardrail alike
			}
			rep, err := keyring.Check(ctx, d, keyring.CheckOptions{})
			require.NoError(t, err)
			require.False(t, rep.OK, "Load refuses it, so must the guardrail")
			require.NotEmpty(t, rep.Findings)
		})
	}
}

// TestCheckReportsEveryBrokenRule: unlike New, Check does not stop at the
// first problem, and it names each with its own finding kind.
func TestCheckReportsEveryBrokenRule(t *testing.T) {
	t.Parallel()
	a, b := keyring.GenerateSecret(), keyring.GenerateSecret()
	d := &keyring.Document{Version: keyring.DocumentVersion, Keys: []keyring.KeyEntry{
		{ID: 1, Scope: "a", Status: keyring.Primary, Key: a},
		{ID: 1, Scope: "b", Status: keyring.Primary, Key: b},
		{ID: 2, Scope: "c", Status: keyring.Primary, Key: a},
	}, Columns: []keyring.Column{
		{Table: "t", Column: "a", Scope: "a"}, {Table: "t", Column: "a", Scope: "a"},
		{Table: "t", Column: "b", Scope: "b"}, {Table: "t", Column: "c", Scope: "c"},
	}}
	rep, err := keyring.Check(context.Background(), d, keyring.CheckOptions{})
	require.NoError(t, err)
	kinds := map[keyring.FindingKind]int{}
	for _, f := range rep.Findings {
		kinds[f.Kind]++
	}
	require.Equal(t, map[keyring.FindingKind]int{keyring.FindingDuplicateKeyID: 1, keyring.FindingSharedKey: 1,
		keyring.FindingDuplicateColumn: 1}, kinds, "%+v", rep.Findings)
}

func TestCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testDoc(t)
	r := testRing(t, d)
	rep, err := keyring.Check(ctx, d, keyring.CheckOptions{Columns: []keyring.Column{{Table: "s", Column: "k", Scope: "subjects"}}})
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep.Findings)
	keyringtest.RequireGuardrail(t, d, keyring.CheckOptions{Columns: []keyring.Column{{Table: "s", Column: "k", Scope: "subjects"}}})

	// Static problems are all reported, not only the first.
	bad := testDoc(t)
	bad.Keys = append(bad.Keys, keyring.KeyEntry{ID: 99, Scope: "orphan", Status: keyring.Primary, Key: bad.Keys[0].Key})
	bad.Columns = append(bad.Columns, keyring.Column{Table: "t", Column: "c", Scope: "ghost"},
		keyring.Column{Table: "t", Column: "c_idx", Scope: "users.email", Kind: keyring.KindBlindIndex})
	rep, err = keyring.Check(ctx, bad, keyring.CheckOptions{})
	require.NoError(t, err)
	require.False(t, rep.OK)
	kinds := map[keyring.FindingKind]bool{}
	for _, f := range rep.Findings {
		kinds[f.Kind] = true
	}
	require.True(t, kinds[keyring.FindingSharedKey])
	require.True(t, kinds[keyring.FindingUnknownScope])
	require.True(t, kinds[keyring.FindingUnusedScope])
	require.True(t, kinds[keyring.FindingMixedScope])

	// Stored data: under primary (fine), phone's key (undeclared), retired, junk.
	tbl := newMemTable()
	sealAll(t, r.Field("users", "email"), tbl, 5, false)
	phone, _ := r.Field("users", "phone").Seal("6", []byte("x"))
	tbl.set(6, phone)
	tbl.set(7, []byte("plaintext!"))
	oldID, _ := r.Primary("users.email")
	_, _ = d.Rotate("users.email")
	_, _ = d.Retire(oldID)
	rep, err = keyring.Check(ctx, d, keyring.CheckOptions{Counter: tbl,
		Columns: []keyring.Column{{Table: "s", Column: "k", Scope: "subjects"}}})
	require.NoError(t, err)
	require.False(t, rep.OK)
	got := map[keyring.FindingKind]int64{}
	for _, f := range rep.Findings {
		if f.Table == "users" && f.Column == "email" {
			got[f.Kind] = f.Count
		}
	}
	require.Equal(t, map[keyring.FindingKind]int64{keyring.FindingRetiredKey: 5, keyring.FindingUndeclaredKey: 1, keyring.FindingMalformed: 1}, got)
	require.NotEmpty(t, rep.Counts)
}
