package auditlog_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var testActions = []auditlog.ActionType{
	{Name: "user.login", Category: auditlog.CategoryUser, Description: "a user signed in", SchemaVersion: 1},
	{Name: "role.changed", Category: auditlog.CategoryAdmin, Description: "a role changed", SchemaVersion: 2},
}

func fixedClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

func newLog(t *testing.T, opts ...auditlog.Option) (*auditlog.Log, memStore) {
	t.Helper()
	s := newMemStore()
	l, err := auditlog.New(s, append([]auditlog.Option{auditlog.WithClock(fixedClock())}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, l.Register(testActions...))
	return l, s
}

func TestRecordAndVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, s := newLog(t)
	for i := range 10 {
		require.NoError(t, l.Record(ctx, "acme", fmt.Sprintf("user:u%d", i), "user.login", "session:s1", map[string]any{"i": i}))
	}
	require.NoError(t, l.Record(ctx, "", "system:cron/sweeper", "role.changed", "", nil))
	res, err := auditlog.Verify(ctx, s, auditlog.ChainFor("acme"), auditlog.VerifyOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 10, res.Size)
	res, err = auditlog.Verify(ctx, s, auditlog.GlobalChain, auditlog.VerifyOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Size)
	chains, err := s.Chains(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"global", "org:acme"}, chains)
}

// TestNewValidatesOptions: New refuses every option outside its documented
// range with ErrInvalidConfig, naming the option, and accepts the edges.
func TestNewValidatesOptions(t *testing.T) {
	t.Parallel()
	signer, _ := auditlogtest.NewSigner(t, "options.test")
	sink := auditlog.NewWriterSink(io.Discard)
	for _, tc := range []struct {
		opt  auditlog.Option
		name string // in the error; "" means accepted
	}{
		{auditlog.WithClock(nil), "WithClock"},
		{nil, "nil Option"},
		{auditlog.WithMaxBatch(0), "WithMaxBatch"},
		{auditlog.WithMaxBatch(-1), "WithMaxBatch"},
		{auditlog.WithMaxBatch(10001), "WithMaxBatch"},
		{auditlog.WithMaxBatch(1), ""},
		{auditlog.WithMaxBatch(10000), ""},
		{auditlog.WithCommitTimeout(0), "WithCommitTimeout"},
		{auditlog.WithCommitTimeout(-time.Second), "WithCommitTimeout"},
		{auditlog.WithCommitTimeout(99 * time.Millisecond), "WithCommitTimeout"},
		{auditlog.WithCommitTimeout(11 * time.Minute), "WithCommitTimeout"},
		{auditlog.WithCommitTimeout(100 * time.Millisecond), ""},
		{auditlog.WithCommitTimeout(10 * time.Minute), ""},
		{auditlog.WithLogger(nil), "WithLogger"},
		{auditlog.WithCheckpoints(nil, sink, 1, 0), "WithCheckpoints"},
		{auditlog.WithCheckpoints(signer, nil, 1, 0), "WithCheckpoints"},
		{auditlog.WithCheckpoints(signer, nil, 0, time.Minute), "WithCheckpoints"},
		{auditlog.WithCheckpoints(signer, sink, 1_000_001, 0), "WithCheckpoints"},
		{auditlog.WithCheckpoints(signer, sink, 0, -time.Second), "WithCheckpoints"},
		{auditlog.WithCheckpoints(signer, sink, 0, time.Millisecond), "WithCheckpoints"},
		{auditlog.WithCheckpoints(signer, sink, 0, 25*time.Hour), "WithCheckpoints"},
		{auditlog.WithCheckpoints(signer, nil, 0, 0), ""},
		{auditlog.WithCheckpoints(signer, sink, 1, time.Second), ""},
		{auditlog.WithCheckpoints(signer, sink, 1_000_000, 24*time.Hour), ""},
	} {
		l, err := auditlog.New(auditlog.NewMemoryStore(), tc.opt)
		if tc.name == "" {
			require.NoError(t, err)
			require.NotNil(t, l)
			continue
		}
		require.ErrorIs(t, err, auditlog.ErrInvalidConfig, tc.name)
		require.ErrorContains(t, err, tc.name)
		require.Nil(t, l)
	}
	_, err := auditlog.New(nil)
	require.ErrorIs(t, err, auditlog.ErrInvalidConfig)
}

func TestAppendRejects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := newLog(t)
	for _, tc := range []struct {
		name string
		e    auditlog.Entry
		err  error
	}{
		{"unregistered action", auditlog.Entry{Actor: "user:1", Action: "nope"}, auditlog.ErrUnknownAction},
		{"bad actor kind", auditlog.Entry{Actor: "robot:1", Action: "user.login"}, auditlog.ErrBadActor},
		{"empty actor", auditlog.Entry{Actor: "", Action: "user.login"}, auditlog.ErrBadActor},
		{"bad target", auditlog.Entry{Actor: "user:1", Action: "user.login", Target: "nocolon"}, auditlog.ErrBadTarget},
		{"array payload", auditlog.Entry{Actor: "user:1", Action: "user.login", Payload: []byte(`[1]`)}, auditlog.ErrBadPayload},
		{"duplicate key", auditlog.Entry{Actor: "user:1", Action: "user.login", Payload: []byte(`{"a":1,"a":2}`)}, auditlog.ErrBadPayload},
		{"bad org", auditlog.Entry{Org: "a b", Actor: "user:1", Action: "user.login"}, auditlog.ErrBadEntry},
		{"wrong chain", auditlog.Entry{Chain: "global", Org: "acme", Actor: "user:1", Action: "user.login"}, auditlog.ErrBadEntry},
	} {
		_, err := l.Append(ctx, tc.e)
		require.ErrorIs(t, err, tc.err, tc.name)
	}
	require.ErrorIs(t, l.Register(auditlog.ActionType{Name: "user.login", Category: auditlog.CategoryCron}), auditlog.ErrDuplicateAction)
	require.NoError(t, l.Register(testActions[0]))
}

func TestConcurrentAppendGroupCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, s := newLog(t, auditlog.WithMaxBatch(16))
	const n = 400
	seqs := make(chan uint64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := l.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:x", Action: "user.login", Payload: []byte(fmt.Sprintf(`{"i":%d}`, i))})
			require.NoError(t, err)
			seqs <- r.Seq
		})
	}
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for s := range seqs {
		require.False(t, seen[s])
		seen[s] = true
	}
	require.Len(t, seen, n)
	res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)
	require.EqualValues(t, n, res.Size)
}

func TestAppendCanceledBeforeHandOver(t *testing.T) {
	t.Parallel()
	l, _ := newLog(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Append(ctx, auditlog.Entry{Actor: "user:1", Action: "user.login"})
	// Either it was handed over (and written) or it was withdrawn.
	if err != nil {
		require.ErrorIs(t, err, context.Canceled)
	}
}

// failingStore fails AppendBatch after (or before) committing, to check
// that callers learn the true outcome.
type failingStore struct {
	memStore
	commitThenFail bool
}

func (f *failingStore) AppendBatch(ctx context.Context, chain string, seal auditlog.SealFunc) error {
	if f.commitThenFail {
		if err := f.memStore.AppendBatch(ctx, chain, seal); err != nil {
			return err
		}
		return errors.New("connection lost during commit")
	}
	return f.memStore.AppendBatch(ctx, chain, func(h auditlog.Head, tree tlog.HashReader) (*auditlog.Batch, error) {
		if _, err := seal(h, tree); err != nil {
			return nil, err
		}
		return nil, errors.New("connection lost before commit")
	})
}

func TestAppendOutcomeIsExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, commit := range []bool{true, false} {
		fs := &failingStore{memStore: newMemStore(), commitThenFail: commit}
		l, err := auditlog.New(fs)
		require.NoError(t, err)
		require.NoError(t, l.Register(testActions...))
		r, err := l.Append(ctx, auditlog.Entry{Actor: "user:1", Action: "user.login"})
		h, herr := fs.Head(ctx, auditlog.GlobalChain)
		require.NoError(t, herr)
		if commit {
			require.NoError(t, err, "the batch committed: the caller must learn it")
			require.EqualValues(t, 0, r.Seq)
			require.EqualValues(t, 1, h.Size)
		} else {
			require.Error(t, err)
			require.EqualValues(t, 0, h.Size)
		}
	}
}

func TestCheckpointsDetectTruncationAndRewrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	signer, verifier := auditlogtest.NewSigner(t, "audit.example")
	var sink memSink
	l, s := newLog(t, auditlog.WithCheckpoints(signer, &sink, 5, 0), auditlog.WithMaxBatch(1))
	for i := range 12 {
		require.NoError(t, l.Record(ctx, "acme", "user:1", "user.login", "", map[string]any{"i": i}))
	}
	cps, err := auditlog.ReadCheckpoints(sink.bytes(), note.VerifierList(verifier))
	require.NoError(t, err)
	require.Len(t, cps, 2)
	require.EqualValues(t, 10, cps[1].Size)

	var entries []auditlog.Entry
	require.NoError(t, s.Scan(ctx, "org:acme", 0, func(e *auditlog.Entry) error { entries = append(entries, *e); return nil }))
	_, err = auditlog.VerifyEntries("org:acme", entries, cps...)
	require.NoError(t, err)

	// The newest rows deleted: only the checkpoint shows it.
	_, err = auditlog.VerifyEntries("org:acme", entries[:8], cps...)
	var ve *auditlog.VerifyError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, auditlog.ReasonTruncated, ve.Reason)
	require.EqualValues(t, 8, ve.Seq)

	// The whole chain recomputed after editing entry 3.
	forged := append([]auditlog.Entry(nil), entries...)
	forged[3].Actor = "user:someone-else"
	for i := 3; i < len(forged); i++ {
		if i > 0 {
			forged[i].PrevHash = forged[i-1].Hash
		}
		forged[i].Hash = auditlog.EntryHash(&forged[i])
	}
	_, err = auditlog.VerifyEntries("org:acme", forged)
	require.NoError(t, err, "without checkpoints a recomputed chain is self-consistent")
	_, err = auditlog.VerifyEntries("org:acme", forged, cps...)
	require.ErrorAs(t, err, &ve)
	require.Equal(t, auditlog.ReasonCheckpointMismatch, ve.Reason)
	require.EqualValues(t, 4, ve.Seq)
}

type memSink struct {
	mu  sync.Mutex
	buf []byte
}

func (m *memSink) SaveCheckpoint(_ context.Context, _ string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buf = append(m.buf, msg...)
	return nil
}

func (m *memSink) bytes() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.buf...)
}
