package keyring

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
)

// kcvSize is the length in bytes of a key check value (16 hex characters).
const kcvSize = 8

// kcvLabel is the fixed message a key check value authenticates. No
// ciphertext, wrapped key or blind index of rampart is an HMAC of this
// label, so publishing the value reveals nothing about data.
const kcvLabel = "rampart keyring key check value v1"

// KeyCheckValue returns key's check value: the first 8 bytes of
// HMAC-SHA-256(key, "rampart keyring key check value v1"), in lower-case
// hex. It is a public commitment to the key, as payment HSMs print a KCV:
// two parties (a registry and the database, an operator and a reviewer)
// compare it to learn whether they hold the same key, and it reveals
// nothing usable about the key (HMAC-SHA-256 is a pseudo-random function).
// It is "" for a Secret without material.
func KeyCheckValue(key Secret) string {
	if key.Len() == 0 {
		return ""
	}
	m := hmac.New(sha256.New, key.bytes())
	m.Write([]byte(kcvLabel))
	return hex.EncodeToString(m.Sum(nil)[:kcvSize])
}

// CheckValue returns the entry's key check value: computed from the key
// material when the entry holds it, else the value the document records
// (a wrapped entry).
func (k KeyEntry) CheckValue() string {
	if k.Key.Len() > 0 {
		return KeyCheckValue(k.Key)
	}
	return k.KCV
}

// validKCV checks the form of a recorded check value.
func validKCV(s string) error {
	if len(s) != 2*kcvSize {
		return fmt.Errorf("%w: kcv %q is not %d hex characters", ErrInvalidDocument, s, 2*kcvSize)
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("%w: kcv %q is not lower-case hex", ErrInvalidDocument, s)
		}
	}
	return nil
}

// kcvMatches reports whether the entry's material matches its recorded
// check value (true when none is recorded).
func (k KeyEntry) kcvMatches() bool {
	if k.KCV == "" || k.Key.Len() == 0 {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(KeyCheckValue(k.Key)), []byte(k.KCV)) == 1
}

// KeyCheckValueReader returns the key check values a database recorded by
// key ID (pgstore.Counter implements it, from keyring_key_check_values). When
// Check's Counter implements it, Check reports every key of the document
// whose check value differs from the recorded one (FindingKCVMismatch).
type KeyCheckValueReader interface {
	KeyCheckValues(ctx context.Context) (map[uint32]string, error)
}

// compareRecordedKCVs reports keys whose check value differs from the one
// the database recorded under their ID.
func compareRecordedKCVs(ctx context.Context, d *Document, r KeyCheckValueReader, rep *Report) error {
	recorded, err := r.KeyCheckValues(ctx)
	if err != nil {
		return fmt.Errorf("keyring: check: key check values: %w", err)
	}
	for _, k := range d.Keys {
		v, want := k.CheckValue(), recorded[k.ID]
		if want == "" || v == "" || v == want {
			continue
		}
		rep.Findings = append(rep.Findings, Finding{Kind: FindingKCVMismatch, Scope: k.Scope, KeyID: k.ID,
			Message: fmt.Sprintf("key %d (scope %q): the database recorded check value %s, the registry's key has %s; "+
				"it is not the key that sealed the data under this ID", k.ID, k.Scope, want, v)})
	}
	return nil
}
