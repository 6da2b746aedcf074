package keyring

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"slices"
	"sync"
)

// Blind-index value layout, format version 1 (what Sum returns and the
// column stores):
//
//	[0]      VersionIndex = 0x03
//	[1:5]    key ID, big-endian uint32
//	[5:]     HMAC-SHA-256 token, truncated to the index's size (8..32 bytes)
//
// The key ID is in clear so that the guardrail can count a column's values
// per key without recomputing anything, and "rampart keys retire" can refuse
// to retire a key that rows still use. Values written before the key ID was
// recorded are the bare token (the same bytes without the 5-byte header):
// Sums still finds them, and Reindex rewrites them in the tagged form.
const (
	// VersionIndex is the first byte of every tagged blind-index value
	// (0x01 starts an envelope, 0x02 a field sealed under a subject key).
	VersionIndex byte = 0x03
	// IndexHeaderSize is the number of bytes before the token.
	IndexHeaderSize = 1 + 4
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
	all           []*bidxKey // every key of the scope, retired ones included, for Reindex's check
}

type bidxKey struct {
	id     uint32
	status Status
	pool   sync.Pool // of hash.Hash (HMAC state keyed once)
}

// IndexOption configures Ring.BlindIndex, the one keyring constructor
// that takes options. An option given a value outside its range makes
// BlindIndex return an error wrapping ErrInvalidConfig that names it.
type IndexOption func(*indexConfig)

type indexConfig struct {
	normalize func([]byte) []byte
	size      int
	err       error // the first invalid option
}

// invalid records the first invalid option.
func (c *indexConfig) invalid(option, format string, a ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: %s: %s", ErrInvalidConfig, option, fmt.Sprintf(format, a...))
	}
}

// WithNormalizer applies n to every value before hashing, e.g. lower-casing
// and trimming an email so lookups match regardless of spelling. n must not
// be nil: omit the option to hash values as given.
func WithNormalizer(n func([]byte) []byte) IndexOption {
	return func(c *indexConfig) {
		if n == nil {
			c.invalid("WithNormalizer", "nil function; omit the option to hash values as given")
			return
		}
		c.normalize = n
	}
}

// WithTruncation keeps the first n bytes (8..32) of each token. Shorter
// tokens collide more often, which hides more from someone who reads the
// index and means a lookup may return extra rows to filter after decryption;
// fewer than 8 bytes (64 bits) would make collisions between unrelated values
// common enough to flood every lookup. The stored value is
// n+IndexHeaderSize bytes.
func WithTruncation(n int) IndexOption {
	return func(c *indexConfig) {
		if n < 8 || n > sha256.Size {
			c.invalid("WithTruncation", "blind index truncation %d, want 8..32 bytes", n)
			return
		}
		c.size = n
	}
}

// BlindIndex returns the index of a (table, column) declared with
// KindBlindIndex. The default token is the full 32-byte HMAC. A nil or
// invalid option returns an error wrapping ErrInvalidConfig.
func (r *Ring) BlindIndex(table, column string, opts ...IndexOption) (*BlindIndex, error) {
	c, ok := r.columns[[2]string{table, column}]
	if !ok || c.Kind != KindBlindIndex {
		return nil, &ColumnError{Table: table, Column: column, Err: ErrUndeclaredColumn}
	}
	cfg := indexConfig{size: sha256.Size}
	for i, o := range opts {
		if o == nil {
			cfg.invalid("BlindIndex", "option %d is nil", i)
			continue
		}
		o(&cfg)
	}
	if cfg.err != nil {
		return nil, &ColumnError{Table: table, Column: column, Err: cfg.err}
	}
	s := r.scopes[c.Scope]
	b := &BlindIndex{table: table, column: column, scopeName: s.name, normalize: cfg.normalize, size: cfg.size}
	byID := map[uint32]*bidxKey{}
	for _, k := range s.keys {
		raw := k.raw
		bk := &bidxKey{id: k.id, status: k.status}
		bk.pool.New = func() any { return hmac.New(sha256.New, raw) }
		byID[k.id] = bk
		b.all = append(b.all, bk)
	}
	b.keys = append(b.keys, byID[s.primary.id])
	for _, k := range s.keys {
		if k.status == Active {
			b.keys = append(b.keys, byID[k.id])
		}
	}
	return b, nil
}

var bidxLabel = []byte("rampart/keyring/blind-index/v1")

// mac returns the truncated token of an already normalised value under k.
func (b *BlindIndex) mac(k *bidxKey, v []byte) []byte {
	h := k.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(bidxLabel)
	var lp [4]byte
	for _, s := range []string{b.table, b.column} {
		binary.BigEndian.PutUint32(lp[:], uint32(len(s)))
		h.Write(lp[:])
		h.Write([]byte(s))
	}
	h.Write(v)
	out := h.Sum(make([]byte, IndexHeaderSize, IndexHeaderSize+sha256.Size))
	k.pool.Put(h)
	out[0] = VersionIndex
	binary.BigEndian.PutUint32(out[1:IndexHeaderSize], k.id)
	return out[: IndexHeaderSize+b.size : IndexHeaderSize+b.size]
}

func (b *BlindIndex) norm(value []byte) []byte {
	if b.normalize != nil {
		return b.normalize(value)
	}
	return value
}

// Sum returns the value to store for value: the token under the primary key,
// prefixed by the version byte and the key ID.
func (b *BlindIndex) Sum(value []byte) []byte {
	return b.mac(b.keys[0], b.norm(value))
}

// Sums returns every value a row holding value may store while a rotation
// is under way: the tagged value under each key still usable for lookups,
// primary first then active keys, followed by the bare tokens of the same
// keys that rows written before key IDs were recorded hold. Search with
// WHERE idx = ANY(Sums(value)).
func (b *BlindIndex) Sums(value []byte) [][]byte {
	value = b.norm(value)
	out := make([][]byte, 2*len(b.keys))
	for i, k := range b.keys {
		t := b.mac(k, value)
		out[i] = t
		out[len(b.keys)+i] = t[IndexHeaderSize:]
	}
	return out
}

// KeyID returns the ID of the key a stored value of this index was computed
// under, and false for a value without a key ID of this index's scope (a bare
// token written before key IDs were recorded, or bytes that are no index
// value of this size).
func (b *BlindIndex) KeyID(stored []byte) (uint32, bool) {
	id, ok := IndexKeyID(stored)
	if !ok || len(stored) != IndexHeaderSize+b.size || !slices.ContainsFunc(b.all, func(k *bidxKey) bool { return k.id == id }) {
		return 0, false
	}
	return id, true
}

// IndexKeyID reads the key ID of a tagged blind-index value without
// checking it against a registry: false if stored does not have the tagged
// layout (version byte, non-zero key ID, 8..32-byte token).
func IndexKeyID(stored []byte) (uint32, bool) {
	n := len(stored) - IndexHeaderSize
	if n < 8 || n > sha256.Size || stored[0] != VersionIndex {
		return 0, false
	}
	id := binary.BigEndian.Uint32(stored[1:IndexHeaderSize])
	return id, id != 0
}

// Scope returns the name of the index's scope.
func (b *BlindIndex) Scope() string { return b.scopeName }

// String names the index; no key material.
func (b *BlindIndex) String() string {
	return fmt.Sprintf("keyring.BlindIndex(%s.%s)", b.table, b.column)
}

// Format makes every fmt verb print String, %#v included.
func (b *BlindIndex) Format(s fmt.State, _ rune) { _, _ = s.Write([]byte(b.String())) }
