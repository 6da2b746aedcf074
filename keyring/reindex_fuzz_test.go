package keyring_test

import (
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
)

// FuzzIndexKeyID feeds arbitrary stored bytes to the blind-index header
// readers: they never panic, accept only the tagged layout, and a bare
// token is never mistaken for a tagged value of the index's own size.
func FuzzIndexKeyID(f *testing.F) {
	d, err := keyring.Init([]string{"users.email.idx"},
		keyring.Column{Table: "users", Column: "email_idx", Scope: "users.email.idx", Kind: keyring.KindBlindIndex})
	if err != nil {
		f.Fatal(err)
	}
	r, err := keyring.New(d)
	if err != nil {
		f.Fatal(err)
	}
	idx, err := r.BlindIndex("users", "email_idx")
	if err != nil {
		f.Fatal(err)
	}
	tagged := idx.Sum([]byte("alice@example.com"))
	f.Add(tagged)
	f.Add(tagged[keyring.IndexHeaderSize:])
	f.Add([]byte{keyring.VersionIndex, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		id, ok := keyring.IndexKeyID(v)
		if ok && (v[0] != keyring.VersionIndex || id == 0 || len(v) < keyring.IndexHeaderSize+8 || len(v) > keyring.IndexHeaderSize+32) {
			t.Fatalf("IndexKeyID accepted %x", v)
		}
		if bid, bok := idx.KeyID(v); bok && (!ok || bid != id || len(v) != len(tagged)) {
			t.Fatalf("BlindIndex.KeyID accepted %x", v)
		}
	})
}
