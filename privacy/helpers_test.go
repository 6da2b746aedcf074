package privacy_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/testclock"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/internal/svctest"
)

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock = testclock.Clock

func newClock() *clock { return testclock.New(t0) }

const day = 24 * time.Hour

// recorder captures what a Lifecycle or Requests records (contract 1).
type recorder struct {
	mu      sync.Mutex
	entries []entry
}

type entry struct {
	org, actor, action, target string
	payload                    map[string]any
}

func (r *recorder) Record(_ context.Context, org, actor, action, target string, payload map[string]any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, entry{org, actor, action, target, payload})
	return nil
}

func (r *recorder) actions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.entries {
		out = append(out, e.action)
	}
	return out
}

// heartbeat captures sweep signals (contract 5).
type heartbeat struct {
	mu     sync.Mutex
	events []string
}

func (h *heartbeat) Start(_ context.Context, job string) error { return h.add("start " + job) }
func (h *heartbeat) Succeed(_ context.Context, job string) error {
	return h.add("succeed " + job)
}
func (h *heartbeat) Fail(_ context.Context, job string, cause error) error {
	return h.add("fail " + job)
}
func (h *heartbeat) add(s string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, s)
	return nil
}

var errKeyDestroyed = errors.New("fake keyring: key destroyed")

// subjectKeys is a fake of keyring's per-subject keys (contract 4): one
// AES-256-GCM key per subject; Destroy deletes it.
type subjectKeys struct {
	mu   sync.Mutex
	keys map[string][]byte
}

func newSubjectKeys() *subjectKeys { return &subjectKeys{keys: map[string][]byte{}} }

func (k *subjectKeys) aead(subject string, create bool) (cipher.AEAD, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.keys[subject]
	if !ok {
		if !create {
			return nil, errKeyDestroyed
		}
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		k.keys[subject] = key
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func (k *subjectKeys) Seal(subject string, pt []byte) []byte {
	a, err := k.aead(subject, true)
	if err != nil {
		panic(err)
	}
	nonce := make([]byte, a.NonceSize())
	_, _ = rand.Read(nonce)
	return a.Seal(nonce, nonce, pt, []byte(subject))
}

func (k *subjectKeys) Open(subject string, ct []byte) ([]byte, error) {
	a, err := k.aead(subject, false)
	if err != nil {
		return nil, err
	}
	if len(ct) < a.NonceSize() {
		return nil, errors.New("short")
	}
	return a.Open(nil, ct[:a.NonceSize()], ct[a.NonceSize():], []byte(subject))
}

func (k *subjectKeys) Destroy(_ context.Context, subject string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, subject)
	return nil
}

// blindIndex is a fake keyed hash (contract 3).
type blindIndex struct{ key []byte }

func (b blindIndex) Sum(v []byte) []byte {
	m := hmac.New(sha256.New, b.key)
	m.Write(v)
	return m.Sum(nil)
}

// table is a host table kept in memory, erased through a privacy.Plan.
type table struct {
	mu    sync.Mutex
	rows  []map[string]any
	erase privacy.Plan
	min   privacy.Plan
	calls map[string]int // subject -> eraser calls
	fail  func(subject string, call int) error
}

func newTable(erase, min privacy.Plan) *table {
	return &table{erase: erase, min: min, calls: map[string]int{}}
}

func (t *table) insert(row map[string]any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = append(t.rows, row)
}

func (t *table) snapshot() []map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]map[string]any, len(t.rows))
	for i, r := range t.rows {
		out[i] = maps.Clone(r)
	}
	return out
}

func (t *table) of(subject string) []map[string]any {
	var out []map[string]any
	for _, r := range t.snapshot() {
		if r["subject"] == subject {
			out = append(out, r)
		}
	}
	return out
}

func (t *table) callsOf(subject string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls[subject]
}

func (t *table) Erase(ctx context.Context, req privacy.EraseRequest) (privacy.Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls[req.SubjectID]++
	if t.fail != nil {
		if err := t.fail(req.SubjectID, t.calls[req.SubjectID]); err != nil {
			return privacy.Result{}, err
		}
	}
	plan := t.erase
	if req.Minimise {
		plan = t.min
	}
	var kept []map[string]any
	var n int64
	for _, r := range t.rows {
		if r["subject"] != req.SubjectID {
			kept = append(kept, r)
			continue
		}
		n++
		out, drop, err := plan.Apply(ctx, req.SubjectID, r)
		if err != nil {
			return privacy.Result{}, err
		}
		if !drop {
			// Rows stay findable by the subject column for a later phase
			// unless the plan changed it.
			kept = append(kept, out)
		}
	}
	t.rows = kept
	return privacy.Result{Records: n}, nil
}

func (t *table) Export(_ context.Context, _, subject string, yield func(any) error) error {
	for _, r := range t.of(subject) {
		if err := yield(r); err != nil {
			return err
		}
	}
	return nil
}

// services are privacy's three services over one store, as a host wires
// them (svctest.Services); newServices builds them.
type services = svctest.Services

var newServices = svctest.New

func mustDeletion(t *testing.T, m *privacy.Lifecycle, id string) privacy.Subject {
	t.Helper()
	s, err := m.RequestDeletion(context.Background(), privacy.Ref{Org: "org1", ID: id}, "user:"+id, "closing my account")
	require.NoError(t, err)
	return s
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("u%03d", i)
	}
	return out
}
