package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/rampart-sdk/rampart/keyring"
)

// keyringChapter: a registry of disjoint keys, an email sealed to its row,
// a blind-index lookup, and a rotation that keeps old data readable.
func keyringChapter() chapter {
	return chapter{title: "keyring: per-column encryption under disjoint keys", run: func(ctx context.Context, s *story) error {
		// In production: keyring.Load(ctx, keyring.FileSource("/etc/app/keys.json")),
		// a file written by "rampart keys init" with mode 0600.
		doc, err := keyring.Init([]string{"users.email", "users.email.idx", "mfa.totp_secret"})
		if err != nil {
			return err
		}
		columns := []keyring.Column{
			{Table: "users", Column: "email", Scope: "users.email"},
			{Table: "users", Column: "email_idx", Scope: "users.email.idx", Kind: keyring.KindBlindIndex},
			{Table: "mfa_enrollments", Column: "secret", Scope: "mfa.totp_secret"},
		}
		ring, err := keyring.Load(ctx, keyring.DocumentSource(doc), columns...)
		if err != nil {
			return err
		}
		s.say("registry loaded: %v", ring)

		email := ring.Field("users", "email")
		idx, err := ring.BlindIndex("users", "email_idx", keyring.WithNormalizer(bytes.ToLower))
		if err != nil {
			return err
		}
		ct, err := email.Seal("42", []byte("alice@example.com"))
		if err != nil {
			return err
		}
		stored := idx.Sum([]byte("alice@example.com"))
		kid, _ := keyring.Ciphertext(ct).KeyID()
		s.say("sealed users.email of row 42: %d bytes under key %d", len(ct), kid)

		if _, err := email.Open("43", ct); !errors.Is(err, keyring.ErrDecrypt) {
			return fmt.Errorf("a ciphertext moved to row 43 opened: %v", err)
		}
		s.say("the same ciphertext pasted into row 43: refused (%v)", keyring.ErrDecrypt)

		found := false
		for _, sum := range idx.Sums([]byte("Alice@Example.com")) {
			found = found || bytes.Equal(sum, stored)
		}
		s.say("lookup by email through the blind index: found=%v", found)

		newID, err := doc.Rotate("users.email")
		if err != nil {
			return err
		}
		ring, err = keyring.New(doc, columns...)
		if err != nil {
			return err
		}
		pt, err := ring.Field("users", "email").Open("42", ct)
		if err != nil {
			return err
		}
		s.say("rotated users.email to key %d; the old row still opens: %v (printed redacted: %v)", newID, string(pt) == "alice@example.com", keyring.NewPlaintext(pt))
		s.ring = ring // the mfa chapter seals TOTP secrets with it
		return nil
	}}
}
