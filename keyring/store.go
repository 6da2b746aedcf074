package keyring

import "context"

// SubjectKeyStore keeps each subject's data key, wrapped by a scope key. It
// is what makes crypto-shredding work: Destroy erases the wrapped key for
// good, so every ciphertext sealed under it, including copies in backups of
// the data tables, can never be opened again.
//
// Implementations must make Create race-safe across instances (the first
// writer wins and every caller gets the stored value) and Destroy final
// (a destroyed subject never gets a new key under the same ID).
type SubjectKeyStore interface {
	// Create stores wrapped for subjectID unless a key exists, and returns
	// the stored key. For a destroyed subject it returns ErrKeyDestroyed.
	Create(ctx context.Context, subjectID string, wrapped []byte) ([]byte, error)
	// Get returns the wrapped key: ErrSubjectNotFound if none was created,
	// ErrKeyDestroyed once destroyed.
	Get(ctx context.Context, subjectID string) ([]byte, error)
	// Destroy erases the wrapped key and remembers that it was destroyed.
	// Destroying an unknown or already destroyed subject succeeds: the
	// outcome the caller wants (no key) holds.
	Destroy(ctx context.Context, subjectID string) error
}
