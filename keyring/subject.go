package keyring

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
)

// SubjectKeys seals fields under a data key per subject (a user, a
// customer), each wrapped by the primary key of a scope and kept in a
// SubjectKeyStore. Destroying the subject's key shreds all its data at once.
type SubjectKeys struct {
	wrap  *Field // the scope's keys, bound to the pseudo-column below
	store SubjectKeyStore
	scope string
}

// SubjectKeyTable and SubjectKeyColumn name the column where pgstore keeps
// wrapped data keys (row ID = subject ID). Each wrapped key is a version-1
// envelope bound to that (table, column, subject), so declaring
// Column{Table: SubjectKeyTable, Column: SubjectKeyColumn, Scope: scope}
// lets the guardrail count them and Field.Reencrypt re-wrap them after a
// rotation of the wrapping scope, like any other encrypted column.
const (
	SubjectKeyTable  = "keyring_subject_keys"
	SubjectKeyColumn = "wrapped"
	// VersionSubject is the first byte of a field sealed under a subject
	// key: 0x02, then a 12-byte nonce, then ciphertext and 16-byte tag.
	VersionSubject byte = 0x02
)

// SubjectKeys returns the per-subject key manager of scopeName, whose keys
// wrap the data keys. The scope must serve this purpose only: a scope that a
// declared column uses (other than SubjectKeyTable.SubjectKeyColumn) is
// refused with ErrInvalidDocument, so one key never both wraps data keys and
// encrypts or indexes the host's fields.
func (r *Ring) SubjectKeys(scopeName string, store SubjectKeyStore) (*SubjectKeys, error) {
	s, ok := r.scopes[scopeName]
	if !ok {
		return nil, &ScopeError{Scope: scopeName, Err: ErrUnknownScope}
	}
	if store == nil {
		return nil, &ScopeError{Scope: scopeName, Err: fmt.Errorf("%w: nil subject key store", ErrInvalidDocument)}
	}
	for _, c := range r.decl {
		if c.Scope == scopeName && (c.Table != SubjectKeyTable || c.Column != SubjectKeyColumn || c.Kind != KindField) {
			return nil, &ScopeError{Scope: scopeName, Err: fmt.Errorf("%w: column %s.%s also uses this scope; subject keys need a scope of their own",
				ErrInvalidDocument, c.Table, c.Column)}
		}
	}
	f := r.newField(Column{Table: SubjectKeyTable, Column: SubjectKeyColumn, Scope: s.name})
	return &SubjectKeys{wrap: f, store: store, scope: scopeName}, nil
}

func (s *SubjectKeys) dataKey(ctx context.Context, subjectID string, create bool) (*fieldKey, error) {
	wrapped, err := s.store.Get(ctx, subjectID)
	if errors.Is(err, ErrSubjectNotFound) && create {
		dk := make([]byte, KeySize)
		_, _ = rand.Read(dk)
		w := s.wrap.primary.seal(nil, subjectID, dk)
		clear(dk)
		wrapped, err = s.store.Create(ctx, subjectID, w)
	}
	if err != nil {
		return nil, err // the store's sentinels (ErrKeyDestroyed, ...) or its own prefixed errors
	}
	dk, _, err := s.wrap.open(subjectID, wrapped)
	if err != nil {
		return nil, err
	}
	a, err := newAEAD(dk)
	clear(dk) // the cipher keeps its own expanded key
	if err != nil {
		return nil, err
	}
	return &fieldKey{key: &key{scope: s.scope, status: Primary, aead: a}}, nil
}

func subjectAD(scope, subjectID, label string) []byte {
	b := []byte{VersionSubject}
	b = appendLP(b, scope)
	b = appendLP(b, subjectID)
	return appendLP(b, label)
}

// Seal encrypts plaintext under subjectID's data key, creating the key on
// first use. label binds the ciphertext to where it is stored (for example
// "users.email:42"): Open must be given the same label.
func (s *SubjectKeys) Seal(ctx context.Context, subjectID, label string, plaintext []byte) ([]byte, error) {
	fk, err := s.dataKey(ctx, subjectID, true)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+tagSize)
	out[0] = VersionSubject
	_, _ = rand.Read(out[1:])
	return fk.key.aead.Seal(out, out[1:1+nonceSize], plaintext, subjectAD(s.scope, subjectID, label)), nil
}

// Open decrypts a field sealed by Seal. After Destroy it fails with
// ErrKeyDestroyed, whatever copy of the ciphertext it is given.
func (s *SubjectKeys) Open(ctx context.Context, subjectID, label string, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < 1+nonceSize+tagSize || ciphertext[0] != VersionSubject {
		return nil, fmt.Errorf("%w: not a subject-key envelope", ErrMalformed)
	}
	fk, err := s.dataKey(ctx, subjectID, false)
	if err != nil {
		return nil, err
	}
	pt, err := fk.key.aead.Open(nil, ciphertext[1:1+nonceSize], ciphertext[1+nonceSize:], subjectAD(s.scope, subjectID, label))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Destroy erases subjectID's data key (crypto-shredding). It implements the
// contract privacy relies on: afterwards Open fails with ErrKeyDestroyed.
func (s *SubjectKeys) Destroy(ctx context.Context, subjectID string) error {
	if err := s.store.Destroy(ctx, subjectID); err != nil {
		return fmt.Errorf("keyring: destroy subject key: %w", err)
	}
	return nil
}
