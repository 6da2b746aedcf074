package pgstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/pgstore"
	"github.com/stretchr/testify/require"
)

// TestRecordKeyCheckValues: the first load records each key ID's check
// value; a later registry with another key under a recorded ID (or the ID
// under another scope) is refused, naming the key and scope, and the
// guardrail reports it even with no data under the key yet.
func TestRecordKeyCheckValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := migrated(t)
	store := pgstore.New(pool)
	d := testDoc(t)

	// Every instance at once: all agree, one row per key.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = store.RecordKeyCheckValues(ctx, d) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	rec, err := pgstore.KeyCheckValues(ctx, store)
	require.NoError(t, err)
	require.Len(t, rec, len(d.Keys))
	for _, k := range d.Keys {
		require.Equal(t, pgstore.RecordedKCV{Scope: k.Scope, KCV: k.CheckValue()}, rec[k.ID])
	}
	// A rotation adds the new key's value.
	newID, err := d.Rotate("users.email")
	require.NoError(t, err)
	require.NoError(t, store.RecordKeyCheckValues(ctx, d))
	rec, err = pgstore.KeyCheckValues(ctx, store)
	require.NoError(t, err)
	require.Len(t, rec, len(d.Keys))

	subj := keyring.Column{Table: keyring.SubjectKeyTable, Column: keyring.SubjectKeyColumn, Scope: "subjects"}
	opts := keyring.CheckOptions{Counter: newCounter(t, pool), Columns: []keyring.Column{subj}}
	_, err = pool.Exec(ctx, `CREATE TABLE users (id bigint PRIMARY KEY, email bytea, phone bytea); CREATE TABLE docs (id uuid PRIMARY KEY, body text)`)
	require.NoError(t, err)
	rep, err := keyring.Check(ctx, d, opts)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep.Findings)

	// Another key under the new primary's ID.
	other := *d
	other.Keys = append([]keyring.KeyEntry(nil), d.Keys...)
	other.Keys[len(other.Keys)-1].Key = keyring.GenerateSecret()
	err = store.RecordKeyCheckValues(ctx, &other)
	require.ErrorIs(t, err, keyring.ErrKeyCheckValue)
	var se *keyring.ScopeError
	require.ErrorAs(t, err, &se)
	require.Equal(t, newID, se.KeyID)
	require.Equal(t, "users.email", se.Scope)
	require.ErrorContains(t, err, "not the key that sealed the data")
	rep, err = keyring.Check(ctx, &other, opts)
	require.NoError(t, err)
	require.False(t, rep.OK)
	require.Equal(t, keyring.FindingKCVMismatch, rep.Findings[0].Kind)
	require.Equal(t, newID, rep.Findings[0].KeyID)

	// A whole registry regenerated with the same IDs: every key refused.
	fresh := testDoc(t)
	require.ErrorIs(t, store.RecordKeyCheckValues(ctx, fresh), keyring.ErrKeyCheckValue)
	rep, err = keyring.Check(ctx, fresh, opts)
	require.NoError(t, err)
	require.Len(t, rep.Findings, len(fresh.Keys), "%+v", rep.Findings)

	// An ID recorded for another scope.
	moved := *d
	moved.Keys = append([]keyring.KeyEntry(nil), d.Keys...)
	moved.Keys[0].Scope, moved.Keys[1].Scope = moved.Keys[1].Scope, moved.Keys[0].Scope
	require.ErrorIs(t, store.RecordKeyCheckValues(ctx, &moved), keyring.ErrKeyCheckValue)
}
