package nec1099_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance/nec1099"
)

// recorded is one call of a Recorder.
type recorded struct {
	org, actor, action, target string
	payload                    map[string]any
}

// fakeRecorder records every call, and fails each one with err when err is
// set (the audit log is down).
type fakeRecorder struct {
	mu    sync.Mutex
	calls []recorded
	err   error
}

func (r *fakeRecorder) Record(_ context.Context, org, actor, action, target string, payload map[string]any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, recorded{org, actor, action, target, payload})
	return r.err
}

func (r *fakeRecorder) setErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

func (r *fakeRecorder) recorded() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.calls...)
}

// TestGenerateAndReissueAreAudited: tax IDs are decrypted for every
// generation and reissue, so each records ActionFilingsGenerated with the
// payload WithRecorder documents, and no tax ID reaches the audit log.
func TestGenerateAndReissueAreAudited(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	l := &ledger{
		paid:   []nec1099.Payment{pay("1", "a", 700_00, at), pay("2", "b", 900_00, at), pay("3", "c", 10_00, at)},
		payees: map[string]nec1099.Payee{"a": payee("a", "111-11-1111"), "b": payee("b", ""), "c": payee("c", "333-33-3333")},
	}
	rec := &fakeRecorder{}
	store := nec1099.NewMemoryStore()
	f := l.filer(t, store, &fakeField{}, at, nec1099.WithRecorder(rec))

	var out bytes.Buffer
	res, err := f.Generate(ctx, "org1", 2025, &out)
	require.NoError(t, err)
	require.Len(t, res.Records, 2)
	require.Equal(t, []recorded{{
		org: "org1", actor: "system:compliance/filer", action: nec1099.ActionFilingsGenerated,
		target: "generation:" + res.Generation.ID,
		payload: map[string]any{"tax_year": 2025, "records": 2, "corrections": 0, "missing_tax_ids": 1,
			"threshold_cents": int64(600_00)},
	}}, rec.recorded())

	// a's payment is reversed after filing: the correction run is recorded
	// with its own counts.
	// (A later clock: a generation's ID derives from its instant.)
	l.paid[0].Reversed = true
	res2, err := l.filer(t, store, &fakeField{}, at.Add(time.Hour), nec1099.WithRecorder(rec)).Generate(ctx, "org1", 2025, &bytes.Buffer{})
	require.NoError(t, err)
	require.Len(t, res2.Records, 1)
	calls := rec.recorded()
	require.Len(t, calls, 2)
	require.Equal(t, "generation:"+res2.Generation.ID, calls[1].target)
	require.Equal(t, map[string]any{"tax_year": 2025, "records": 1, "corrections": 1, "missing_tax_ids": 0,
		"threshold_cents": int64(600_00)}, calls[1].payload)

	var again bytes.Buffer
	require.NoError(t, f.Reissue(ctx, "org1", 2025, res.Generation.ID, &again))
	require.Equal(t, out.String(), again.String())
	calls = rec.recorded()
	require.Len(t, calls, 3)
	require.Equal(t, recorded{
		org: "org1", actor: "system:compliance/filer", action: nec1099.ActionFilingsGenerated,
		target:  "generation:" + res.Generation.ID,
		payload: map[string]any{"tax_year": 2025, "records": 2, "reissue": true},
	}, calls[2])

	// A reissue of an unknown generation opens no tax ID and records nothing.
	require.ErrorIs(t, f.Reissue(ctx, "org1", 2025, "no-such-generation", &bytes.Buffer{}), nec1099.ErrNotFound)
	require.Len(t, rec.recorded(), 3)
	require.NotContains(t, fmt.Sprintf("%#v", rec.recorded()), "111-11-1111")
	require.Contains(t, nec1099.AuditActions(), nec1099.ActionFilingsGenerated)
}

// TestFailingRecorderWithholdsTheCSV: when the audit log refuses the entry,
// the generation is already stored (so a re-run does not file it twice),
// but its CSV, with the decrypted tax IDs, is not written: Generate returns
// an error that wraps the recorder's and points at Reissue, which writes
// the CSV once the audit log is back.
func TestFailingRecorderWithholdsTheCSV(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	l := &ledger{
		paid:   []nec1099.Payment{pay("1", "a", 700_00, at)},
		payees: map[string]nec1099.Payee{"a": payee("a", "111-11-1111")},
	}
	down := errors.New("audit log unavailable")
	rec := &fakeRecorder{err: down}
	store := nec1099.NewMemoryStore()
	f := l.filer(t, store, &fakeField{}, at, nec1099.WithRecorder(rec))

	var out bytes.Buffer
	res, genErr := f.Generate(ctx, "org1", 2025, &out)
	require.ErrorIs(t, genErr, down)
	require.ErrorContains(t, genErr, "Reissue")
	require.Nil(t, res)
	require.Empty(t, out.Bytes(), "no CSV, no tax ID, without an audit entry")
	require.Len(t, rec.recorded(), 1)
	gens, err := store.Generations(ctx, "org1", 2025)
	require.NoError(t, err)
	require.Len(t, gens, 1, "stored before it is recorded")
	require.ErrorContains(t, genErr, gens[0].ID, "the error names the stored generation")
	hist, err := store.FilingHistory(ctx, "org1", 2025)
	require.NoError(t, err)
	require.Len(t, hist, 1)

	// Reissue with the audit log still down writes nothing either.
	err = f.Reissue(ctx, "org1", 2025, gens[0].ID, &out)
	require.ErrorIs(t, err, down)
	require.Empty(t, out.Bytes())

	rec.setErr(nil)
	require.NoError(t, f.Reissue(ctx, "org1", 2025, gens[0].ID, &out))
	rows := readCSV(t, out.Bytes())
	require.Len(t, rows, 1)
	require.Equal(t, hist[0].ID, rows[0]["record_id"])
	require.Equal(t, "111-11-1111", rows[0]["payee_tin"])
	last := rec.recorded()[len(rec.recorded())-1]
	require.Equal(t, "generation:"+gens[0].ID, last.target)
	require.Equal(t, true, last.payload["reissue"])
}
