// Package keyringtest is the conformance suite of keyring's storage
// interfaces, like testing/fstest for file systems. keyring's memory store
// and keyring/pgstore both pass it; run it against your own adapter too.
package keyringtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/stretchr/testify/require"
)

func uniq(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%x", prefix, b)
}

// Option configures TestSubjectKeyStore.
type Option func(*suite)

type suite struct {
	concurrent func(t *testing.T) keyring.SubjectKeyStore
}

// WithConcurrentStore gives the subtest that races goroutines on one store
// (ConcurrentCreate) its own factory; by default it uses newStore. A suite
// run with stores bound to a caller's transaction passes a pool-bound
// factory here: a transaction is one connection that runs one statement at
// a time, so the race needs two or more sessions, as two application
// instances have.
func WithConcurrentStore(newStore func(t *testing.T) keyring.SubjectKeyStore) Option {
	return func(s *suite) { s.concurrent = newStore }
}

// TestSubjectKeyStore checks a SubjectKeyStore: Create is first-writer-wins
// even under concurrency, Get distinguishes unknown from destroyed, and
// Destroy is final and idempotent. newStore returns an empty (or at least
// isolated) store for each call.
func TestSubjectKeyStore(t *testing.T, newStore func(t *testing.T) keyring.SubjectKeyStore, opts ...Option) {
	ctx := context.Background()
	cfg := suite{concurrent: newStore}
	for _, o := range opts {
		o(&cfg)
	}
	t.Run("CreateGet", func(t *testing.T) {
		s := newStore(t)
		id := uniq("s")
		_, err := s.Get(ctx, id)
		require.ErrorIs(t, err, keyring.ErrSubjectNotFound)
		got, err := s.Create(ctx, id, []byte("first"))
		require.NoError(t, err)
		require.Equal(t, "first", string(got))
		got, err = s.Create(ctx, id, []byte("second"))
		require.NoError(t, err)
		require.Equal(t, "first", string(got), "the first writer wins")
		got, err = s.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, "first", string(got))
	})
	t.Run("ConcurrentCreate", func(t *testing.T) {
		s := cfg.concurrent(t)
		id := uniq("c")
		var wg sync.WaitGroup
		results := make([]string, 8)
		errs := make([]error, 8)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := s.Create(ctx, id, fmt.Appendf(nil, "key-%d", i))
				results[i], errs[i] = string(b), err
			}()
		}
		wg.Wait()
		for i := range results {
			require.NoError(t, errs[i])
			require.Equal(t, results[0], results[i], "every caller gets the one stored key")
		}
	})
	t.Run("Destroy", func(t *testing.T) {
		s := newStore(t)
		id := uniq("d")
		_, err := s.Create(ctx, id, []byte("k"))
		require.NoError(t, err)
		require.NoError(t, s.Destroy(ctx, id))
		_, err = s.Get(ctx, id)
		require.ErrorIs(t, err, keyring.ErrKeyDestroyed)
		_, err = s.Create(ctx, id, []byte("again"))
		require.ErrorIs(t, err, keyring.ErrKeyDestroyed, "a destroyed subject never gets a new key")
		require.NoError(t, s.Destroy(ctx, id), "idempotent")
		unknown := uniq("u")
		require.NoError(t, s.Destroy(ctx, unknown))
		_, err = s.Get(ctx, unknown)
		require.ErrorIs(t, err, keyring.ErrKeyDestroyed)
	})
	t.Run("Isolation", func(t *testing.T) {
		s := newStore(t)
		a, b := uniq("a"), uniq("b")
		_, err := s.Create(ctx, a, []byte("ka"))
		require.NoError(t, err)
		_, err = s.Create(ctx, b, []byte("kb"))
		require.NoError(t, err)
		require.NoError(t, s.Destroy(ctx, a))
		got, err := s.Get(ctx, b)
		require.NoError(t, err)
		require.Equal(t, "kb", string(got))
	})
}

// TestSubjectKeys checks crypto-shredding end to end on a ring whose scope
// wraps the data keys: sealed data opens until Destroy, and never after,
// including a copy of the ciphertext taken before (a backup).
func TestSubjectKeys(t *testing.T, ring *keyring.Ring, scope string, store keyring.SubjectKeyStore) {
	ctx := context.Background()
	sk, err := ring.SubjectKeys(scope, store)
	require.NoError(t, err)
	alice, bob := uniq("alice"), uniq("bob")
	ct, err := sk.Seal(ctx, alice, "users.email:1", []byte("alice@example.com"))
	require.NoError(t, err)
	backup := append([]byte(nil), ct...)
	ctBob, err := sk.Seal(ctx, bob, "users.email:2", []byte("bob@example.com"))
	require.NoError(t, err)

	pt, err := sk.Open(ctx, alice, "users.email:1", ct)
	require.NoError(t, err)
	require.Equal(t, "alice@example.com", string(pt))
	_, err = sk.Open(ctx, alice, "users.email:2", ct)
	require.ErrorIs(t, err, keyring.ErrDecrypt, "label binds the ciphertext")
	_, err = sk.Open(ctx, bob, "users.email:1", ct)
	require.Error(t, err, "another subject's key does not open it")

	require.NoError(t, sk.Destroy(ctx, alice))
	_, err = sk.Open(ctx, alice, "users.email:1", ct)
	require.ErrorIs(t, err, keyring.ErrKeyDestroyed)
	_, err = sk.Open(ctx, alice, "users.email:1", backup)
	require.ErrorIs(t, err, keyring.ErrKeyDestroyed)
	_, err = sk.Seal(ctx, alice, "users.email:1", []byte("again"))
	require.ErrorIs(t, err, keyring.ErrKeyDestroyed)
	pt, err = sk.Open(ctx, bob, "users.email:2", ctBob)
	require.NoError(t, err, "other subjects are untouched")
	require.Equal(t, "bob@example.com", string(pt))
}

// TestRowSource checks a keyring.RowSource, the table adapter that
// re-encryption drives. newSource must return a source over exactly rows
// (IDs are decimal integers and must be ordered numerically; a nil Value is
// SQL NULL, which the source must skip).
func TestRowSource(t *testing.T, newSource func(t *testing.T, rows []keyring.Row) keyring.RowSource) {
	ctx := context.Background()
	var rows []keyring.Row
	for i := 1; i <= 25; i++ {
		v := fmt.Appendf(nil, "value-%d", i)
		if i%5 == 0 {
			v = nil
		}
		rows = append(rows, keyring.Row{ID: fmt.Sprint(i), Value: v})
	}
	src := newSource(t, rows)

	n, err := src.Remaining(ctx, keyring.Cursor{})
	require.NoError(t, err)
	require.Equal(t, int64(20), n, "NULLs are not counted")
	n, err = src.Remaining(ctx, keyring.After("9"))
	require.NoError(t, err)
	require.Equal(t, int64(12), n, "keyset: IDs after 9, numerically")

	var seen []string
	var after keyring.Cursor
	for {
		batch, err := src.Next(ctx, after, 7)
		require.NoError(t, err)
		require.LessOrEqual(t, len(batch), 7)
		if len(batch) == 0 {
			break
		}
		for _, r := range batch {
			require.NotNil(t, r.Value)
			require.Equal(t, "value-"+r.ID, string(r.Value))
			seen = append(seen, r.ID)
		}
		after = keyring.After(batch[len(batch)-1].ID)
	}
	require.Equal(t, []string{"1", "2", "3", "4", "6", "7", "8", "9", "11", "12", "13", "14",
		"16", "17", "18", "19", "21", "22", "23", "24"}, seen, "every non-NULL row once, in numeric ID order")

	applied, err := src.Swap(ctx, []keyring.Swap{
		{ID: "1", Old: []byte("value-1"), New: []byte("new-1")},
		{ID: "2", Old: []byte("stale"), New: []byte("new-2")},
		{ID: "3", Old: []byte("value-3"), New: []byte("new-3")},
	})
	require.NoError(t, err)
	require.Equal(t, int64(2), applied, "compare-and-swap applies only where the value is unchanged")
	batch, err := src.Next(ctx, keyring.Cursor{}, 3)
	require.NoError(t, err)
	require.Equal(t, "new-1", string(batch[0].Value))
	require.Equal(t, "value-2", string(batch[1].Value))
	require.Equal(t, "new-3", string(batch[2].Value))
}

// RequireGuardrail runs keyring.Check and fails t with every finding, one per
// line. Call it from a test of the host so CI fails when a column is declared
// against an unknown scope, a key is shared or, with opts.Counter (for
// example pgstore.Counter(pool)), stored data is under an undeclared or
// retired key.
func RequireGuardrail(t testing.TB, d *keyring.Document, opts keyring.CheckOptions) *keyring.Report {
	t.Helper()
	rep, err := keyring.Check(context.Background(), d, opts)
	require.NoError(t, err)
	for _, f := range rep.Findings {
		t.Errorf("keyring guardrail: %s: %s", f.Kind, f.Message)
	}
	if !rep.OK {
		t.FailNow()
	}
	return rep
}
