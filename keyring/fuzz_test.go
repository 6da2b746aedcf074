package keyring_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
)

// FuzzOpen feeds arbitrary bytes (binary and text envelopes) to the parser and
// to Open: nothing may panic, and nothing but the genuine ciphertext opens.
func FuzzOpen(f *testing.F) {
	d, err := keyring.Init([]string{"s"}, keyring.Column{Table: "t", Column: "c", Scope: "s"})
	if err != nil {
		f.Fatal(err)
	}
	r, err := keyring.New(d)
	if err != nil {
		f.Fatal(err)
	}
	field := r.Field("t", "c")
	ct, _ := field.Seal("1", []byte("secret"))
	f.Add(ct)
	f.Add([]byte(keyring.ToText(ct)))
	f.Add([]byte{})
	f.Add([]byte(keyring.TextPrefix))
	f.Add(make([]byte, keyring.Overhead))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := keyring.ParseHeader(b)
		if err == nil && h.Version != keyring.VersionBinary {
			t.Fatalf("accepted version %d", h.Version)
		}
		pt, err := field.Open("1", b)
		if err == nil && !bytes.Equal(b, ct) && string(b) != keyring.ToText(ct) {
			t.Fatalf("opened a forged ciphertext: %q", pt)
		}
	})
}

// FuzzParseDocument feeds arbitrary JSON to the registry parser: it must not
// panic, and whatever it accepts must re-encode and re-parse identically.
func FuzzParseDocument(f *testing.F) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	f.Add([]byte(`{"version":1,"keys":[{"id":1,"scope":"a","status":"primary","key":"` + key + `"}],"columns":[{"table":"t","column":"c","scope":"a"}]}`))
	f.Add([]byte(`{"version":1,"keys":[{"id":1,"scope":"a","status":"active","wrapped":"AAAA"}]}`))
	f.Add([]byte(`{"version":1,"keys":[]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"keys":[{"id":1,"scope":"a","status":"primary","key":"` + key + `","kcv":"0011223344556677","key":"` + key + `"}]}`))
	f.Add([]byte(`{"version":1,"Version":1,"keys":[[[[{}]]]]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := keyring.ParseDocument(b)
		if err != nil {
			return
		}
		_ = d.Validate()
		enc, err := d.Encode()
		if err != nil {
			return
		}
		d2, err := keyring.ParseDocument(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		enc2, _ := d2.Encode()
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip differs")
		}
	})
}

// FuzzSubjectOpen feeds arbitrary stored bytes to SubjectKeys.Open (the
// memory store, no database): nothing may panic, nothing but the genuine
// ciphertext opens, and every failure is one of the package's sentinels.
func FuzzSubjectOpen(f *testing.F) {
	ctx := context.Background()
	d, err := keyring.Init([]string{"subjects"})
	if err != nil {
		f.Fatal(err)
	}
	r, err := keyring.New(d)
	if err != nil {
		f.Fatal(err)
	}
	sk, err := r.SubjectKeys("subjects", keyring.NewMemoryStore())
	if err != nil {
		f.Fatal(err)
	}
	ct, err := sk.Seal(ctx, "u1", "users.email:1", []byte("secret"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ct)
	f.Add([]byte{keyring.VersionSubject})
	f.Add(ct[:len(ct)-1])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, err := sk.Open(ctx, "u1", "users.email:1", b)
		if err == nil {
			if !bytes.Equal(b, ct) {
				t.Fatalf("opened a forged ciphertext: %q", pt)
			}
			return
		}
		if !errors.Is(err, keyring.ErrMalformed) && !errors.Is(err, keyring.ErrDecrypt) {
			t.Fatalf("unexpected error: %v", err)
		}
	})
}

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
