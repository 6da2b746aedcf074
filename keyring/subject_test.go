package keyring_test

import (
	"context"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/keyringtest"
	"github.com/stretchr/testify/require"
)

func TestSubjectKeysMemoryStore(t *testing.T) {
	t.Parallel()
	keyringtest.TestSubjectKeyStore(t, func(t *testing.T) keyring.SubjectKeyStore { return keyring.NewMemoryStore() })
}

func TestSubjectKeysShredding(t *testing.T) {
	t.Parallel()
	d := testDoc(t)
	keyringtest.TestSubjectKeys(t, testRing(t, d), "subjects", keyring.NewMemoryStore())
	// A rotation of the wrapping scope keeps existing subjects readable.
	ctx := context.Background()
	store := keyring.NewMemoryStore()
	sk, err := testRing(t, d).SubjectKeys("subjects", store)
	require.NoError(t, err)
	ct, err := sk.Seal(ctx, "u1", "users.email:1", []byte("alice"))
	require.NoError(t, err)
	_, err = d.Rotate("subjects")
	require.NoError(t, err)
	sk2, err := testRing(t, d).SubjectKeys("subjects", store)
	require.NoError(t, err)
	pt, err := sk2.Open(ctx, "u1", "users.email:1", ct)
	require.NoError(t, err)
	require.Equal(t, "alice", string(pt))
	_, err = testRing(t, d).SubjectKeys("nope", store)
	require.ErrorIs(t, err, keyring.ErrUnknownScope)
	// A scope that encrypts or indexes a declared column cannot also wrap
	// data keys; declaring the subject-key column itself is fine.
	for _, shared := range []string{"users.email", "users.email.idx"} {
		_, err = testRing(t, d).SubjectKeys(shared, store)
		require.ErrorIs(t, err, keyring.ErrInvalidDocument, shared)
	}
	withWrapCol, err := keyring.New(d, keyring.Column{Table: keyring.SubjectKeyTable, Column: keyring.SubjectKeyColumn, Scope: "subjects"})
	require.NoError(t, err)
	_, err = withWrapCol.SubjectKeys("subjects", store)
	require.NoError(t, err)
}
