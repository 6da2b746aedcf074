package keyring_test

import (
	"bytes"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/stretchr/testify/require"
)

func TestBlindIndex(t *testing.T) {
	t.Parallel()
	d := testDoc(t)
	r := testRing(t, d)
	norm := keyring.WithNormalizer(func(b []byte) []byte { return bytes.ToLower(bytes.TrimSpace(b)) })
	idx, err := r.BlindIndex("users", "email_idx", norm)
	require.NoError(t, err)
	a := idx.Sum([]byte("Alice@Example.com "))
	require.Len(t, a, keyring.IndexHeaderSize+32)
	oldID, _ := r.Primary("users.email.idx")
	id, ok := idx.KeyID(a)
	require.True(t, ok)
	require.Equal(t, oldID, id, "the stored value names its key")
	require.Equal(t, a, idx.Sum([]byte("alice@example.com")))
	require.NotEqual(t, a, idx.Sum([]byte("bob@example.com")))
	// Sums: the tagged value, then the bare token that rows written before
	// key IDs were recorded hold.
	require.Equal(t, [][]byte{a, a[keyring.IndexHeaderSize:]}, idx.Sums([]byte("alice@example.com")))

	short, err := r.BlindIndex("users", "email_idx", norm, keyring.WithTruncation(8))
	require.NoError(t, err)
	require.Equal(t, a[:keyring.IndexHeaderSize+8], short.Sum([]byte("alice@example.com")))
	_, ok = idx.KeyID(short.Sum([]byte("alice@example.com")))
	require.False(t, ok, "a value of another size is not this index's")
	_, err = r.BlindIndex("users", "email_idx", keyring.WithTruncation(4))
	require.ErrorIs(t, err, keyring.ErrInvalidConfig)
	_, err = r.BlindIndex("users", "email")
	require.ErrorIs(t, err, keyring.ErrUndeclaredColumn)

	// The index key is not the field key: a different scope gives a different token.
	d2 := testDoc(t)
	other, _ := testRing(t, d2).BlindIndex("users", "email_idx", norm)
	require.NotEqual(t, a, other.Sum([]byte("alice@example.com")))

	// Rotation: Sum moves to the new key, Sums finds old and new, primary first.
	_, err = d.Rotate("users.email.idx")
	require.NoError(t, err)
	idx2, err := testRing(t, d).BlindIndex("users", "email_idx", norm)
	require.NoError(t, err)
	b := idx2.Sum([]byte("alice@example.com"))
	require.NotEqual(t, a, b)
	require.Equal(t, [][]byte{b, a, b[keyring.IndexHeaderSize:], a[keyring.IndexHeaderSize:]}, idx2.Sums([]byte("alice@example.com")))
	// After retirement the old token is no longer searched.
	_, err = d.Retire(oldID)
	require.NoError(t, err)
	idx3, _ := testRing(t, d).BlindIndex("users", "email_idx", norm)
	require.Equal(t, [][]byte{b, b[keyring.IndexHeaderSize:]}, idx3.Sums([]byte("alice@example.com")))
}

func TestIndexKeyID(t *testing.T) {
	t.Parallel()
	tagged := append([]byte{keyring.VersionIndex, 0, 0, 0, 7}, make([]byte, 32)...)
	for _, tc := range []struct {
		name string
		v    []byte
		id   uint32
		ok   bool
	}{
		{"tagged", tagged, 7, true},
		{"shortest", tagged[:keyring.IndexHeaderSize+8], 7, true},
		{"too short", tagged[:keyring.IndexHeaderSize+7], 0, false},
		{"too long", append(tagged, 0), 0, false},
		{"bare token", make([]byte, 32), 0, false},
		{"key ID 0", append([]byte{keyring.VersionIndex, 0, 0, 0, 0}, make([]byte, 32)...), 0, false},
		{"envelope version", append([]byte{keyring.VersionBinary, 0, 0, 0, 7}, make([]byte, 32)...), 0, false},
		{"empty", nil, 0, false},
	} {
		id, ok := keyring.IndexKeyID(tc.v)
		require.Equal(t, tc.ok, ok, tc.name)
		if ok {
			require.Equal(t, tc.id, id, tc.name)
		}
	}
}

// TestBlindIndexInvalidConfig: an option outside its range is refused with
// ErrInvalidConfig naming the option and the column, never silently
// replaced by the default.
func TestBlindIndexInvalidConfig(t *testing.T) {
	t.Parallel()
	r := testRing(t, testDoc(t))
	for _, tc := range []struct {
		name string
		opts []keyring.IndexOption
		want string
	}{
		{"nil option", []keyring.IndexOption{nil}, "BlindIndex: option 0 is nil"},
		{"nil normalizer", []keyring.IndexOption{keyring.WithNormalizer(nil)}, "WithNormalizer"},
		{"truncation below 8", []keyring.IndexOption{keyring.WithTruncation(7)}, "WithTruncation: blind index truncation 7, want 8..32 bytes"},
		{"truncation above 32", []keyring.IndexOption{keyring.WithTruncation(33)}, "WithTruncation: blind index truncation 33, want 8..32 bytes"},
		{"zero truncation", []keyring.IndexOption{keyring.WithTruncation(0)}, "WithTruncation"},
		{"negative truncation", []keyring.IndexOption{keyring.WithTruncation(-1)}, "WithTruncation"},
		{"first invalid wins", []keyring.IndexOption{keyring.WithTruncation(16), keyring.WithNormalizer(nil), keyring.WithTruncation(2)}, "WithNormalizer"},
	} {
		idx, err := r.BlindIndex("users", "email_idx", tc.opts...)
		require.ErrorIs(t, err, keyring.ErrInvalidConfig, tc.name)
		require.ErrorContains(t, err, tc.want, tc.name)
		require.ErrorContains(t, err, "users.email_idx", tc.name)
		require.Nil(t, idx, tc.name)
	}
	for _, n := range []int{8, 16, 32} {
		idx, err := r.BlindIndex("users", "email_idx", keyring.WithTruncation(n))
		require.NoError(t, err)
		require.Len(t, idx.Sum([]byte("x")), keyring.IndexHeaderSize+n)
	}
}
