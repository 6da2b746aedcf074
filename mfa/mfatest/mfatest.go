// Package mfatest is the conformance suite of mfa.Store implementations and
// the test helpers of mfa. Run TestStore against your own adapter the way
// testing/fstest.TestFS checks a file system.
package mfatest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/mfa"
)

// Sealer is an AES-256-GCM mfa.Sealer with a random key, binding each
// ciphertext to its row ID, for tests and benchmarks. Production uses a
// keyring field, which adds key rotation and scoping.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer with a fresh random key.
func NewSealer() *Sealer {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &Sealer{aead: aead}
}

// Seal implements mfa.Sealer: nonce || ciphertext, row ID as associated data.
func (s *Sealer) Seal(rowID string, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plaintext, []byte(rowID)), nil
}

// Open implements mfa.Sealer.
func (s *Sealer) Open(rowID string, ciphertext []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(ciphertext) < n+s.aead.Overhead() {
		return nil, errors.New("mfatest: ciphertext too short")
	}
	pt, err := s.aead.Open(nil, ciphertext[:n], ciphertext[n:], []byte(rowID))
	if err != nil {
		return nil, errors.New("mfatest: message authentication failed")
	}
	return pt, nil
}

// Recorder is an in-memory mfa.Recorder that keeps what it is given.
type Recorder struct {
	mu      sync.Mutex
	Entries []Entry
	// Fail, when set, is returned by Record.
	Fail error
}

// Entry is one recorded audit entry.
type Entry struct {
	Org, Actor, Action, Target string
	Payload                    map[string]any
}

// Record implements mfa.Recorder.
func (r *Recorder) Record(_ context.Context, org, actor, action, target string, payload map[string]any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Fail != nil {
		return r.Fail
	}
	r.Entries = append(r.Entries, Entry{org, actor, action, target, payload})
	return nil
}

// Actions lists the recorded actions in order.
func (r *Recorder) Actions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.Entries))
	for i, e := range r.Entries {
		out[i] = e.Action
	}
	return out
}

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func enrollment(org, user, id string) mfa.Enrollment {
	return mfa.Enrollment{Org: org, User: user, ID: id, SealedSecret: []byte("sealed-" + id),
		Algorithm: mfa.SHA1, Digits: 6, LastStep: -1, CreatedAt: t0}
}

func hashes(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s-%02d-hash-of-a-recovery-code", prefix, i)
	}
	return out
}

// confirmed stores a confirmed enrolment at step 100 with 10 code hashes.
func confirmed(t *testing.T, s mfa.Store, org, user string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.BeginEnrollment(ctx, enrollment(org, user, "e1")))
	require.NoError(t, s.ConfirmEnrollment(ctx, org, user, "e1", 100, t0, hashes(user, 10)))
}

// race runs f in n goroutines started together and counts true results.
func race(t *testing.T, n int, f func() (bool, error)) int {
	t.Helper()
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := f()
			if err != nil {
				errs <- err
				return
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	return int(wins.Load())
}

// Option configures TestStore.
type Option func(*suite)

type suite struct {
	concurrent func(t *testing.T) mfa.Store
}

// WithConcurrentStore gives the subtests that race goroutines on one store
// (ReplayGuardRace, AttemptsRace, RecoveryCodeRace) their own factory; by default they use
// newStore. A suite run with stores bound to a caller's transaction passes a
// pool-bound factory here: a transaction is one connection that runs one
// statement at a time, so the races these subtests stage need two or more
// sessions, as two application instances have.
func WithConcurrentStore(newStore func(t *testing.T) mfa.Store) Option {
	return func(s *suite) { s.concurrent = newStore }
}

// TestStore checks that a Store keeps every promise mfa relies on, above all
// the atomicity of the replay guard, the attempt reservation and recovery
// code use. newStore must return an empty store each call.
func TestStore(t *testing.T, newStore func(t *testing.T) mfa.Store, opts ...Option) {
	ctx := context.Background()
	cfg := suite{concurrent: newStore}
	for _, o := range opts {
		o(&cfg)
	}

	t.Run("Enrolment", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.Enrollment(ctx, "o1", "u1")
		require.ErrorIs(t, err, mfa.ErrNotEnrolled)

		require.NoError(t, s.BeginEnrollment(ctx, enrollment("o1", "u1", "a")))
		require.NoError(t, s.BeginEnrollment(ctx, enrollment("o1", "u1", "b")), "a pending enrolment is replaced")
		e, err := s.Enrollment(ctx, "o1", "u1")
		require.NoError(t, err)
		require.Equal(t, "b", e.ID)
		require.False(t, e.Confirmed)
		require.Equal(t, int64(-1), e.LastStep)
		require.Equal(t, []byte("sealed-b"), e.SealedSecret)
		require.Equal(t, mfa.SHA1, e.Algorithm)
		require.Equal(t, 6, e.Digits)

		require.ErrorIs(t, s.ConfirmEnrollment(ctx, "o1", "u1", "a", 5, t0, nil), mfa.ErrNotPending, "a replaced enrolment cannot be confirmed")
		ok, err := s.AdvanceStep(ctx, "o1", "u1", "b", 5)
		require.NoError(t, err)
		require.False(t, ok, "a pending enrolment has no replay guard to advance")

		require.NoError(t, s.ConfirmEnrollment(ctx, "o1", "u1", "b", 5, t0.Add(time.Minute), hashes("x", 3)))
		require.ErrorIs(t, s.ConfirmEnrollment(ctx, "o1", "u1", "b", 6, t0, nil), mfa.ErrNotPending)
		e, err = s.Enrollment(ctx, "o1", "u1")
		require.NoError(t, err)
		require.True(t, e.Confirmed)
		require.Equal(t, int64(5), e.LastStep)
		require.True(t, e.ConfirmedAt.Equal(t0.Add(time.Minute)))
		require.ErrorIs(t, s.BeginEnrollment(ctx, enrollment("o1", "u1", "c")), mfa.ErrAlreadyEnrolled)

		_, err = s.Enrollment(ctx, "o2", "u1")
		require.ErrorIs(t, err, mfa.ErrNotEnrolled, "tenants are separate")

		require.NoError(t, s.DeleteEnrollment(ctx, "o1", "u1"))
		require.NoError(t, s.DeleteEnrollment(ctx, "o1", "u1"))
		_, err = s.Enrollment(ctx, "o1", "u1")
		require.ErrorIs(t, err, mfa.ErrNotEnrolled)
		n, err := s.RecoveryCodesLeft(ctx, "o1", "u1")
		require.NoError(t, err)
		require.Zero(t, n, "reset removes recovery codes")
		require.NoError(t, s.BeginEnrollment(ctx, enrollment("o1", "u1", "d")), "enrol again after a reset")
	})

	t.Run("ReplayGuard", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		confirmed(t, s, "o1", "u1")
		for _, tc := range []struct {
			step int64
			want bool
		}{{100, false}, {99, false}, {101, true}, {101, false}, {100, false}, {105, true}, {103, false}, {106, true}} {
			ok, err := s.AdvanceStep(ctx, "o1", "u1", "e1", tc.step)
			require.NoError(t, err)
			require.Equal(t, tc.want, ok, "step %d", tc.step)
		}
		e, err := s.Enrollment(ctx, "o1", "u1")
		require.NoError(t, err)
		require.Equal(t, int64(106), e.LastStep)
		ok, err := s.AdvanceStep(ctx, "o1", "nobody", "e1", 1000)
		require.NoError(t, err)
		require.False(t, ok)
		ok, err = s.AdvanceStep(ctx, "o1", "u1", "replaced-enrolment", 1000)
		require.NoError(t, err)
		require.False(t, ok, "a step checked against another enrolment's secret is refused")
		ok, err = s.AdvanceStep(ctx, "o2", "u1", "e1", 1000)
		require.NoError(t, err)
		require.False(t, ok, "tenants are separate")
	})

	t.Run("ReplayGuardRace", func(t *testing.T) {
		t.Parallel()
		s := cfg.concurrent(t)
		confirmed(t, s, "o1", "u1")
		for step := int64(200); step < 203; step++ {
			wins := race(t, 8, func() (bool, error) { return s.AdvanceStep(ctx, "o1", "u1", "e1", step) })
			require.Equal(t, 1, wins, "exactly one concurrent use of step %d wins", step)
		}
	})

	t.Run("Attempts", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := 15 * time.Minute
		for i := range 5 {
			_, ok, err := s.ReserveAttempt(ctx, "o1", "u1", t0.Add(time.Duration(i)*time.Minute), w, 5)
			require.NoError(t, err)
			require.True(t, ok, "attempt %d", i+1)
		}
		retryAt, ok, err := s.ReserveAttempt(ctx, "o1", "u1", t0.Add(5*time.Minute), w, 5)
		require.NoError(t, err)
		require.False(t, ok)
		require.True(t, retryAt.Equal(t0.Add(w)), "retry when the oldest attempt leaves the window, got %v", retryAt)
		_, ok, err = s.ReserveAttempt(ctx, "o2", "u1", t0.Add(5*time.Minute), w, 5)
		require.NoError(t, err)
		require.True(t, ok, "another tenant's user is not locked")
		_, ok, err = s.ReserveAttempt(ctx, "o1", "u1", t0.Add(w+time.Second), w, 5)
		require.NoError(t, err)
		require.True(t, ok, "the window slides")
		_, ok, err = s.ReserveAttempt(ctx, "o1", "u1", t0.Add(w+2*time.Second), w, 5)
		require.NoError(t, err)
		require.False(t, ok)
		require.NoError(t, s.ClearAttempts(ctx, "o1", "u1"))
		_, ok, err = s.ReserveAttempt(ctx, "o1", "u1", t0.Add(w+3*time.Second), w, 5)
		require.NoError(t, err)
		require.True(t, ok, "cleared after a success")
	})

	t.Run("AttemptsRace", func(t *testing.T) {
		t.Parallel()
		s := cfg.concurrent(t)
		wins := race(t, 12, func() (bool, error) {
			_, ok, err := s.ReserveAttempt(ctx, "o1", "u1", t0, 15*time.Minute, 5)
			return ok, err
		})
		require.Equal(t, 5, wins, "concurrent guesses never exceed the limit")
	})

	t.Run("RecoveryCodes", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.ErrorIs(t, s.ReplaceRecoveryCodes(ctx, "o1", "u1", hashes("a", 2)), mfa.ErrNotEnrolled)
		confirmed(t, s, "o1", "u1")
		n, err := s.RecoveryCodesLeft(ctx, "o1", "u1")
		require.NoError(t, err)
		require.Equal(t, 10, n)
		h := hashes("u1", 10)
		ok, err := s.UseRecoveryCode(ctx, "o1", "u1", h[3])
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = s.UseRecoveryCode(ctx, "o1", "u1", h[3])
		require.NoError(t, err)
		require.False(t, ok, "a recovery code is single-use")
		ok, err = s.UseRecoveryCode(ctx, "o2", "u1", h[4])
		require.NoError(t, err)
		require.False(t, ok, "codes belong to their tenant")
		n, err = s.RecoveryCodesLeft(ctx, "o1", "u1")
		require.NoError(t, err)
		require.Equal(t, 9, n)

		require.NoError(t, s.ReplaceRecoveryCodes(ctx, "o1", "u1", hashes("new", 10)))
		ok, err = s.UseRecoveryCode(ctx, "o1", "u1", h[0])
		require.NoError(t, err)
		require.False(t, ok, "regenerating invalidates the old codes")
		n, err = s.RecoveryCodesLeft(ctx, "o1", "u1")
		require.NoError(t, err)
		require.Equal(t, 10, n)
	})

	t.Run("RecoveryCodeRace", func(t *testing.T) {
		t.Parallel()
		s := cfg.concurrent(t)
		confirmed(t, s, "o1", "u1")
		h := hashes("u1", 10)
		for i := range 3 {
			wins := race(t, 8, func() (bool, error) { return s.UseRecoveryCode(ctx, "o1", "u1", h[i]) })
			require.Equal(t, 1, wins, "a code raced by concurrent requests is used once")
		}
		n, err := s.RecoveryCodesLeft(ctx, "o1", "u1")
		require.NoError(t, err)
		require.Equal(t, 7, n)
	})

	t.Run("OrgPolicy", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		req, err := s.OrgPolicy(ctx, "o1")
		require.NoError(t, err)
		require.False(t, req)
		require.NoError(t, s.SetOrgPolicy(ctx, "o1", true))
		require.NoError(t, s.SetOrgPolicy(ctx, "o1", true))
		req, err = s.OrgPolicy(ctx, "o1")
		require.NoError(t, err)
		require.True(t, req)
		req, err = s.OrgPolicy(ctx, "o2")
		require.NoError(t, err)
		require.False(t, req)
		require.NoError(t, s.SetOrgPolicy(ctx, "o1", false))
		req, err = s.OrgPolicy(ctx, "o1")
		require.NoError(t, err)
		require.False(t, req)
	})
}

// SecretOf returns the raw TOTP secret of an enrolment's Setup, so a test can
// play the authenticator app.
func SecretOf(t testing.TB, s *mfa.Setup) []byte {
	t.Helper()
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s.Secret())
	require.NoError(t, err)
	return raw
}
