package keyring

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"sync"
)

// BlindIndex computes HMAC-SHA-256 equality tokens for an encrypted column,
// under the keys of a scope of its own (never the field's encryption scope).
// Store Sum(value) next to the ciphertext; to search, query
// WHERE idx = ANY(Sums(value)) so rows indexed before a rotation are found
// too. A blind index reveals which rows share a value, so use it only on
// columns where that is acceptable, and truncate to allow collisions when it
// is not.
type BlindIndex struct {
	table, column string
	scopeName     string
	normalize     func([]byte) []byte
	size          int
	keys          []*bidxKey // primary first, then active; retired keys excluded
}

type bidxKey struct {
	id   uint32
	pool sync.Pool // of hash.Hash (HMAC state keyed once)
}

// IndexOption configures a BlindIndex.
type IndexOption func(*BlindIndex) error

// WithNormalizer applies n to every value before hashing, e.g. lower-casing
// and trimming an email so lookups match regardless of spelling.
func WithNormalizer(n func([]byte) []byte) IndexOption {
	return func(b *BlindIndex) error { b.normalize = n; return nil }
}

// WithTruncation keeps the first n bytes (8..32) of each token. Shorter
// tokens collide more often, which hides more from someone who reads the
// index and means a lookup may return extra rows to filter after decryption.
func WithTruncation(n int) IndexOption {
	return func(b *BlindIndex) error {
		if n < 8 || n > sha256.Size {
			return fmt.Errorf("%w: blind index truncation %d, want 8..32", ErrInvalidDocument, n)
		}
		b.size = n
		return nil
	}
}

// BlindIndex returns the index of a (table, column) declared with
// KindBlindIndex. The default token is the full 32-byte HMAC.
func (r *Ring) BlindIndex(table, column string, opts ...IndexOption) (*BlindIndex, error) {
	c, ok := r.columns[[2]string{table, column}]
	if !ok || c.Kind != KindBlindIndex {
		return nil, &ColumnError{Table: table, Column: column, Err: ErrUndeclaredColumn}
	}
	s := r.scopes[c.Scope]
	b := &BlindIndex{table: table, column: column, scopeName: s.name, size: sha256.Size}
	for _, o := range opts {
		if err := o(b); err != nil {
			return nil, err
		}
	}
	add := func(k *key) {
		raw := k.raw
		bk := &bidxKey{id: k.id}
		bk.pool.New = func() any { return hmac.New(sha256.New, raw) }
		b.keys = append(b.keys, bk)
	}
	add(s.primary)
	for _, k := range s.keys {
		if k.status == Active {
			add(k)
		}
	}
	return b, nil
}

var bidxLabel = []byte("rampart/keyring/blind-index/v1")

func (b *BlindIndex) sum(k *bidxKey, v []byte) []byte {
	h := k.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(bidxLabel)
	var lp [4]byte
	for _, s := range []string{b.table, b.column} {
		lp[0], lp[1], lp[2], lp[3] = byte(len(s)>>24), byte(len(s)>>16), byte(len(s)>>8), byte(len(s))
		h.Write(lp[:])
		h.Write([]byte(s))
	}
	h.Write(v)
	out := h.Sum(make([]byte, 0, sha256.Size))
	k.pool.Put(h)
	return out[:b.size]
}

// Sum returns the token of value under the primary key: what to store.
func (b *BlindIndex) Sum(value []byte) []byte {
	if b.normalize != nil {
		value = b.normalize(value)
	}
	return b.sum(b.keys[0], value)
}

// Sums returns the token under every key still usable for lookups, primary
// first then active keys: what to search for during a rotation.
func (b *BlindIndex) Sums(value []byte) [][]byte {
	if b.normalize != nil {
		value = b.normalize(value)
	}
	out := make([][]byte, len(b.keys))
	for i, k := range b.keys {
		out[i] = b.sum(k, value)
	}
	return out
}

// String names the index; no key material.
func (b *BlindIndex) String() string {
	return fmt.Sprintf("keyring.BlindIndex(%s.%s)", b.table, b.column)
}

// GoString is String.
func (b *BlindIndex) GoString() string { return b.String() }

// Format makes every fmt verb print String.
func (b *BlindIndex) Format(s fmt.State, _ rune) { _, _ = s.Write([]byte(b.String())) }
