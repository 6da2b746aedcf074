package privacy

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Purpose is a processing purpose that needs consent (analytics,
// marketing...), with the version of the text shown to people.
type Purpose struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Version is the current policy text version, stamped on new consent.
	Version int `json:"version"`
	// MinVersion is the oldest version whose consent still counts: raise it
	// with a new text that changes what people agree to, and everyone must
	// consent afresh.
	MinVersion int `json:"min_version"`
}

// ConsentRecord is one consent decision. Records are append-only: the latest
// one for (who, purpose) decides.
type ConsentRecord struct {
	Org string `json:"org"`
	// Who is "subject:<id>" for a known subject or "visitor:<id>" for an
	// anonymous visitor.
	Who     string    `json:"who"`
	Purpose string    `json:"purpose"`
	Granted bool      `json:"granted"`
	Version int       `json:"version"`
	At      time.Time `json:"at"`
	// Source is where the choice was made ("banner", "settings", "api").
	Source string `json:"source"`
}

// RegisterPurpose declares a purpose, or a new version of it (safe while
// serving: raising MinVersion takes effect for the next Allowed).
func (m *Manager) RegisterPurpose(p Purpose) error {
	if p.Name == "" || p.Version < 1 || p.MinVersion > p.Version {
		return fmt.Errorf("%w: purpose needs a name, a version >= 1 and min version <= version", ErrInvalid)
	}
	if p.MinVersion < 1 {
		p.MinVersion = 1
	}
	m.purposes.mu.Lock()
	defer m.purposes.mu.Unlock()
	m.purposes.m[p.Name] = p
	return nil
}

// Purposes returns the registered purposes.
func (m *Manager) Purposes() map[string]Purpose {
	m.purposes.mu.RLock()
	defer m.purposes.mu.RUnlock()
	out := make(map[string]Purpose, len(m.purposes.m))
	for k, v := range m.purposes.m {
		out[k] = v
	}
	return out
}

func (m *Manager) purpose(name string) (Purpose, error) {
	m.purposes.mu.RLock()
	defer m.purposes.mu.RUnlock()
	p, ok := m.purposes.m[name]
	if !ok {
		return Purpose{}, fmt.Errorf("%w: purpose %q is not registered", ErrInvalid, name)
	}
	return p, nil
}

// Grant records consent of who to purpose under its current version.
func (m *Manager) Grant(ctx context.Context, org, who, purpose, source string) (ConsentRecord, error) {
	return m.decide(ctx, org, who, purpose, source, true)
}

// Withdraw records the withdrawal of consent; it takes effect at once and is
// exactly as easy as Grant (Art. 7(3)).
func (m *Manager) Withdraw(ctx context.Context, org, who, purpose, source string) (ConsentRecord, error) {
	return m.decide(ctx, org, who, purpose, source, false)
}

func (m *Manager) decide(ctx context.Context, org, who, purpose, source string, granted bool) (ConsentRecord, error) {
	if who == "" {
		return ConsentRecord{}, fmt.Errorf("%w: empty consent subject", ErrInvalid)
	}
	p, err := m.purpose(purpose)
	if err != nil {
		return ConsentRecord{}, err
	}
	c := ConsentRecord{Org: org, Who: who, Purpose: purpose, Granted: granted, Version: p.Version, At: m.now(), Source: source}
	if err := m.store.AppendConsent(ctx, c); err != nil {
		return ConsentRecord{}, err
	}
	return c, nil
}

// Allowed reports whether who's latest decision for purpose is a grant under
// a version the purpose still accepts. No record, a withdrawal, a stale
// version or an unregistered purpose all answer false: processing needs a
// yes. Only store errors are returned.
func (m *Manager) Allowed(ctx context.Context, org, who, purpose string) (bool, error) {
	p, err := m.purpose(purpose)
	if err != nil {
		return false, nil
	}
	c, err := m.store.LatestConsent(ctx, org, who, purpose)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return c.Granted && c.Version >= p.MinVersion, nil
}

// ConsentHistory returns every consent decision of who, oldest first.
func (m *Manager) ConsentHistory(ctx context.Context, org, who string) ([]ConsentRecord, error) {
	return m.store.ConsentHistory(ctx, org, who)
}
