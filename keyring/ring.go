package keyring

import (
	"context"
	"crypto/cipher"
	"fmt"
	"log/slog"
	"sort"
)

// Ring is a loaded registry: every key with its AES-256-GCM cipher built once
// at load, and the declared columns. It is immutable and safe for concurrent
// use; load a new Ring to pick up a rotation.
//
// Its state sits behind a pointer to an unexported type, and its String,
// Format, MarshalJSON and LogValue have value receivers: a Ring
// or *Ring printed with any fmt verb, alone or in any field of a host's
// struct (where fmt cannot call these methods and walks the struct instead),
// shows addresses, never key bytes.
type Ring struct{ *ringState }

type ringState struct {
	scopes  map[string]*scope
	keys    map[uint32]*key
	columns map[[2]string]Column
	fields  map[[2]string]*Field
	decl    []Column
}

type scope struct {
	name    string
	primary *key
	keys    []*key // by ID ascending
}

type key struct {
	id     uint32
	scope  string
	status Status
	raw    []byte
	kcv    string
	aead   cipher.AEAD
}

// Load reads the document from src and builds a Ring with the columns the
// host declares in code added to those the document declares.
func Load(ctx context.Context, src Source, columns ...Column) (*Ring, error) {
	d, err := src.Document(ctx)
	if err != nil {
		return nil, err
	}
	return New(d, columns...)
}

// New validates d (see Document.Validate) and the extra column declarations
// and builds a Ring. It refuses shared key material, a scope without a
// primary key, and a column naming an unknown scope.
func New(d *Document, columns ...Column) (*Ring, error) {
	all := &Document{Version: d.Version, Keys: d.Keys, Columns: append(append([]Column(nil), d.Columns...), columns...)}
	if err := all.Validate(); err != nil {
		return nil, err
	}
	r := &Ring{&ringState{scopes: map[string]*scope{}, keys: map[uint32]*key{}, columns: map[[2]string]Column{}, fields: map[[2]string]*Field{}}}
	for _, e := range d.Keys {
		a, err := newAEAD(e.Key.bytes())
		if err != nil {
			return nil, err
		}
		k := &key{id: e.ID, scope: e.Scope, status: e.Status, raw: append([]byte(nil), e.Key.bytes()...),
			kcv: KeyCheckValue(e.Key), aead: a}
		s := r.scopes[e.Scope]
		if s == nil {
			s = &scope{name: e.Scope}
			r.scopes[e.Scope] = s
		}
		s.keys = append(s.keys, k)
		if k.status == Primary {
			s.primary = k
		}
		r.keys[k.id] = k
	}
	for _, s := range r.scopes {
		sort.Slice(s.keys, func(i, j int) bool { return s.keys[i].id < s.keys[j].id })
	}
	for _, c := range all.Columns {
		if c.Kind == "" {
			c.Kind = KindField
		}
		r.columns[[2]string{c.Table, c.Column}] = c
		r.decl = append(r.decl, c)
		if c.Kind == KindField {
			r.fields[[2]string{c.Table, c.Column}] = r.newField(c)
		}
	}
	return r, nil
}

// Columns returns the declared columns.
func (r *Ring) Columns() []Column { return append([]Column(nil), r.decl...) }

// keyCheckValue returns the key check value of key id (see KeyCheckValue):
// what a registry document, the CLI and the database compare to tell
// whether they hold the same key under that ID.
func (r *Ring) keyCheckValue(id uint32) (string, bool) {
	k, ok := r.keys[id]
	if !ok {
		return "", false
	}
	return k.kcv, true
}

// Primary returns the ID of scope's primary key.
func (r *Ring) Primary(scopeName string) (uint32, error) {
	s, ok := r.scopes[scopeName]
	if !ok {
		return 0, &ScopeError{Scope: scopeName, Err: ErrUnknownScope}
	}
	return s.primary.id, nil
}

// String describes the ring without any key material.
func (r Ring) String() string {
	if r.ringState == nil {
		return "keyring.Ring{}"
	}
	return fmt.Sprintf("keyring.Ring{scopes: %d, keys: %d, columns: %d}", len(r.scopes), len(r.keys), len(r.decl))
}

// Format makes every fmt verb print String, %#v included.
func (r Ring) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(r.String())) }

// MarshalJSON writes the same summary as String.
func (r Ring) MarshalJSON() ([]byte, error) {
	if r.ringState == nil {
		return []byte(`{}`), nil
	}
	return fmt.Appendf(nil, `{"scopes":%d,"keys":%d,"columns":%d}`, len(r.scopes), len(r.keys), len(r.decl)), nil
}

// LogValue logs String.
func (r Ring) LogValue() slog.Value { return slog.StringValue(r.String()) }
