package privacy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
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

// Consent keeps consent decisions over a ConsentStore, against the
// registered purposes and their policy versions. It is safe for concurrent
// use; a new version of a purpose may be registered while serving.
type Consent struct {
	store    ConsentStore
	now      func() time.Time
	purposes *purposes // shared by the copies WithStore makes
}

// purposes are the registered purposes by name. A new policy version may
// be registered while serving, hence the lock.
type purposes struct {
	mu sync.RWMutex
	m  map[string]Purpose
}

// NewConsent returns a Consent over store, configured by opts (WithClock).
// An option out of its range is an error wrapping ErrInvalidConfig.
func NewConsent(store ConsentStore, opts ...ConsentOption) (*Consent, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidConfig)
	}
	c := consentConfig{common: common{now: time.Now}}
	if err := configure(&c.common, opts, func(o ConsentOption) { o.applyConsent(&c) }); err != nil {
		return nil, err
	}
	return &Consent{store: store, now: c.now, purposes: &purposes{m: map[string]Purpose{}}}, nil
}

// WithStore returns a Consent over s that shares c's clock and purposes (a
// purpose registered later on either is seen by both), as Lifecycle.WithStore.
func (c *Consent) WithStore(s ConsentStore) *Consent {
	d := *c
	d.store = s
	return &d
}

// RegisterPurpose declares a purpose, or a new version of it (safe while
// serving: raising MinVersion takes effect for the next Allowed).
func (c *Consent) RegisterPurpose(p Purpose) error {
	if p.Name == "" || p.Version < 1 || p.MinVersion > p.Version {
		return fmt.Errorf("%w: purpose needs a name, a version >= 1 and min version <= version", ErrInvalid)
	}
	if p.MinVersion < 1 {
		p.MinVersion = 1
	}
	c.purposes.mu.Lock()
	defer c.purposes.mu.Unlock()
	c.purposes.m[p.Name] = p
	return nil
}

// Purposes returns the registered purposes.
func (c *Consent) Purposes() map[string]Purpose {
	c.purposes.mu.RLock()
	defer c.purposes.mu.RUnlock()
	return maps.Clone(c.purposes.m)
}

func (c *Consent) purpose(name string) (Purpose, error) {
	c.purposes.mu.RLock()
	defer c.purposes.mu.RUnlock()
	p, ok := c.purposes.m[name]
	if !ok {
		return Purpose{}, fmt.Errorf("%w: purpose %q is not registered", ErrInvalid, name)
	}
	return p, nil
}

// Grant records consent of who ("subject:<id>" or "visitor:<id>") in org
// to purpose under its current version.
func (c *Consent) Grant(ctx context.Context, org, who, purpose, source string) (ConsentRecord, error) {
	return c.decide(ctx, org, who, purpose, source, true)
}

// Withdraw records the withdrawal of consent; it takes effect at once and is
// exactly as easy as Grant (Art. 7(3)).
func (c *Consent) Withdraw(ctx context.Context, org, who, purpose, source string) (ConsentRecord, error) {
	return c.decide(ctx, org, who, purpose, source, false)
}

func (c *Consent) decide(ctx context.Context, org, who, purpose, source string, granted bool) (ConsentRecord, error) {
	if who == "" {
		return ConsentRecord{}, fmt.Errorf("%w: empty consent subject", ErrInvalid)
	}
	p, err := c.purpose(purpose)
	if err != nil {
		return ConsentRecord{}, err
	}
	r := ConsentRecord{Org: org, Who: who, Purpose: purpose, Granted: granted, Version: p.Version, At: c.now(), Source: source}
	if err := c.store.AppendConsent(ctx, r); err != nil {
		return ConsentRecord{}, err
	}
	return r, nil
}

// Allowed reports whether who's latest decision for purpose is a grant under
// a version the purpose still accepts. No record, a withdrawal, a stale
// version or an unregistered purpose all answer false: processing needs a
// yes. Only store errors are returned.
func (c *Consent) Allowed(ctx context.Context, org, who, purpose string) (bool, error) {
	p, err := c.purpose(purpose)
	if err != nil {
		return false, nil
	}
	r, err := c.store.LatestConsent(ctx, org, who, purpose)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return r.Granted && r.Version >= p.MinVersion, nil
}

// History returns every consent decision of who, oldest first.
func (c *Consent) History(ctx context.Context, org, who string) ([]ConsentRecord, error) {
	return c.store.ConsentHistory(ctx, org, who)
}
