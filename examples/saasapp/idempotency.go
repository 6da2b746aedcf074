package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rampart-sdk/rampart/rbac"
)

// Idempotency keys, as payment APIs take them: a client that sends a
// request with an Idempotency-Key header and loses the answer (a timeout,
// a dropped connection, a 503) sends it again with the same key, and gets
// the first answer back instead of a second payout.

// idempotencyHeader is the request header carrying the key.
const idempotencyHeader = "Idempotency-Key"

// maxIdempotencyKey bounds a key's length (a UUID is 36 bytes).
const maxIdempotencyKey = 255

// defaultIdempotencyRetention is how long a key is kept after its request
// (config.IdempotencyRetention): a retry within it gets the first answer,
// as payment APIs keep theirs for a day. The idempotency-pruner job
// deletes older keys; a request sent again after that runs again.
const defaultIdempotencyRetention = 24 * time.Hour

// minIdempotencyRetention and maxIdempotencyRetention bound the retention
// newApp accepts: a client retrying with backoff over a flaky network must
// still find its key, and a key (with the answer it replays) is not kept
// for ever.
const (
	minIdempotencyRetention = time.Hour
	maxIdempotencyRetention = 30 * 24 * time.Hour
)

// errIdempotencyRetention: config.IdempotencyRetention is out of range.
var errIdempotencyRetention = errors.New("saasapp: idempotency key retention out of range")

var (
	// errIdempotencyMismatch: the key was used for another request (another
	// route or another body). Answered 422.
	errIdempotencyMismatch = errors.New("saasapp: idempotency key reused for a different request")
	// errIdempotencyInFlight: the first request with the key is still
	// running (memory store only; PostgreSQL makes the retry wait for it).
	// Answered 409 with Retry-After.
	errIdempotencyInFlight = errors.New("saasapp: a request with this idempotency key is in progress")
)

// idemKey names one use of an idempotency key: keys are scoped to an
// organisation and a principal, so two clients cannot collide nor read each
// other's answers. hash is a digest of the request (method, path and the
// decoded body re-encoded, so formatting does not matter).
type idemKey struct {
	org, principal, key string
	hash                [sha256.Size]byte
	// at is when the key was claimed (the app's clock), from which its
	// retention runs.
	at time.Time
}

// idemResult is the answer of the first request with a key, replayed to
// its retries.
type idemResult struct {
	status int
	body   []byte
}

// oncePerKey answers an action of the request's principal in org, run by
// fn as one unit of work (inUnit) whose answer is status and the JSON of
// v. With an Idempotency-Key header, the key is claimed in the same unit:
// the action and its audit entry commit with the key and the answer, so a
// retry with the same key and the same request gets that answer and runs
// nothing; a retry with another request gets 422. Without the header every
// request runs. req is the decoded body (nil for none).
func (a *app) oncePerKey(w http.ResponseWriter, r *http.Request, org string, req any, fn func(ctx context.Context, u unit) (status int, v any, err error)) {
	key := r.Header.Get(idempotencyHeader)
	if key == "" {
		var (
			status int
			v      any
		)
		err := a.inUnit(r, org, func(ctx context.Context, u unit) (err error) {
			status, v, err = fn(ctx, u)
			return err
		})
		if err != nil {
			a.failUnit(w, r, err)
			return
		}
		writeJSON(w, status, v)
		return
	}
	if len(key) > maxIdempotencyKey {
		writeProblem(w, http.StatusBadRequest, "Bad request", "the Idempotency-Key header is longer than 255 bytes")
		return
	}
	p, _ := rbac.PrincipalFrom(r.Context())
	k := idemKey{org: org, principal: p.Actor(), key: key, hash: requestHash(r, req), at: a.now().UTC()}
	var res idemResult
	err := a.inUnit(r, org, func(ctx context.Context, u unit) error {
		prev, err := u.store.ClaimIdempotencyKey(ctx, k)
		if err != nil || prev != nil {
			if prev != nil {
				res = *prev
			}
			return err
		}
		status, v, err := fn(ctx, u)
		if err != nil {
			u.store.ReleaseIdempotencyKey(ctx, k)
			return err
		}
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(v); err != nil {
			u.store.ReleaseIdempotencyKey(ctx, k)
			return err
		}
		res = idemResult{status: status, body: buf.Bytes()}
		return u.store.CompleteIdempotencyKey(ctx, k, res)
	})
	if err != nil {
		a.failUnit(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(res.status)
	_, _ = w.Write(res.body)
}

// requestHash digests what makes two requests "the same" for a key.
func requestHash(r *http.Request, req any) [sha256.Size]byte {
	h := sha256.New()
	_, _ = h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	if req != nil {
		_ = json.NewEncoder(h).Encode(req)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// failUnit answers the errors of a unit of work: the idempotency ones and
// a handler's refusal (an *httpRefusal), else fail's.
func (a *app) failUnit(w http.ResponseWriter, r *http.Request, err error) {
	var ref *httpRefusal
	switch {
	case errors.As(err, &ref):
		writeProblem(w, ref.status, ref.title, ref.detail)
	case errors.Is(err, errIdempotencyMismatch):
		writeProblem(w, http.StatusUnprocessableEntity, "Unprocessable Content",
			"this Idempotency-Key was already used for a different request; use a new key for a new request")
	case errors.Is(err, errIdempotencyInFlight):
		w.Header().Set("Retry-After", retryAfter)
		writeProblem(w, http.StatusConflict, "Conflict", "a request with this Idempotency-Key is in progress; retry later")
	default:
		a.fail(w, r, err)
	}
}

// httpRefusal is a handler's decision inside a unit of work to refuse the
// request (which rolls the unit back), answered as a problem.
type httpRefusal struct {
	status        int
	title, detail string
}

func (e *httpRefusal) Error() string { return "saasapp: refused: " + e.detail }

// pruneIdempotencyKeys is the idempotency-pruner job: it deletes the keys
// claimed longer ago than the retention (config.IdempotencyRetention). A
// key inside the retention is never deleted, so a retry within it still
// gets the first answer and creates nothing.
func (a *app) pruneIdempotencyKeys(ctx context.Context) error {
	n, err := a.store.PruneIdempotencyKeys(ctx, a.now().Add(-a.cfg.IdempotencyRetention))
	if n > 0 {
		a.log.Info("pruned idempotency keys", "deleted", n, "retention", a.cfg.IdempotencyRetention)
	}
	return err
}

// memIdem is a key's state in the memory store.
type memIdem struct {
	hash [sha256.Size]byte
	at   time.Time
	done bool
	res  idemResult
}

// memIdemKeys are the memory store's idempotency keys. A claimed key
// stays in flight until its request completes or releases it.
type memIdemKeys struct {
	mu   sync.Mutex
	keys map[[3]string]*memIdem
}

func (m *memIdemKeys) claim(k idemKey) (*idemResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := [3]string{k.org, k.principal, k.key}
	if e, ok := m.keys[id]; ok {
		switch {
		case e.hash != k.hash:
			return nil, errIdempotencyMismatch
		case !e.done:
			return nil, errIdempotencyInFlight
		}
		res := e.res
		return &res, nil
	}
	if m.keys == nil {
		m.keys = map[[3]string]*memIdem{}
	}
	m.keys[id] = &memIdem{hash: k.hash, at: k.at}
	return nil, nil
}

// prune deletes the completed keys claimed before before. A key still in
// flight stays: deleting it would let a retry run the action a second time.
func (m *memIdemKeys) prune(before time.Time) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for id, e := range m.keys {
		if e.done && e.at.Before(before) {
			delete(m.keys, id)
			n++
		}
	}
	return n
}

func (m *memIdemKeys) complete(k idemKey, res idemResult) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.keys[[3]string{k.org, k.principal, k.key}]; ok && e.hash == k.hash {
		e.done, e.res = true, res
	}
}

func (m *memIdemKeys) release(k idemKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := [3]string{k.org, k.principal, k.key}
	if e, ok := m.keys[id]; ok && !e.done && e.hash == k.hash {
		delete(m.keys, id)
	}
}

func (s *memStore) ClaimIdempotencyKey(_ context.Context, k idemKey) (*idemResult, error) {
	return s.idem.claim(k)
}

func (s *memStore) CompleteIdempotencyKey(_ context.Context, k idemKey, res idemResult) error {
	s.idem.complete(k, res)
	return nil
}

func (s *memStore) ReleaseIdempotencyKey(_ context.Context, k idemKey) { s.idem.release(k) }

func (s *memStore) PruneIdempotencyKeys(_ context.Context, before time.Time) (int64, error) {
	return s.idem.prune(before), nil
}

// ClaimIdempotencyKey inserts the key's row; if it exists (committed by an
// earlier request: a concurrent one with the same key holds the row's
// unique-index entry until it commits or rolls back, so this INSERT waits
// for it) it returns the stored answer.
func (s *pgStore) ClaimIdempotencyKey(ctx context.Context, k idemKey) (res *idemResult, err error) {
	err = s.as(ctx, k.org, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO app_idempotency_keys (org, principal, key, request_hash, created_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, k.org, k.principal, k.key, k.hash[:], k.at)
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		var (
			hash []byte
			r    idemResult
		)
		if err := tx.QueryRow(ctx, `SELECT request_hash, status, response FROM app_idempotency_keys
			WHERE principal = $1 AND key = $2`, k.principal, k.key).Scan(&hash, &r.status, &r.body); err != nil {
			return err
		}
		if !bytes.Equal(hash, k.hash[:]) {
			return errIdempotencyMismatch
		}
		res = &r
		return nil
	})
	return res, err
}

// CompleteIdempotencyKey stores the answer in the claiming transaction.
func (s *pgStore) CompleteIdempotencyKey(ctx context.Context, k idemKey, res idemResult) error {
	return s.exec1(ctx, k.org, `UPDATE app_idempotency_keys SET status = $3, response = $4 WHERE principal = $1 AND key = $2`,
		k.principal, k.key, res.status, res.body)
}

// ReleaseIdempotencyKey does nothing on PostgreSQL: the claim rolls back
// with the unit of work that failed.
func (s *pgStore) ReleaseIdempotencyKey(context.Context, idemKey) {}

// PruneIdempotencyKeys deletes the keys claimed before before.
// app_idempotency_keys is under row-level security, forced on its owner
// too, so no role the app runs as reads it across organisations: the prune
// runs bound to each organisation in turn (app_orgs, which is not
// protected, lists them), a page of organisations at a time, one short
// transaction each, served by the (org, created_at) index. A claim whose
// transaction has not committed is invisible to the DELETE, so a request in
// flight keeps its key.
func (s *pgStore) PruneIdempotencyKeys(ctx context.Context, before time.Time) (n int64, err error) {
	after := ""
	for {
		rows, err := s.db.Query(ctx, `SELECT id FROM app_orgs WHERE id > $1 ORDER BY id LIMIT 500`, after)
		if err != nil {
			return n, err
		}
		orgs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(orgs) == 0 {
			return n, err
		}
		for _, org := range orgs {
			m, err := s.exec(ctx, org, `DELETE FROM app_idempotency_keys WHERE created_at < $1`, before)
			n += m
			if err != nil {
				return n, err
			}
		}
		after = orgs[len(orgs)-1]
	}
}
