package privacy

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"
)

// Shredder destroys a subject's data key so that every field sealed under it
// is unreadable everywhere, backups included. *keyring.SubjectKeys satisfies
// it. Destroy must be idempotent.
type Shredder interface {
	Destroy(ctx context.Context, subjectID string) error
}

// Hasher computes a keyed hash (a pseudonym that cannot be reversed or
// recomputed without the key). *keyring.BlindIndex satisfies it.
type Hasher interface {
	Sum(value []byte) []byte
}

// StrategyKind names an erasure strategy.
type StrategyKind string

// The erasure strategies.
const (
	KindDelete      StrategyKind = "delete"
	KindSetNull     StrategyKind = "set_null"
	KindReplace     StrategyKind = "replace"
	KindPseudonym   StrategyKind = "pseudonym"
	KindCryptoShred StrategyKind = "crypto_shred"
)

// Strategy says what erasure does to a field (or, for Delete, a record). Build
// it with Delete, SetNull, Replace, Pseudonym or CryptoShred; the zero value
// is invalid.
type Strategy struct {
	kind     StrategyKind
	value    any
	hasher   Hasher
	shredder Shredder
}

// Delete removes the whole record.
func Delete() Strategy { return Strategy{kind: KindDelete} }

// SetNull clears the field.
func SetNull() Strategy { return Strategy{kind: KindSetNull} }

// Replace overwrites the field with a fixed value (e.g. "deleted user").
func Replace(v any) Strategy { return Strategy{kind: KindReplace, value: v} }

// Pseudonym overwrites the field with a keyed pseudonym of the subject ID:
// the same for every row and domain of the subject (so aggregate analytics
// keep their continuity) and meaningless without h's key.
func Pseudonym(h Hasher) Strategy { return Strategy{kind: KindPseudonym, hasher: h} }

// CryptoShred leaves the field's ciphertext in place and destroys the
// subject's key through s, which makes this and every other copy of it,
// including backups taken earlier, unreadable.
//
// The key is the subject's, not the domain's: destroying it reaches every
// field sealed under it in every domain, whatever that domain's retention or
// holds. Never seal under the subject key a field that a retention class
// keeps or a legal hold may need. Shredder is keyed by subject ID alone, so
// subject IDs must be unique across organisations (or the host's subject
// keys kept per organisation).
func CryptoShred(s Shredder) Strategy { return Strategy{kind: KindCryptoShred, shredder: s} }

// Kind returns the strategy's kind.
func (s Strategy) Kind() StrategyKind { return s.kind }

// String describes the strategy without its fixed value.
func (s Strategy) String() string { return string(s.kind) }

// Validate reports a strategy that cannot be applied.
func (s Strategy) Validate() error {
	switch s.kind {
	case KindDelete, KindSetNull, KindReplace:
		return nil
	case KindPseudonym:
		if s.hasher == nil {
			return fmt.Errorf("%w: pseudonym strategy without a hasher", ErrInvalid)
		}
		return nil
	case KindCryptoShred:
		if s.shredder == nil {
			return fmt.Errorf("%w: crypto-shred strategy without a shredder", ErrInvalid)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown erasure strategy %q", ErrInvalid, string(s.kind))
}

// Value returns what the field becomes for subjectID, with keep=true when the
// field is left as it is (crypto-shred, after destroying the key). Delete has
// no field value: callers delete the record instead (Value returns nil).
func (s Strategy) Value(ctx context.Context, subjectID string) (v any, keep bool, err error) {
	switch s.kind {
	case KindDelete, KindSetNull:
		return nil, false, nil
	case KindReplace:
		return s.value, false, nil
	case KindPseudonym:
		if s.hasher == nil {
			return nil, false, s.Validate()
		}
		return PseudonymOf(s.hasher, subjectID), false, nil
	case KindCryptoShred:
		if s.shredder == nil {
			return nil, false, s.Validate()
		}
		if err := s.shredder.Destroy(ctx, subjectID); err != nil {
			return nil, false, fmt.Errorf("privacy: crypto-shred: %w", err)
		}
		return nil, true, nil
	}
	return nil, false, s.Validate()
}

// PseudonymOf is the pseudonym the Pseudonym strategy writes: "psn_" and the
// hex keyed hash of the subject ID.
func PseudonymOf(h Hasher, subjectID string) string {
	return "psn_" + hex.EncodeToString(h.Sum([]byte("rampart.privacy.subject\x00"+subjectID)))
}

// Plan maps field names to strategies, for erasers of records shaped as maps.
type Plan map[string]Strategy

// Apply erases one record of subjectID according to the plan and returns the
// new record, or drop=true if the record must be deleted (any Delete in the
// plan). Fields absent from the plan are kept. It is the building block of
// a host eraser over documents, caches or files.
func (p Plan) Apply(ctx context.Context, subjectID string, rec map[string]any) (out map[string]any, drop bool, err error) {
	for _, s := range p {
		if err := s.Validate(); err != nil {
			return nil, false, err
		}
		if s.kind == KindDelete {
			return nil, true, nil
		}
	}
	out = make(map[string]any, len(rec))
	for k, v := range rec {
		out[k] = v
	}
	for field, s := range p {
		v, keep, err := s.Value(ctx, subjectID)
		if err != nil {
			return nil, false, err
		}
		if !keep {
			out[field] = v
		}
	}
	return out, false, nil
}

// EraseRequest asks a domain's eraser to erase (or minimise) one subject.
type EraseRequest struct {
	Org       string
	SubjectID string
	Domain    string
	// Minimise asks to keep only the fields the domain's retention class
	// requires; the records themselves stay until RetainUntil, when the
	// sweeper asks again with Minimise false.
	Minimise    bool
	RetainUntil time.Time
}

// Result says what an eraser did.
type Result struct {
	// Records is the number of records deleted or changed.
	Records int64
}

// Eraser erases one subject's records in one data domain. It must be
// idempotent: after a crash between its success and the sweeper's progress
// write, it is called again for the same request.
type Eraser interface {
	Erase(ctx context.Context, req EraseRequest) (Result, error)
}

// BatchEraser is an optional Eraser extension that erases many subjects in one
// call (one SQL statement for a table); the sweeper uses it when present and
// falls back to one call per subject when it fails.
type BatchEraser interface {
	Eraser
	EraseBatch(ctx context.Context, reqs []EraseRequest) (Result, error)
}

// EraserFunc adapts a function to Eraser.
type EraserFunc func(ctx context.Context, req EraseRequest) (Result, error)

// Erase calls f.
func (f EraserFunc) Erase(ctx context.Context, req EraseRequest) (Result, error) { return f(ctx, req) }

// Exporter yields a subject's records in one domain, decrypted, one at a time,
// so an export never needs all of them in memory. Each record must encode
// with encoding/json.
type Exporter interface {
	Export(ctx context.Context, org, subjectID string, yield func(record any) error) error
}

// Opener decrypts a sealed field bound to its row, for exporters.
// *keyring.Field satisfies it.
type Opener interface {
	Open(rowID string, ciphertext []byte) ([]byte, error)
}

// ExporterFunc adapts a function to Exporter.
type ExporterFunc func(ctx context.Context, org, subjectID string, yield func(record any) error) error

// Export calls f.
func (f ExporterFunc) Export(ctx context.Context, org, subjectID string, yield func(record any) error) error {
	return f(ctx, org, subjectID, yield)
}

// Domain is one place where the host keeps personal data (users, leads,
// invoices, audit payloads...).
type Domain struct {
	// Name identifies the domain in progress records, holds and exports.
	Name string
	// Eraser erases the subject's records; required.
	Eraser Eraser
	// Exporter, if set, contributes the domain's records to the subject's
	// export.
	Exporter Exporter
	// Retention, if positive, is a legal retention period (invoices: 7 years):
	// erasure first minimises the records, and the sweeper erases them when
	// the period, counted from the erasure, ends.
	Retention time.Duration
}

// RegisterDomain adds a data domain to the erasure plan. Domains are erased in
// registration order. Register every domain at startup, before any sweep.
func (l *Lifecycle) RegisterDomain(d Domain) error {
	if d.Name == "" || d.Eraser == nil {
		return fmt.Errorf("%w: a domain needs a name and an eraser", ErrInvalid)
	}
	if d.Retention < 0 {
		return fmt.Errorf("%w: domain %q: negative retention", ErrInvalid, d.Name)
	}
	for _, o := range l.domains {
		if o.Name == d.Name {
			return fmt.Errorf("%w: domain %q registered twice", ErrInvalid, d.Name)
		}
	}
	l.domains = append(l.domains, d)
	return nil
}

// Domains returns the registered domains in erasure order.
func (l *Lifecycle) Domains() []Domain { return append([]Domain(nil), l.domains...) }

// GoString keeps a Replace value out of %#v, like String does for %v.
func (s Strategy) GoString() string { return "privacy.Strategy(" + string(s.kind) + ")" }
