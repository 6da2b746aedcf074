package authn

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// memoryStore is the in-memory Store. It is unexported because its methods
// only restate the interfaces; NewMemoryStore documents it.
type memoryStore struct {
	mu       sync.Mutex
	keys     map[string]APIKeyRecord
	links    map[string]MagicLinkRecord // by string(token hash)
	sessions map[string]SessionRecord   // by ID
	byToken  map[string]string          // string(token hash) -> session ID
	policies map[string]OrgPolicy
	throttle map[string]ThrottleBucket
}

// NewMemoryStore returns an empty in-memory Store for tests, examples and
// single-process tools. One mutex serialises every operation, which gives
// the same atomicity guarantees as the PostgreSQL adapter within one
// process. One value can back every service of the package, since Store
// embeds each narrower store interface.
func NewMemoryStore() Store { return newMemoryStore() }

// newMemoryStore returns the concrete type, for the package's own tests
// that inspect or corrupt its state.
func newMemoryStore() *memoryStore {
	return &memoryStore{
		keys:     map[string]APIKeyRecord{},
		links:    map[string]MagicLinkRecord{},
		sessions: map[string]SessionRecord{},
		byToken:  map[string]string{},
		policies: map[string]OrgPolicy{},
		throttle: map[string]ThrottleBucket{},
	}
}

func cloneKey(r APIKeyRecord) APIKeyRecord {
	r.Scopes = slices.Clone(r.Scopes)
	r.Hash = bytes.Clone(r.Hash)
	return r
}

// CreateAPIKey implements APIKeyStore.
func (m *memoryStore) CreateAPIKey(_ context.Context, rec APIKeyRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[rec.ID]; ok {
		return ErrConflict
	}
	m.keys[rec.ID] = cloneKey(rec)
	return nil
}

// APIKeyByID implements APIKeyStore.
func (m *memoryStore) APIKeyByID(_ context.Context, id string) (APIKeyRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.keys[id]
	if !ok {
		return APIKeyRecord{}, ErrNotFound
	}
	return cloneKey(r), nil
}

// ListAPIKeys implements APIKeyStore.
func (m *memoryStore) ListAPIKeys(_ context.Context, org string, p ListPage) ([]APIKeyRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []APIKeyRecord
	for _, r := range m.keys {
		if r.Org == org && p.after(r.CreatedAt, r.ID) {
			out = append(out, cloneKey(r))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out[:min(len(out), max(p.Limit, 0))], nil
}

// RevokeAPIKey implements APIKeyStore.
func (m *memoryStore) RevokeAPIKey(_ context.Context, org, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.keys[id]
	if !ok || r.Org != org {
		return ErrNotFound
	}
	if r.RevokedAt.IsZero() {
		r.RevokedAt = at
		m.keys[id] = r
	}
	return nil
}

// TouchAPIKey implements APIKeyStore.
func (m *memoryStore) TouchAPIKey(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.keys[id]
	if !ok {
		return ErrNotFound
	}
	if at.After(r.LastUsedAt) {
		r.LastUsedAt = at
		m.keys[id] = r
	}
	return nil
}

// InsertMagicLink implements MagicLinkStore.
func (m *memoryStore) InsertMagicLink(_ context.Context, rec MagicLinkRecord, limit int, since time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, l := range m.links {
		if l.Email == rec.Email && !l.CreatedAt.Before(since) {
			n++
		}
	}
	if n >= limit {
		return ErrRateLimited
	}
	k := string(rec.TokenHash)
	if _, ok := m.links[k]; ok {
		return ErrConflict
	}
	rec.TokenHash = bytes.Clone(rec.TokenHash)
	m.links[k] = rec
	return nil
}

// ConsumeMagicLink implements MagicLinkStore.
func (m *memoryStore) ConsumeMagicLink(_ context.Context, tokenHash []byte, at time.Time) (MagicLinkRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.links[string(tokenHash)]
	if !ok {
		return MagicLinkRecord{}, ErrNotFound
	}
	if !l.ConsumedAt.IsZero() {
		return MagicLinkRecord{}, ErrAlreadyConsumed
	}
	l.ConsumedAt = at
	m.links[string(tokenHash)] = l
	l.TokenHash = bytes.Clone(l.TokenHash)
	return l, nil
}

// DeleteMagicLinksBefore implements MagicLinkStore.
func (m *memoryStore) DeleteMagicLinksBefore(_ context.Context, t time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, l := range m.links {
		if l.ExpiresAt.Before(t) {
			delete(m.links, k)
			n++
		}
	}
	return n, nil
}

func cloneSession(r SessionRecord) SessionRecord {
	r.TokenHash = bytes.Clone(r.TokenHash)
	return r
}

// CreateSession implements SessionStore.
func (m *memoryStore) CreateSession(_ context.Context, rec SessionRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[rec.ID]; ok {
		return ErrConflict
	}
	if _, ok := m.byToken[string(rec.TokenHash)]; ok {
		return ErrConflict
	}
	m.sessions[rec.ID] = cloneSession(rec)
	m.byToken[string(rec.TokenHash)] = rec.ID
	return nil
}

// SessionByTokenHash implements SessionStore.
func (m *memoryStore) SessionByTokenHash(_ context.Context, tokenHash []byte) (SessionRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.byToken[string(tokenHash)]
	if !ok {
		return SessionRecord{}, ErrNotFound
	}
	r := cloneSession(m.sessions[id])
	r.OrgRequiresSSO = r.Org != "" && m.policies[r.Org].PasswordLoginDisabled
	return r, nil
}

// SessionByID implements SessionStore.
func (m *memoryStore) SessionByID(_ context.Context, id string) (SessionRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.sessions[id]
	if !ok {
		return SessionRecord{}, ErrNotFound
	}
	return cloneSession(r), nil
}

// TouchSession implements SessionStore.
func (m *memoryStore) TouchSession(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.sessions[id]
	if !ok {
		return ErrNotFound
	}
	if at.After(r.LastSeenAt) {
		r.LastSeenAt = at
		m.sessions[id] = r
	}
	return nil
}

// RotateSessionToken implements SessionStore.
func (m *memoryStore) RotateSessionToken(_ context.Context, id string, oldHash, newHash []byte, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.sessions[id]
	if !ok || !bytes.Equal(r.TokenHash, oldHash) {
		return ErrNotFound
	}
	if _, taken := m.byToken[string(newHash)]; taken {
		return ErrConflict
	}
	delete(m.byToken, string(oldHash))
	r.TokenHash = bytes.Clone(newHash)
	if at.After(r.LastSeenAt) {
		r.LastSeenAt = at
	}
	m.sessions[id] = r
	m.byToken[string(newHash)] = id
	return nil
}

// SetSessionMFAVerified implements SessionStore.
func (m *memoryStore) SetSessionMFAVerified(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.sessions[id]
	if !ok {
		return ErrNotFound
	}
	r.MFAVerifiedAt = at
	m.sessions[id] = r
	return nil
}

// ListSessions implements SessionStore.
func (m *memoryStore) ListSessions(_ context.Context, org, userID string, p ListPage) ([]SessionRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []SessionRecord
	for _, r := range m.sessions {
		if r.Org == org && r.UserID == userID && p.after(r.CreatedAt, r.ID) {
			out = append(out, cloneSession(r))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out[:min(len(out), max(p.Limit, 0))], nil
}

func (m *memoryStore) deleteSessionLocked(id string) {
	delete(m.byToken, string(m.sessions[id].TokenHash))
	delete(m.sessions, id)
}

// DeleteSession implements SessionStore.
func (m *memoryStore) DeleteSession(_ context.Context, org, userID, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.sessions[id]
	if !ok || r.Org != org || r.UserID != userID {
		return ErrNotFound
	}
	m.deleteSessionLocked(id)
	return nil
}

// DeleteUserSessions implements SessionStore.
func (m *memoryStore) DeleteUserSessions(_ context.Context, org, userID, exceptID string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, r := range m.sessions {
		if r.Org == org && r.UserID == userID && id != exceptID {
			m.deleteSessionLocked(id)
			n++
		}
	}
	return n, nil
}

// DeleteSessionsBefore implements SessionStore.
func (m *memoryStore) DeleteSessionsBefore(_ context.Context, t time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, r := range m.sessions {
		if r.ExpiresAt.Before(t) {
			m.deleteSessionLocked(id)
			n++
		}
	}
	return n, nil
}

// OrgPolicy implements PolicyStore.
func (m *memoryStore) OrgPolicy(_ context.Context, org string) (OrgPolicy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.policies[org], nil
}

// SetOrgPolicy implements PolicyStore.
func (m *memoryStore) SetOrgPolicy(_ context.Context, org string, p OrgPolicy) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.policies[org] = p
	return nil
}

// TakeThrottle implements ThrottleStore.
func (m *memoryStore) TakeThrottle(_ context.Context, rules []ThrottleRule, at time.Time) (ThrottleResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var res ThrottleResult
	next := make([]ThrottleBucket, len(rules))
	for i, r := range rules {
		b, ok := m.throttle[r.Key]
		if !ok || !at.Before(b.WindowEnd) {
			b = ThrottleBucket{Key: r.Key, WindowEnd: at.Add(r.Window)}
		}
		if b.Count >= r.Limit {
			res.RetryAfter = max(res.RetryAfter, b.WindowEnd.Sub(at))
		}
		b.Count++
		next[i] = b
	}
	if res.RetryAfter > 0 {
		return res, nil
	}
	for i, b := range next {
		m.throttle[b.Key] = b
		if b.Count == rules[i].Limit {
			res.Filled = append(res.Filled, b.Key)
		}
	}
	return res, nil
}

// ThrottleBuckets implements ThrottleStore.
func (m *memoryStore) ThrottleBuckets(_ context.Context, keys []string, at time.Time) ([]ThrottleBucket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []ThrottleBucket{}
	for _, k := range keys {
		if b, ok := m.throttle[k]; ok && at.Before(b.WindowEnd) && !slices.ContainsFunc(out, func(x ThrottleBucket) bool { return x.Key == k }) {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// DeleteThrottle implements ThrottleStore.
func (m *memoryStore) DeleteThrottle(_ context.Context, prefix string) (int, error) {
	if prefix == "" {
		return 0, ErrInvalidArgument
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k := range m.throttle {
		if strings.HasPrefix(k, prefix) {
			delete(m.throttle, k)
			n++
		}
	}
	return n, nil
}

// DeleteThrottleBefore implements ThrottleStore.
func (m *memoryStore) DeleteThrottleBefore(_ context.Context, t time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, b := range m.throttle {
		if b.WindowEnd.Before(t) {
			delete(m.throttle, k)
			n++
		}
	}
	return n, nil
}
