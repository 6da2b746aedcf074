package keyring

import (
	"crypto/rand"
	"database/sql/driver"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/rampart-sdk/rampart/internal/redact"
)

// Field encrypts one declared (table, column) under its scope's keys, binding
// every ciphertext to the row it belongs to. Get one per column at startup
// with Ring.Field and share it: it is safe for concurrent use.
//
// Like Ring, its state sits behind a pointer to an unexported type and its
// printing methods have value receivers, so no fmt verb on a Field or
// *Field, in any field of any struct, reaches key bytes.
type Field struct{ *fieldState }

type fieldState struct {
	table, column string
	scope         *scope
	ring          *Ring
	primary       *fieldKey
	keys          []fieldKey
	err           error
}

type fieldKey struct {
	key *key
	ad  []byte // associated data up to the row ID
}

// Field returns the handle of a declared column, built once when the ring
// loaded (so calling Field per request costs a map lookup). For an
// undeclared column (or a blind-index column) it returns a handle whose every
// call fails with ErrUndeclaredColumn, so a typo fails closed on first use;
// call Err at startup to fail even earlier.
func (r *Ring) Field(table, column string) *Field {
	if f, ok := r.fields[[2]string{table, column}]; ok {
		return f
	}
	return &Field{&fieldState{table: table, column: column, ring: r,
		err: &ColumnError{Table: table, Column: column, Err: ErrUndeclaredColumn}}}
}

// newField builds the handle of a declared field column.
func (r *Ring) newField(c Column) *Field {
	f := &Field{&fieldState{table: c.Table, column: c.Column, ring: r, scope: r.scopes[c.Scope]}}
	for _, k := range f.scope.keys {
		f.keys = append(f.keys, fieldKey{key: k, ad: adPrefix(c.Scope, k.id, c.Table, c.Column)})
	}
	for i := range f.keys {
		if f.keys[i].key.status == Primary {
			f.primary = &f.keys[i]
		}
	}
	return f
}

// Err reports whether the column is declared (nil) or not.
func (f *Field) Err() error { return f.err }

// Scope returns the name of the column's scope.
func (f *Field) Scope() string {
	if f.scope == nil {
		return ""
	}
	return f.scope.name
}

// String names the column; there is nothing secret in a Field's description.
func (f Field) String() string {
	if f.fieldState == nil {
		return "keyring.Field()"
	}
	return fmt.Sprintf("keyring.Field(%s.%s)", f.table, f.column)
}

// Format makes every fmt verb print String, %#v included.
func (f Field) Format(s fmt.State, _ rune) { _, _ = s.Write([]byte(f.String())) }

// MarshalJSON writes the column's name only (with JSON's escaping: Go's
// %q is not JSON for every name).
func (f Field) MarshalJSON() ([]byte, error) {
	var table, column string
	if f.fieldState != nil {
		table, column = f.table, f.column
	}
	return json.Marshal(struct {
		Table  string `json:"table"`
		Column string `json:"column"`
	}{table, column})
}

// LogValue logs String.
func (f Field) LogValue() slog.Value { return slog.StringValue(f.String()) }

// adBuf is scratch space for the associated data of one Seal or Open: the
// per-Field prefix (built once per key) followed by the length-prefixed row
// ID. Pooled, so that the only allocation of a Seal is its output and the
// only one of an Open is its plaintext, each exactly sized.
type adBuf struct{ b []byte }

var adPool = sync.Pool{New: func() any { return &adBuf{b: make([]byte, 0, 256)} }}

// adFor returns the scratch buffer holding fk's associated data for rowID;
// put it back with adPool.Put once the AEAD call returned.
func (fk *fieldKey) adFor(rowID string) *adBuf {
	a := adPool.Get().(*adBuf)
	a.b = appendLP(append(a.b[:0], fk.ad...), rowID)
	return a
}

// putAD returns a to the pool unless it grew past a size worth keeping
// (a huge row ID must not pin memory in the pool).
func putAD(a *adBuf) {
	if cap(a.b) <= 4096 {
		adPool.Put(a)
	}
}

// seal appends an envelope to dst, allocating (only when dst lacks the
// capacity) exactly the envelope's size.
func (fk *fieldKey) seal(dst []byte, rowID string, plaintext []byte) []byte {
	n := len(dst) + Overhead + len(plaintext)
	if cap(dst) < n {
		dst = append(make([]byte, 0, n), dst...)
	}
	out := append(dst, VersionBinary, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(out[len(out)-4:], fk.key.id)
	m := len(out)
	out = out[:m+nonceSize]
	nonce := out[m:]
	_, _ = rand.Read(nonce) // never fails; crypto/rand crashes the program instead
	ad := fk.adFor(rowID)
	out = fk.key.aead.Seal(out, nonce, plaintext, ad.b)
	putAD(ad)
	return out[:n:n]
}

// Seal encrypts plaintext for row rowID under the scope's primary key and
// returns a binary envelope for a BYTEA column. rowID is the canonical text
// of the row's primary key (strconv.FormatInt for integers, the lower-case
// hyphenated form for UUIDs): the same string must be given to Open.
func (f *Field) Seal(rowID string, plaintext []byte) ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.primary.seal(nil, rowID, plaintext), nil
}

// SealText is Seal for a TEXT column: the envelope in its text form.
func (f *Field) SealText(rowID string, plaintext []byte) (string, error) {
	b, err := f.Seal(rowID, plaintext)
	if err != nil {
		return "", err
	}
	return toText(b), nil
}

// Open authenticates and decrypts ciphertext (binary or text form) sealed for
// row rowID of this column. A ciphertext moved from another row or column,
// relabelled with another key ID or altered in any byte fails with ErrDecrypt;
// one under a retired key fails with ErrKeyRetired, under a key not declared
// for this scope with ErrUndeclaredKey.
func (f *Field) Open(rowID string, ciphertext []byte) ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	pt, _, err := f.open(rowID, ciphertext)
	return pt, err
}

// OpenText is Open for the text form.
func (f *Field) OpenText(rowID, ciphertext string) ([]byte, error) {
	return f.Open(rowID, []byte(ciphertext))
}

func (f *Field) open(rowID string, ciphertext []byte) ([]byte, *fieldKey, error) {
	b, err := decodeEnvelope(ciphertext)
	if err != nil {
		return nil, nil, &ColumnError{Table: f.table, Column: f.column, Err: err}
	}
	id := binary.BigEndian.Uint32(b[1:5])
	var fk *fieldKey
	for i := range f.keys {
		if f.keys[i].key.id == id {
			fk = &f.keys[i]
			break
		}
	}
	if fk == nil {
		return nil, nil, &ScopeError{Scope: f.scope.name, KeyID: id, Err: ErrUndeclaredKey}
	}
	if fk.key.status == Retired {
		return nil, nil, &ScopeError{Scope: f.scope.name, KeyID: id, Err: ErrKeyRetired}
	}
	// The plaintext is the only allocation; the ad lives in pooled scratch.
	n := len(b) - Overhead
	ad := fk.adFor(rowID)
	pt, err := fk.key.aead.Open(make([]byte, 0, n), b[5:HeaderSize], b[HeaderSize:], ad.b)
	putAD(ad)
	if err != nil {
		return nil, nil, &ColumnError{Table: f.table, Column: f.column, Err: ErrDecrypt}
	}
	return pt[:n:n], fk, nil
}

// Ciphertext is a stored envelope as a database/sql value. It scans from
// BYTEA or TEXT, and can report its key ID without decrypting, which is what
// operators and the guardrail need.
type Ciphertext []byte

// Scan implements sql.Scanner. It copies src.
func (c *Ciphertext) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c = nil
	case []byte:
		*c = append(Ciphertext(nil), v...)
	case string:
		*c = Ciphertext(v)
	default:
		return fmt.Errorf("%w: cannot scan %T", ErrMalformed, src)
	}
	return nil
}

// Value implements driver.Valuer: the envelope bytes as stored.
func (c Ciphertext) Value() (driver.Value, error) {
	if c == nil {
		return nil, nil
	}
	return []byte(c), nil
}

// KeyID returns the ID of the key the envelope names, without decrypting.
func (c Ciphertext) KeyID() (uint32, error) {
	h, err := ParseHeader(c)
	return h.KeyID, err
}

// Plaintext is decrypted sensitive data that redacts itself whenever it is
// printed, marshalled or logged, so a stray log line shows "[redacted]";
// Reveal returns the bytes where they are needed. It holds them in the SDK's
// redaction type (internal/redact), so they stay hidden in an unexported
// field of a host's struct too, where fmt cannot call its methods.
type Plaintext struct{ v redact.Secret[[]byte] }

// NewPlaintext wraps b, typically what Field.Open returned. It does not
// copy b: the Plaintext and the caller share it.
func NewPlaintext(b []byte) Plaintext { return Plaintext{redact.New(b, "")} }

// Reveal returns the bytes, not a copy.
func (p Plaintext) Reveal() []byte { return p.v.Reveal() }

// String returns "[redacted]": the bytes never reach a log line.
func (p Plaintext) String() string { return p.v.String() }

// Format prints "[redacted]" for every fmt verb, %#v, %x and %q included.
func (p Plaintext) Format(f fmt.State, verb rune) { p.v.Format(f, verb) }

// MarshalJSON writes "[redacted]", so API responses cannot leak it.
func (p Plaintext) MarshalJSON() ([]byte, error) { return p.v.MarshalJSON() }

// MarshalText writes "[redacted]" (encoding/xml, map keys).
func (p Plaintext) MarshalText() ([]byte, error) { return p.v.MarshalText() }

// LogValue logs "[redacted]". slog's text handler prints a byte slice as a
// quoted string without consulting fmt, so without it the plaintext would
// reach the log.
func (p Plaintext) LogValue() slog.Value { return p.v.LogValue() }
