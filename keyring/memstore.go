package keyring

import (
	"context"
	"sync"
)

// NewMemoryStore returns an in-memory SubjectKeyStore, for tests and the
// quickstart. Its keys vanish with the process.
func NewMemoryStore() SubjectKeyStore {
	return &memoryStore{keys: map[string][]byte{}, destroyed: map[string]bool{}}
}

// memoryStore is the in-memory SubjectKeyStore. It is unexported so that
// its methods, which only restate the interface, stay out of the docs.
type memoryStore struct {
	mu        sync.Mutex
	keys      map[string][]byte
	destroyed map[string]bool
}

// Create implements SubjectKeyStore.
func (m *memoryStore) Create(_ context.Context, subjectID string, wrapped []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.destroyed[subjectID] {
		return nil, ErrKeyDestroyed
	}
	if k, ok := m.keys[subjectID]; ok {
		return append([]byte(nil), k...), nil
	}
	m.keys[subjectID] = append([]byte(nil), wrapped...)
	return append([]byte(nil), wrapped...), nil
}

// Get implements SubjectKeyStore.
func (m *memoryStore) Get(_ context.Context, subjectID string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.destroyed[subjectID] {
		return nil, ErrKeyDestroyed
	}
	k, ok := m.keys[subjectID]
	if !ok {
		return nil, ErrSubjectNotFound
	}
	return append([]byte(nil), k...), nil
}

// Destroy implements SubjectKeyStore.
func (m *memoryStore) Destroy(_ context.Context, subjectID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k, ok := m.keys[subjectID]; ok {
		clear(k)
		delete(m.keys, subjectID)
	}
	m.destroyed[subjectID] = true
	return nil
}
