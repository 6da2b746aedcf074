package main

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"
)

// The app's own data. Every column holding personal or secret data is a
// keyring ciphertext (see keys.go); the store never sees plaintext.

// errNotFound is what both stores return for a missing row.
var errNotFound = errors.New("saasapp: not found")

// errExists reports a unique value already taken (an email).
var errExists = errors.New("saasapp: already exists")

// User states mirror the privacy lifecycle, so that authentication can refuse
// a soft-deleted user without asking privacy on every request.
const (
	userActive  = "active"
	userDeleted = "deletion_requested"
	userErased  = "erased"
)

type org struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

type user struct {
	ID, Org, Role string
	State         string
	PasswordHash  string
	Name          []byte // sealed, users.name
	Email         []byte // sealed, users.email
	EmailIdx      []byte // blind index of the email, for login
	Address       []byte // sealed under the user's own data key (crypto-shredded at erasure)
	TaxID         []byte // sealed, tax.tin
	CreatedAt     time.Time
}

type payout struct {
	ID, Org     string
	AmountCents int64
	Currency    string
	BankAccount []byte // sealed, payouts.bank_account
	Status      string // "pending" or "approved"
	CreatedBy   string
	ApprovedBy  string
	CreatedAt   time.Time
}

type integration struct {
	ID, Org, Provider string
	Token             []byte // sealed, integrations.oauth_token
	CreatedAt         time.Time
}

type lead struct {
	ID, Org   string
	Payload   []byte // sealed, leads.payload
	CreatedAt time.Time
}

type analyticsEvent struct {
	Org, Subject, Name string
	At                 time.Time
}

// appStore is what the handlers need from the app's tables. memStore and
// pgStore implement it.
type appStore interface {
	CreateOrg(ctx context.Context, o org, owner user) error
	Org(ctx context.Context, id string) (org, error)

	AddUser(ctx context.Context, u user) error
	User(ctx context.Context, org, id string) (user, error)
	UserByEmail(ctx context.Context, idx [][]byte) (user, error)
	// Members, Payouts, Integrations and Leads list one page, ordered by
	// (created_at, id): up to p.limit rows after p.after.
	Members(ctx context.Context, org string, p page) ([]user, error)
	UpdateProfile(ctx context.Context, org, id string, name, address, taxID []byte) error
	SetRole(ctx context.Context, org, id, role string) error
	SetState(ctx context.Context, org, id, state string) error
	// EraseUser clears every personal column of the user and marks it erased.
	EraseUser(ctx context.Context, org, id string) (int64, error)

	AddPayout(ctx context.Context, p payout) error
	Payouts(ctx context.Context, org string, p page) ([]payout, error)
	Payout(ctx context.Context, org, id string) (payout, error)
	ApprovePayout(ctx context.Context, org, id, approver string) (payout, error)

	AddIntegration(ctx context.Context, i integration) error
	Integrations(ctx context.Context, org string, p page) ([]integration, error)

	PutSessionData(ctx context.Context, sessionID, org, userID string, payload []byte) error
	SessionData(ctx context.Context, sessionID string) ([]byte, error)
	DeleteSessionData(ctx context.Context, org, userID string) (int64, error)

	AddLead(ctx context.Context, l lead) error
	Leads(ctx context.Context, org string, p page) ([]lead, error)

	AddEvent(ctx context.Context, e analyticsEvent) error
	Events(ctx context.Context, org, subject string) ([]analyticsEvent, error)
	// RenameSubject replaces a subject in the analytics events (by a
	// pseudonym, at erasure), so aggregates keep their continuity.
	RenameSubject(ctx context.Context, org, from, to string) (int64, error)

	// ClaimIdempotencyKey claims k for a request (idempotency.go): nil, nil
	// when the request must run; the first answer when a request with the
	// same key and hash completed; errIdempotencyMismatch when the key was
	// used for another request.
	ClaimIdempotencyKey(ctx context.Context, k idemKey) (*idemResult, error)
	// CompleteIdempotencyKey stores the answer of the request that claimed k.
	CompleteIdempotencyKey(ctx context.Context, k idemKey, res idemResult) error
	// ReleaseIdempotencyKey gives up a claim whose request failed.
	ReleaseIdempotencyKey(ctx context.Context, k idemKey)
	// PruneIdempotencyKeys deletes the completed keys claimed before
	// before, in every organisation, and returns how many it deleted
	// (idempotency.go, the idempotency-pruner job).
	PruneIdempotencyKeys(ctx context.Context, before time.Time) (int64, error)
}

// memStore keeps the app's tables in memory, for the demo and tests.
type memStore struct {
	mu           sync.Mutex
	orgs         map[string]org
	users        map[string]user // by ID
	payouts      []payout
	integrations []integration
	sessions     map[string]sessionData
	leads        []lead
	events       []analyticsEvent
	idem         memIdemKeys
}

type sessionData struct {
	org, user string
	payload   []byte
}

func newMemStore() *memStore {
	return &memStore{orgs: map[string]org{}, users: map[string]user{}, sessions: map[string]sessionData{}}
}

func (s *memStore) CreateOrg(_ context.Context, o org, owner user) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkEmailLocked(owner.EmailIdx); err != nil {
		return err
	}
	s.orgs[o.ID] = o
	s.users[owner.ID] = owner
	return nil
}

func (s *memStore) checkEmailLocked(idx []byte) error {
	for _, u := range s.users {
		if len(idx) > 0 && bytes.Equal(u.EmailIdx, idx) {
			return errExists
		}
	}
	return nil
}

func (s *memStore) Org(_ context.Context, id string) (org, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[id]
	if !ok {
		return org{}, errNotFound
	}
	return o, nil
}

func (s *memStore) AddUser(_ context.Context, u user) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkEmailLocked(u.EmailIdx); err != nil {
		return err
	}
	s.users[u.ID] = u
	return nil
}

func (s *memStore) User(_ context.Context, orgID, id string) (user, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok || u.Org != orgID {
		return user{}, errNotFound
	}
	return u, nil
}

func (s *memStore) UserByEmail(_ context.Context, idx [][]byte) (user, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		for _, i := range idx {
			if len(u.EmailIdx) > 0 && bytes.Equal(u.EmailIdx, i) {
				return u, nil
			}
		}
	}
	return user{}, errNotFound
}

func (s *memStore) Members(_ context.Context, orgID string, p page) ([]user, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []user
	for _, u := range s.users {
		if u.Org == orgID {
			out = append(out, u)
		}
	}
	return pageOf(out, p, userPos), nil
}

func (s *memStore) update(orgID, id string, f func(*user)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok || u.Org != orgID {
		return errNotFound
	}
	f(&u)
	s.users[id] = u
	return nil
}

func (s *memStore) UpdateProfile(_ context.Context, orgID, id string, name, address, taxID []byte) error {
	return s.update(orgID, id, func(u *user) {
		if name != nil {
			u.Name = name
		}
		if address != nil {
			u.Address = address
		}
		if taxID != nil {
			u.TaxID = taxID
		}
	})
}

func (s *memStore) SetRole(_ context.Context, orgID, id, role string) error {
	return s.update(orgID, id, func(u *user) { u.Role = role })
}

func (s *memStore) SetState(_ context.Context, orgID, id, state string) error {
	return s.update(orgID, id, func(u *user) { u.State = state })
}

func (s *memStore) EraseUser(_ context.Context, orgID, id string) (int64, error) {
	err := s.update(orgID, id, func(u *user) {
		u.State, u.PasswordHash = userErased, ""
		u.Name, u.Email, u.EmailIdx, u.Address, u.TaxID = nil, nil, nil, nil, nil
	})
	if errors.Is(err, errNotFound) {
		return 0, nil // idempotent: nothing left to erase
	}
	return 1, err
}

func (s *memStore) AddPayout(_ context.Context, p payout) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.payouts = append(s.payouts, p)
	return nil
}

func (s *memStore) Payouts(_ context.Context, orgID string, pg page) ([]payout, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []payout
	for _, p := range s.payouts {
		if p.Org == orgID {
			out = append(out, p)
		}
	}
	return pageOf(out, pg, payoutPos), nil
}

func (s *memStore) Payout(_ context.Context, orgID, id string) (payout, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.payouts {
		if p.Org == orgID && p.ID == id {
			return p, nil
		}
	}
	return payout{}, errNotFound
}

func (s *memStore) ApprovePayout(_ context.Context, orgID, id, approver string) (payout, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.payouts {
		if p.Org == orgID && p.ID == id {
			if p.Status != "pending" {
				return p, errExists
			}
			s.payouts[i].Status, s.payouts[i].ApprovedBy = "approved", approver
			return s.payouts[i], nil
		}
	}
	return payout{}, errNotFound
}

func (s *memStore) AddIntegration(_ context.Context, i integration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.integrations = append(s.integrations, i)
	return nil
}

func (s *memStore) Integrations(_ context.Context, orgID string, p page) ([]integration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []integration
	for _, i := range s.integrations {
		if i.Org == orgID {
			out = append(out, i)
		}
	}
	return pageOf(out, p, integrationPos), nil
}

func (s *memStore) PutSessionData(_ context.Context, sessionID, orgID, userID string, payload []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[sessionID] = sessionData{org: orgID, user: userID, payload: payload}
	return nil
}

func (s *memStore) SessionData(_ context.Context, sessionID string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.sessions[sessionID]
	if !ok {
		return nil, errNotFound
	}
	return d.payload, nil
}

func (s *memStore) DeleteSessionData(_ context.Context, orgID, userID string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for id, d := range s.sessions {
		if d.org == orgID && d.user == userID {
			delete(s.sessions, id)
			n++
		}
	}
	return n, nil
}

func (s *memStore) AddLead(_ context.Context, l lead) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leads = append(s.leads, l)
	return nil
}

func (s *memStore) Leads(_ context.Context, orgID string, p page) ([]lead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []lead
	for _, l := range s.leads {
		if l.Org == orgID {
			out = append(out, l)
		}
	}
	return pageOf(out, p, leadPos), nil
}

func (s *memStore) AddEvent(_ context.Context, e analyticsEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	return nil
}

func (s *memStore) Events(_ context.Context, orgID, subject string) ([]analyticsEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []analyticsEvent
	for _, e := range s.events {
		if e.Org == orgID && e.Subject == subject {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *memStore) RenameSubject(_ context.Context, orgID, from, to string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for i, e := range s.events {
		if e.Org == orgID && e.Subject == from {
			s.events[i].Subject = to
			n++
		}
	}
	return n, nil
}
