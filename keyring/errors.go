package keyring

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the package returns wraps one of these, so a
// host can branch with errors.Is without parsing messages. None of them ever
// carries key material.
var (
	// ErrInvalidDocument reports a registry document that does not parse or
	// breaks a rule (no primary, duplicate ID, bad key length, ...).
	ErrInvalidDocument = errors.New("keyring: invalid registry document")
	// ErrSharedKey reports the same key material under two IDs or scopes:
	// disjointness is the property that limits a leak to one column.
	ErrSharedKey = errors.New("keyring: key material is shared")
	// ErrUnknownScope reports a scope that the registry does not hold.
	ErrUnknownScope = errors.New("keyring: unknown scope")
	// ErrUndeclaredColumn reports a (table, column) nobody declared.
	ErrUndeclaredColumn = errors.New("keyring: column is not declared")
	// ErrUndeclaredKey reports a ciphertext under a key ID that is not
	// declared for the column's scope.
	ErrUndeclaredKey = errors.New("keyring: key is not declared for this scope")
	// ErrKeyRetired reports a ciphertext under a retired key.
	ErrKeyRetired = errors.New("keyring: key is retired")
	// ErrMalformed reports bytes that are not a keyring envelope.
	ErrMalformed = errors.New("keyring: malformed ciphertext")
	// ErrDecrypt reports a ciphertext that failed authentication: tampered,
	// moved to another row or column, or relabelled.
	ErrDecrypt = errors.New("keyring: message authentication failed")
	// ErrInsecureFile reports a registry file readable by group or others.
	ErrInsecureFile = errors.New("keyring: registry file is readable by group or others")
	// ErrWrappedKey reports a wrapped key that was loaded without a KEK.
	ErrWrappedKey = errors.New("keyring: key is wrapped; load it through an envelope source")
	// ErrKeyDestroyed reports data sealed under a subject key that has been
	// destroyed (crypto-shredding): it can never be opened again.
	ErrKeyDestroyed = errors.New("keyring: key destroyed")
	// ErrSubjectNotFound reports a subject that has no data key.
	ErrSubjectNotFound = errors.New("keyring: subject has no data key")
	// ErrKeyCheckValue reports key material that does not match the key
	// check value recorded for its key ID (in the registry document or in
	// the database): another key under the same ID, which would open none
	// of the data sealed under the real one.
	ErrKeyCheckValue = errors.New("keyring: key material does not match its key check value")
	// ErrInvalidConfig reports an option outside its allowed range (a nil
	// normalizer, a blind-index truncation outside 8..32 bytes); the error
	// names the option.
	ErrInvalidConfig = errors.New("keyring: invalid configuration")
	// ErrIndexMismatch reports a stored blind-index value that its source does
	// not reproduce under any key of the scope: the source (or the normaliser)
	// given to Reindex is not the one the application indexes with, or the row
	// is inconsistent. Reindex stops rather than write an index that lookups
	// would never find.
	ErrIndexMismatch = errors.New("keyring: blind-index value does not match its source")
	// ErrNotSampled reports a column a Sampler cannot read rows of.
	ErrNotSampled = errors.New("keyring: column cannot be sampled")
)

// ScopeError names the scope, and the key ID if any, that an error is about.
type ScopeError struct {
	Scope string
	KeyID uint32 // 0 when the error is not about one key
	Err   error
}

// Error names the scope and key; it never includes key material.
func (e *ScopeError) Error() string {
	if e.KeyID != 0 {
		switch e.Err {
		case ErrUndeclaredKey:
			return fmt.Sprintf("keyring: scope %q: key %d is not declared", e.Scope, e.KeyID)
		case ErrKeyRetired:
			return fmt.Sprintf("keyring: scope %q: key %d is retired", e.Scope, e.KeyID)
		}
		return fmt.Sprintf("keyring: scope %q: key %d: %s", e.Scope, e.KeyID, trimPrefix(e.Err))
	}
	return fmt.Sprintf("keyring: scope %q: %s", e.Scope, trimPrefix(e.Err))
}

// Unwrap returns the sentinel, for errors.Is.
func (e *ScopeError) Unwrap() error { return e.Err }

// ColumnError names the (table, column) an error is about.
type ColumnError struct {
	Table, Column string
	Err           error
}

// Error names the table and column.
func (e *ColumnError) Error() string {
	return fmt.Sprintf("keyring: column %s.%s: %s", e.Table, e.Column, trimPrefix(e.Err))
}

// Unwrap returns the sentinel, for errors.Is.
func (e *ColumnError) Unwrap() error { return e.Err }

func trimPrefix(err error) string {
	s := err.Error()
	const p = "keyring: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
