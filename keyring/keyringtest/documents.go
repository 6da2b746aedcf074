package keyringtest

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/stretchr/testify/require"
)

// RefusedDocument is a registry document that keyring.Load must refuse, as
// the bytes of a registry file, with the sentinel the refusal wraps.
type RefusedDocument struct {
	Name string
	JSON []byte
	Want error
}

// RefusedDocuments enumerates one document per rule of keyring's document
// validation (ParseDocument and Document.Validate). A guardrail (the
// "rampart keys check" verb, or a host's own) must refuse every one of them:
// anything Load refuses must fail the check before deploy.
func RefusedDocuments(t testing.TB) []RefusedDocument {
	t.Helper()
	shared := keyring.GenerateSecret()
	gen := keyring.GenerateSecret
	entry := func(id uint32, scope string, st keyring.Status, k keyring.Secret) keyring.KeyEntry {
		return keyring.KeyEntry{ID: id, Scope: scope, Status: st, Key: k}
	}
	one := []keyring.KeyEntry{entry(1, "a", keyring.Primary, gen())}
	docs := []struct {
		name string
		doc  keyring.Document
		want error
	}{
		{"same key under two scopes", keyring.Document{Keys: []keyring.KeyEntry{
			entry(1, "a", keyring.Primary, shared), entry(2, "b", keyring.Primary, shared)}}, keyring.ErrSharedKey},
		{"same key under two IDs", keyring.Document{Keys: []keyring.KeyEntry{
			entry(1, "a", keyring.Primary, shared), entry(2, "a", keyring.Active, shared)}}, keyring.ErrSharedKey},
		{"no primary", keyring.Document{Keys: []keyring.KeyEntry{entry(1, "a", keyring.Active, gen())}}, keyring.ErrInvalidDocument},
		{"two primaries", keyring.Document{Keys: []keyring.KeyEntry{
			entry(1, "a", keyring.Primary, gen()), entry(2, "a", keyring.Primary, gen())}}, keyring.ErrInvalidDocument},
		{"same key ID in two entries", keyring.Document{Keys: []keyring.KeyEntry{
			entry(1, "a", keyring.Primary, gen()), entry(1, "b", keyring.Primary, gen())}}, keyring.ErrInvalidDocument},
		{"same key ID in one scope", keyring.Document{Keys: []keyring.KeyEntry{
			entry(1, "a", keyring.Primary, gen()), entry(1, "a", keyring.Active, gen())}}, keyring.ErrInvalidDocument},
		{"key ID zero", keyring.Document{Keys: []keyring.KeyEntry{entry(0, "a", keyring.Primary, gen())}}, keyring.ErrInvalidDocument},
		{"short key", keyring.Document{Keys: []keyring.KeyEntry{entry(1, "a", keyring.Primary, keyring.NewSecret(make([]byte, 16)))}}, keyring.ErrInvalidDocument},
		{"empty scope name", keyring.Document{Keys: []keyring.KeyEntry{entry(1, "", keyring.Primary, gen())}}, keyring.ErrInvalidDocument},
		{"scope name with spaces around", keyring.Document{Keys: []keyring.KeyEntry{entry(1, " a", keyring.Primary, gen())}}, keyring.ErrInvalidDocument},
		{"column of unknown scope", keyring.Document{Keys: one,
			Columns: []keyring.Column{{Table: "t", Column: "c", Scope: "nope"}}}, keyring.ErrUnknownScope},
		{"same column twice", keyring.Document{Keys: one,
			Columns: []keyring.Column{{Table: "t", Column: "c", Scope: "a"}, {Table: "t", Column: "c", Scope: "a"}}}, keyring.ErrInvalidDocument},
		{"column without a table", keyring.Document{Keys: one,
			Columns: []keyring.Column{{Column: "c", Scope: "a"}}}, keyring.ErrInvalidDocument},
		{"column of unknown kind", keyring.Document{Keys: one,
			Columns: []keyring.Column{{Table: "t", Column: "c", Scope: "a", Kind: "rot13"}}}, keyring.ErrInvalidDocument},
		{"one scope for a field and a blind index", keyring.Document{Keys: one,
			Columns: []keyring.Column{{Table: "t", Column: "c", Scope: "a"},
				{Table: "t", Column: "c_idx", Scope: "a", Kind: keyring.KindBlindIndex}}}, keyring.ErrInvalidDocument},
		{"bad version", keyring.Document{Version: 2, Keys: one}, keyring.ErrInvalidDocument},
		{"key material not matching its recorded check value", keyring.Document{Keys: []keyring.KeyEntry{
			{ID: 1, Scope: "a", Status: keyring.Primary, Key: gen(), KCV: keyring.KeyCheckValue(gen())}}}, keyring.ErrKeyCheckValue},
		{"wrapped without KEK", keyring.Document{Keys: []keyring.KeyEntry{
			{ID: 1, Scope: "a", Status: keyring.Primary, Wrapped: []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")}}}, keyring.ErrWrappedKey},
	}
	var out []RefusedDocument
	for _, d := range docs {
		if d.doc.Version == 0 {
			d.doc.Version = keyring.DocumentVersion
		}
		if d.doc.Columns == nil {
			// Every scope used, so that no other finding (an unused scope)
			// hides whether the guardrail saw the rule under test.
			for _, s := range d.doc.Scopes() {
				d.doc.Columns = append(d.doc.Columns, keyring.Column{Table: "t", Column: "c_" + strings.TrimSpace(s), Scope: s})
			}
		}
		b, err := d.doc.Encode()
		require.NoError(t, err, d.name)
		out = append(out, RefusedDocument{Name: d.name, JSON: b, Want: d.want})
	}
	// Documents that only the parser catches (encoding/json alone would
	// load them, keeping the last of two members).
	valid := keyring.Document{Version: keyring.DocumentVersion, Keys: one,
		Columns: []keyring.Column{{Table: "t", Column: "c", Scope: "a"}}}
	b, err := valid.Encode()
	require.NoError(t, err)
	other := make([]byte, keyring.KeySize)
	_, _ = rand.Read(other)
	otherKey := base64.StdEncoding.EncodeToString(other)
	for _, r := range []struct{ name, old, new string }{
		{"key given twice", `"id": 1,`, `"id": 1, "key": "` + otherKey + `",`},
		{"scope given twice", `"id": 1,`, `"id": 1, "scope": "b",`},
		{"version given twice", `"version": 1,`, `"version": 1, "version": 1,`},
		{"columns given twice", `"version": 1,`, `"version": 1, "columns": [],`},
		{"column given twice", `"table": "t",`, `"table": "t", "column": "d",`},
		{"unknown member", `"id": 1,`, `"id": 1, "note": "x",`},
		{"trailing data", "\n}\n", "\n} {}\n"},
	} {
		raw := strings.Replace(string(b), r.old, r.new, 1)
		require.NotEqual(t, string(b), raw, r.name)
		out = append(out, RefusedDocument{Name: r.name, JSON: []byte(raw), Want: keyring.ErrInvalidDocument})
	}
	return out
}
