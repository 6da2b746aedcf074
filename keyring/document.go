package keyring

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/rampart-sdk/rampart/internal/redact"
)

// DocumentVersion is the only registry document version this package reads
// and writes. A future layout gets a new number so an old binary refuses it
// instead of misreading it.
const DocumentVersion = 1

// KeySize is the size of every key: AES-256 and HMAC-SHA-256 both use 32 bytes.
const KeySize = 32

// Status is the life-cycle state of a key version.
type Status uint8

const (
	// Primary keys encrypt. Each scope has exactly one.
	Primary Status = iota + 1
	// Active keys decrypt (and answer blind-index lookups) but never encrypt:
	// a key demoted by a rotation stays active until re-encryption is done.
	Active
	// Retired keys are refused: data still under one fails to open.
	Retired
)

// String returns "primary", "active" or "retired".
func (s Status) String() string {
	switch s {
	case Primary:
		return "primary"
	case Active:
		return "active"
	case Retired:
		return "retired"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// MarshalText writes the status by name, so documents stay readable.
func (s Status) MarshalText() ([]byte, error) {
	switch s {
	case Primary, Active, Retired:
		return []byte(s.String()), nil
	}
	return nil, fmt.Errorf("%w: unknown key status %d", ErrInvalidDocument, uint8(s))
}

// UnmarshalText reads a status by name.
func (s *Status) UnmarshalText(b []byte) error {
	switch string(b) {
	case "primary":
		*s = Primary
	case "active":
		*s = Active
	case "retired":
		*s = Retired
	default:
		return fmt.Errorf("%w: unknown key status %q", ErrInvalidDocument, b)
	}
	return nil
}

// redacted is what key material prints as.
const redacted = redact.Redacted

// Secret is key material. It never prints or marshals its bytes: String,
// every fmt verb, MarshalJSON, MarshalText and LogValue write "[redacted]",
// so a key cannot leak through a log line, a panic or an API response by
// accident.
//
// The bytes are held by the SDK's redaction type (internal/redact): where
// fmt cannot call these methods (a Secret or KeyEntry in an unexported field
// of a host's struct), it prints an address under every verb, never the key.
type Secret struct{ v redact.Secret[[]byte] }

// secretOf takes b without copying it: the caller must not reuse or clear
// b afterwards.
func secretOf(b []byte) Secret { return Secret{redact.New(b, "")} }

// bytes returns the material itself, not a copy (nil for the zero Secret):
// its callers only read it.
func (s Secret) bytes() []byte { return s.v.Reveal() }

// NewSecret copies b into a Secret, for Sources that obtain keys elsewhere.
func NewSecret(b []byte) Secret { return secretOf(bytes.Clone(b)) }

// GenerateSecret returns KeySize fresh random bytes.
func GenerateSecret() Secret {
	b := make([]byte, KeySize)
	_, _ = rand.Read(b) // never fails; crypto/rand crashes the program instead
	return secretOf(b)
}

// Len returns the number of bytes of the secret, which is not secret.
func (s Secret) Len() int { return len(s.bytes()) }

// Equal compares two secrets in constant time.
func (s Secret) Equal(o Secret) bool { return redact.Equal(s.v, o.v) }

// String returns "[redacted]": the bytes never reach a log line.
func (s Secret) String() string { return s.v.String() }

// Format prints "[redacted]" for every fmt verb, %#v, %x and %q included.
func (s Secret) Format(f fmt.State, verb rune) { s.v.Format(f, verb) }

// MarshalJSON writes "[redacted]", so API responses cannot leak it.
func (s Secret) MarshalJSON() ([]byte, error) { return s.v.MarshalJSON() }

// MarshalText writes "[redacted]" (encoding/xml, map keys).
func (s Secret) MarshalText() ([]byte, error) { return s.v.MarshalText() }

// LogValue logs "[redacted]".
func (s Secret) LogValue() slog.Value { return s.v.LogValue() }

// KeyEntry is one key version of a registry document.
type KeyEntry struct {
	// ID is unique across the whole registry and written into every
	// ciphertext, so a ciphertext names the key that opens it.
	ID uint32 `json:"id"`
	// Scope is the one data type the key protects, e.g. "users.email".
	Scope  string `json:"scope"`
	Status Status `json:"status"`
	// Key is the material; empty while the entry is still wrapped.
	Key Secret `json:"key"`
	// Wrapped is the material encrypted under a key-encryption key, for
	// documents meant for an EnvelopeSource. It is not secret.
	Wrapped []byte `json:"wrapped,omitempty"`
	// KCV is the key check value the document records for this key (see
	// KeyCheckValue), or "". When set, New refuses material that does not
	// match it, so a key replaced under the same ID fails at load. Encode
	// records it for every key.
	KCV string `json:"kcv,omitempty"`
}

// ColumnKind says how a declared column uses its scope's keys.
type ColumnKind string

const (
	// KindField columns hold AES-256-GCM envelopes (the default).
	KindField ColumnKind = "field"
	// KindBlindIndex columns hold HMAC-SHA-256 blind indexes.
	KindBlindIndex ColumnKind = "blind_index"
)

// Column declares that (Table, Column) belongs to Scope. Encrypting or
// decrypting a column nobody declared is an error, and the guardrail checks
// the declarations against the registry and the stored data.
type Column struct {
	Table  string     `json:"table"`
	Column string     `json:"column"`
	Scope  string     `json:"scope"`
	Kind   ColumnKind `json:"kind,omitempty"`
}

func (c Column) kind() ColumnKind {
	if c.Kind == "" {
		return KindField
	}
	return c.Kind
}

// Document is a registry document: every key version and, optionally, the
// declared columns (so operator tools such as the CLI know them too).
type Document struct {
	Version int        `json:"version"`
	Keys    []KeyEntry `json:"keys"`
	Columns []Column   `json:"columns,omitempty"`
}

// wire is the on-disk JSON, the only place key material is written out.
type wire struct {
	Version int       `json:"version"`
	Keys    []wireKey `json:"keys"`
	Columns []Column  `json:"columns,omitempty"`
}

type wireKey struct {
	ID      uint32 `json:"id"`
	Scope   string `json:"scope"`
	Status  Status `json:"status"`
	Key     string `json:"key,omitempty"`
	Wrapped string `json:"wrapped,omitempty"`
	KCV     string `json:"kcv,omitempty"`
}

// maxDocument bounds what ParseDocument reads, against a hostile input.
const maxDocument = 4 << 20

// ParseDocument parses a registry document. Unknown fields, a member
// given twice in one object (at any level, names compared as encoding/json
// matches them, without regard to case), an unknown version, bad base64 and
// keys of the wrong size are errors; the rules that
// span entries (one primary, unique IDs, disjoint keys) are checked by
// Validate, which New calls.
func ParseDocument(data []byte) (*Document, error) {
	if len(data) > maxDocument {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidDocument, maxDocument)
	}
	if err := checkMembers(data); err != nil {
		return nil, err
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		// The JSON error may quote input, which can hold key material: do
		// not wrap it.
		return nil, fmt.Errorf("%w: not a JSON registry document", ErrInvalidDocument)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrInvalidDocument)
	}
	if w.Version != DocumentVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrInvalidDocument, w.Version, DocumentVersion)
	}
	d := &Document{Version: w.Version, Columns: w.Columns}
	for _, k := range w.Keys {
		e := KeyEntry{ID: k.ID, Scope: k.Scope, Status: k.Status, KCV: k.KCV}
		if k.KCV != "" {
			if err := validKCV(k.KCV); err != nil {
				return nil, fmt.Errorf("key %d: %w", k.ID, err)
			}
		}
		if k.Key != "" {
			b, err := base64.StdEncoding.Strict().DecodeString(k.Key)
			if err != nil {
				return nil, fmt.Errorf("%w: key %d: key is not base64", ErrInvalidDocument, k.ID)
			}
			if len(b) != KeySize {
				return nil, fmt.Errorf("%w: key %d: key is %d bytes, want %d", ErrInvalidDocument, k.ID, len(b), KeySize)
			}
			e.Key = secretOf(b) // takes b: the key's only copy, nothing to clear
		}
		if k.Wrapped != "" {
			b, err := base64.StdEncoding.Strict().DecodeString(k.Wrapped)
			if err != nil {
				return nil, fmt.Errorf("%w: key %d: wrapped key is not base64", ErrInvalidDocument, k.ID)
			}
			e.Wrapped = b
		}
		if e.Key.Len() == 0 && len(e.Wrapped) == 0 {
			return nil, fmt.Errorf("%w: key %d: no key material", ErrInvalidDocument, k.ID)
		}
		d.Keys = append(d.Keys, e)
	}
	return d, nil
}

// Encode writes the document as JSON, key material included. This is the one
// function that writes key bytes; write its output only to a file with mode
// 0600 or to a secret store. (json.Marshal of a Document redacts the keys.)
func (d *Document) Encode() ([]byte, error) {
	w := wire{Version: d.Version, Columns: d.Columns}
	for _, k := range d.Keys {
		wk := wireKey{ID: k.ID, Scope: k.Scope, Status: k.Status, KCV: k.KCV}
		if wk.KCV == "" {
			wk.KCV = KeyCheckValue(k.Key)
		}
		if k.Key.Len() > 0 {
			wk.Key = base64.StdEncoding.EncodeToString(k.Key.bytes())
		}
		if len(k.Wrapped) > 0 {
			wk.Wrapped = base64.StdEncoding.EncodeToString(k.Wrapped)
		}
		w.Keys = append(w.Keys, wk)
	}
	if w.Keys == nil {
		w.Keys = []wireKey{}
	}
	b, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keyring: encode document: %w", err)
	}
	return append(b, '\n'), nil
}

// Validate checks the rules that span entries: a known version, IDs unique
// and non-zero, every scope with exactly one primary key, key material
// present, of KeySize bytes and disjoint (no two entries share it), and
// every declared column naming a scope of the document, declared once, and
// of one kind per scope. It returns the first problem; New, Load and Check
// (the guardrail behind "rampart keys check") all run this same validation,
// so the guardrail refuses every document the application would.
func (d *Document) Validate() error {
	if ps := d.problems(nil); len(ps) > 0 {
		return ps[0].err
	}
	return nil
}

// problem is one broken rule of a document, with the finding it becomes in
// a guardrail report.
type problem struct {
	kind          FindingKind
	scope         string
	table, column string
	keyID         uint32
	err           error
}

// problems checks every rule of Validate over the document and the extra
// column declarations, and returns every broken one in document order.
func (d *Document) problems(extra []Column) []problem {
	var out []problem
	add := func(p problem) { out = append(out, p) }
	invalid := func(id uint32, scope string, err error) {
		add(problem{kind: FindingInvalidDocument, keyID: id, scope: scope, err: err})
	}
	if d.Version != DocumentVersion {
		invalid(0, "", fmt.Errorf("%w: version %d, want %d", ErrInvalidDocument, d.Version, DocumentVersion))
	}
	ids := map[uint32]bool{}
	primaries := map[string]int{}
	for i, k := range d.Keys {
		if k.ID == 0 {
			invalid(0, k.Scope, fmt.Errorf("%w: key ID 0 is reserved", ErrInvalidDocument))
		} else if ids[k.ID] {
			add(problem{kind: FindingDuplicateKeyID, keyID: k.ID, scope: k.Scope,
				err: fmt.Errorf("%w: key ID %d appears twice", ErrInvalidDocument, k.ID)})
		}
		ids[k.ID] = true
		if err := validScope(k.Scope); err != nil {
			invalid(k.ID, k.Scope, err)
		}
		switch k.Status {
		case Primary:
			primaries[k.Scope]++
		case Active, Retired:
			primaries[k.Scope] += 0
		default:
			invalid(k.ID, k.Scope, fmt.Errorf("%w: key %d: unknown status", ErrInvalidDocument, k.ID))
		}
		if k.Key.Len() == 0 {
			if len(k.Wrapped) > 0 {
				invalid(k.ID, k.Scope, &ScopeError{Scope: k.Scope, KeyID: k.ID, Err: ErrWrappedKey})
			} else {
				invalid(k.ID, k.Scope, fmt.Errorf("%w: key %d: no key material", ErrInvalidDocument, k.ID))
			}
			continue
		}
		if k.Key.Len() != KeySize {
			invalid(k.ID, k.Scope, fmt.Errorf("%w: key %d: key is %d bytes, want %d", ErrInvalidDocument, k.ID, k.Key.Len(), KeySize))
			continue
		}
		if !k.kcvMatches() {
			add(problem{kind: FindingKCVMismatch, keyID: k.ID, scope: k.Scope,
				err: &ScopeError{Scope: k.Scope, KeyID: k.ID, Err: fmt.Errorf("%w %s recorded in the document; "+
					"this is not the key that was registered under this ID", ErrKeyCheckValue, k.KCV)}})
		}
		for _, o := range d.Keys[:i] {
			if o.Key.Equal(k.Key) {
				add(problem{kind: FindingSharedKey, keyID: k.ID, scope: k.Scope,
					err: fmt.Errorf("%w: keys %d (scope %q) and %d (scope %q) hold the same material",
						ErrSharedKey, o.ID, o.Scope, k.ID, k.Scope)})
			}
		}
	}
	for _, scope := range d.Scopes() {
		if n := primaries[scope]; n != 1 {
			add(problem{kind: FindingNoPrimary, scope: scope,
				err: &ScopeError{Scope: scope, Err: fmt.Errorf("%w: %d primary keys, want exactly 1", ErrInvalidDocument, n)}})
		}
	}
	seen := map[[2]string]bool{}
	kinds := map[string]ColumnKind{}
	for _, c := range append(append([]Column(nil), d.Columns...), extra...) {
		col := func(kind FindingKind, err error) {
			add(problem{kind: kind, scope: c.Scope, table: c.Table, column: c.Column, err: err})
		}
		if err := c.validate(); err != nil {
			col(FindingInvalidDocument, err)
			continue
		}
		if _, ok := primaries[c.Scope]; !ok {
			col(FindingUnknownScope, &ColumnError{Table: c.Table, Column: c.Column, Err: fmt.Errorf("%w %q", ErrUnknownScope, c.Scope)})
		}
		k := [2]string{c.Table, c.Column}
		if seen[k] {
			col(FindingDuplicateColumn, &ColumnError{Table: c.Table, Column: c.Column, Err: fmt.Errorf("%w: declared twice", ErrInvalidDocument)})
		}
		seen[k] = true
		if prev, ok := kinds[c.Scope]; ok && prev != c.kind() {
			col(FindingMixedScope, &ColumnError{Table: c.Table, Column: c.Column, Err: fmt.Errorf("%w: scope %q serves both %s and %s columns; "+
				"a key must be used by one algorithm only (AES-GCM or HMAC), so give the blind index a scope of its own",
				ErrInvalidDocument, c.Scope, KindField, KindBlindIndex)})
		}
		kinds[c.Scope] = c.kind()
	}
	return out
}

func (c Column) validate() error {
	if c.Table == "" || c.Column == "" {
		return fmt.Errorf("%w: column declaration needs a table and a column", ErrInvalidDocument)
	}
	if c.kind() != KindField && c.kind() != KindBlindIndex {
		return &ColumnError{Table: c.Table, Column: c.Column, Err: fmt.Errorf("%w: unknown kind %q", ErrInvalidDocument, c.Kind)}
	}
	return validScope(c.Scope)
}

func validScope(s string) error {
	if s == "" || len(s) > 255 || strings.TrimSpace(s) != s {
		return fmt.Errorf("%w: bad scope name %q", ErrInvalidDocument, s)
	}
	return nil
}

// Scopes returns the document's scope names, sorted.
func (d *Document) Scopes() []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range d.Keys {
		if !seen[k.Scope] {
			seen[k.Scope] = true
			out = append(out, k.Scope)
		}
	}
	sort.Strings(out)
	return out
}

func (d *Document) nextID() uint32 {
	var max uint32
	for _, k := range d.Keys {
		max = maxU32(max, k.ID)
	}
	return max + 1
}

func maxU32(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

// Init returns a new document with one fresh primary key per scope and the
// given column declarations. It is what "rampart keys init" writes.
func Init(scopes []string, columns ...Column) (*Document, error) {
	d := &Document{Version: DocumentVersion, Columns: columns}
	seen := map[string]bool{}
	for _, s := range scopes {
		if seen[s] {
			return nil, fmt.Errorf("%w: scope %q listed twice", ErrInvalidDocument, s)
		}
		seen[s] = true
		d.Keys = append(d.Keys, KeyEntry{ID: d.nextID(), Scope: s, Status: Primary, Key: GenerateSecret()})
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// Rotate adds a fresh primary key to scope and demotes the previous primary
// to active, so existing ciphertexts still open while new ones use the new
// key. It returns the new key's ID. Re-encrypt, then Retire the old key.
func (d *Document) Rotate(scope string) (uint32, error) {
	found := false
	for i := range d.Keys {
		if d.Keys[i].Scope == scope && d.Keys[i].Status == Primary {
			d.Keys[i].Status = Active
			found = true
		}
	}
	if !found {
		return 0, &ScopeError{Scope: scope, Err: ErrUnknownScope}
	}
	id := d.nextID()
	d.Keys = append(d.Keys, KeyEntry{ID: id, Scope: scope, Status: Primary, Key: GenerateSecret()})
	return id, nil
}

// Retire marks key id retired: ciphertexts still under it will fail to open,
// so retire only after re-encryption (the CLI checks the database first). A
// primary key cannot be retired; rotate its scope first.
func (d *Document) Retire(id uint32) (scope string, err error) {
	for i := range d.Keys {
		k := &d.Keys[i]
		if k.ID != id {
			continue
		}
		if k.Status == Primary {
			return "", &ScopeError{Scope: k.Scope, KeyID: id, Err: fmt.Errorf("%w: cannot retire the primary key; rotate first", ErrInvalidDocument)}
		}
		k.Status = Retired
		return k.Scope, nil
	}
	return "", fmt.Errorf("%w: key %d does not exist", ErrInvalidDocument, id)
}

// Key returns the entry of key id.
func (d *Document) Key(id uint32) (KeyEntry, bool) {
	for _, k := range d.Keys {
		if k.ID == id {
			return k, true
		}
	}
	return KeyEntry{}, false
}
