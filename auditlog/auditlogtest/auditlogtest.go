// Package auditlogtest is the conformance suite of auditlog.Store, in the
// manner of testing/fstest: a host that writes its own Store runs
// TestStore against it. The memory store and auditlog/pgstore both pass it.
package auditlogtest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rampart-sdk/rampart/auditlog"
)

// Actions are the action types the suite registers.
var Actions = []auditlog.ActionType{
	{Name: "test.created", Category: auditlog.CategoryAdmin, Description: "something was created", SchemaVersion: 1},
	{Name: "test.job", Category: auditlog.CategoryCron, Description: "a job ran", SchemaVersion: 3},
}

// Clock is a deterministic clock advancing one millisecond per call.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the next instant.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// NewLog returns a Log over s with Actions registered and a Clock.
func NewLog(t testing.TB, s auditlog.Store, opts ...auditlog.Option) (*auditlog.Log, *Clock) {
	t.Helper()
	c := NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	l, err := auditlog.New(s, append([]auditlog.Option{auditlog.WithClock(c.Now)}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, l.Register(Actions...))
	return l, c
}

// NewSigner returns a fresh checkpoint signer named name and its verifier.
func NewSigner(t testing.TB, name string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := auditlog.NewSigningKey(name)
	require.NoError(t, err)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	verifier, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	return signer, verifier
}

// Tree holds a chain's stored tree hashes in index order, as a tree reader
// for auditlog.Seal when a test seals batches by hand: Add each sealed
// batch in turn.
type Tree []tlog.Hash

// Add appends the hashes b added to the tree.
func (t *Tree) Add(b *auditlog.Batch) {
	for _, th := range b.Tree {
		*t = append(*t, th.Hash)
	}
}

// ReadHashes implements tlog.HashReader.
func (t *Tree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(*t)) {
			return nil, fmt.Errorf("%w: tree hash %d", auditlog.ErrNotFound, x)
		}
		out[i] = (*t)[x]
	}
	return out, nil
}

// unsealed returns an entry of org acme ready for auditlog.Seal, for the
// tests that seal batches by hand rather than through a Log.
func unsealed(actor string, at time.Time) auditlog.Entry {
	return auditlog.Entry{Org: "acme", Actor: actor, Action: "test.created", Time: at,
		Payload: []byte("{}"), PayloadDigest: auditlog.PayloadDigest([]byte("{}"))}
}

// Entries reads a whole chain into memory (for tests only).
func Entries(t testing.TB, s auditlog.Store, chain string) []auditlog.Entry {
	t.Helper()
	var out []auditlog.Entry
	require.NoError(t, s.Scan(context.Background(), chain, 0, func(e *auditlog.Entry) error {
		c := *e
		c.Payload = append([]byte(nil), e.Payload...)
		if e.Payload == nil {
			c.Payload = nil
		}
		out = append(out, c)
		return nil
	}))
	return out
}

// TestStore runs the conformance suite; newStore must return an empty store.
func TestStore(t *testing.T, newStore func(t *testing.T) auditlog.Store) {
	ctx := context.Background()
	testQueries(t, newStore)
	testVerifyFrom(t, newStore)

	t.Run("BadEntryFailsAlone", func(t *testing.T) {
		t.Parallel()
		testBadEntryFailsAlone(t, newStore(t))
	})

	t.Run("AppendScanVerify", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		l, _ := NewLog(t, s)
		for i := range 20 {
			org := []string{"acme", "globex"}[i%2]
			r, err := l.Append(ctx, auditlog.Entry{Org: org, Actor: fmt.Sprintf("user:u%d", i), Action: "test.created",
				Target: "doc:" + fmt.Sprint(i), Request: auditlog.Request{IP: "192.0.2.1", UserAgent: "ua", RequestID: "r"},
				Payload: []byte(fmt.Sprintf(` { "n" : %d, "a": "ü" } `, i))})
			require.NoError(t, err)
			require.EqualValues(t, i/2, r.Seq)
		}
		require.NoError(t, l.Record(ctx, "", "system:cron/x", "test.job", "", map[string]any{"ok": true}))
		chains, err := s.Chains(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"global", "org:acme", "org:globex"}, chains)
		for _, c := range chains {
			res, err := auditlog.Verify(ctx, s, c, auditlog.VerifyOptions{})
			require.NoError(t, err, c)
			h, err := s.Head(ctx, c)
			require.NoError(t, err)
			require.Equal(t, h.Size, res.Size)
		}
		es := Entries(t, s, "org:acme")
		require.Len(t, es, 10)
		require.Equal(t, `{"a":"ü","n":0}`, string(es[0].Payload))
		require.Equal(t, "org:acme", es[0].Chain)
		require.Equal(t, "acme", es[0].Org)
		require.EqualValues(t, 1, es[0].SchemaVersion)
		require.Equal(t, "192.0.2.1", es[0].Request.IP)
		require.Equal(t, time.UTC, es[0].Time.Location())
		var fromFive []uint64
		require.NoError(t, s.Scan(ctx, "org:acme", 5, func(e *auditlog.Entry) error { fromFive = append(fromFive, e.Seq); return nil }))
		require.Equal(t, []uint64{5, 6, 7, 8, 9}, fromFive)
		h, err := s.Head(ctx, "org:none")
		require.NoError(t, err)
		require.Zero(t, h.Size)
	})

	t.Run("ConcurrentWritersOneChain", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		// Two Logs stand for two application instances sharing the store.
		l1, _ := NewLog(t, s, auditlog.WithMaxBatch(7))
		l2, _ := NewLog(t, s, auditlog.WithMaxBatch(5))
		const per = 60
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[uint64]bool{}
		for w := range 8 {
			l := []*auditlog.Log{l1, l2}[w%2]
			wg.Go(func() {
				for i := range per / 4 {
					r, err := l.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:w", Action: "test.created",
						Payload: []byte(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))})
					require.NoError(t, err)
					mu.Lock()
					require.False(t, seen[r.Seq], "sequence %d handed out twice", r.Seq)
					seen[r.Seq] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
		require.NoError(t, err)
		require.EqualValues(t, len(seen), res.Size)
		require.Len(t, seen, 8*(per/4))
	})

	t.Run("ForkRejected", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		l, clock := NewLog(t, s)
		for range 3 {
			require.NoError(t, l.Record(ctx, "acme", "user:a", "test.created", "", nil))
		}
		e := auditlog.Entry{Org: "acme", Chain: "org:acme", Actor: "user:evil", Action: "test.created", Time: clock.Now(),
			Payload: []byte("{}"), PayloadDigest: auditlog.PayloadDigest([]byte("{}"))}
		forks := map[string]func(h auditlog.Head) auditlog.Entry{
			"reused seq": func(h auditlog.Head) auditlog.Entry { e := e; e.Seq = h.Size - 1; e.PrevHash = h.Hash; return e },
			"wrong prev": func(h auditlog.Head) auditlog.Entry { e := e; e.Seq = h.Size; e.PrevHash[0] = 1; return e },
			"skip seq":   func(h auditlog.Head) auditlog.Entry { e := e; e.Seq = h.Size + 1; e.PrevHash = h.Hash; return e },
		}
		for name, mk := range forks {
			err := s.AppendBatch(ctx, "org:acme", func(h auditlog.Head, tree tlog.HashReader) (*auditlog.Batch, error) {
				bad := mk(h)
				bad.Hash = auditlog.EntryHash(&bad)
				return &auditlog.Batch{Entries: []auditlog.Entry{bad}}, nil
			})
			require.ErrorIs(t, err, auditlog.ErrFork, name)
		}
		h, err := s.Head(ctx, "org:acme")
		require.NoError(t, err)
		require.EqualValues(t, 3, h.Size)
		sentinel := fmt.Errorf("seal refused")
		require.ErrorIs(t, s.AppendBatch(ctx, "org:acme", func(auditlog.Head, tlog.HashReader) (*auditlog.Batch, error) {
			return nil, sentinel
		}), sentinel)
		_, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
		require.NoError(t, err)
	})

	t.Run("SealedAppendRejectsStaleHead", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		sa, ok := s.(auditlog.SealedAppender)
		if !ok {
			t.Skip("store has no SealedAppender fast path")
		}
		l, clock := NewLog(t, s)
		require.NoError(t, l.Record(ctx, "acme", "user:a", "test.created", "", nil))
		head, err := s.Head(ctx, "org:acme")
		require.NoError(t, err)
		stale := auditlog.Head{Chain: "org:acme"} // as if the chain were empty
		e := unsealed("user:b", clock.Now())
		b, _, _, err := auditlog.Seal(stale, tlog.HashReaderFunc(func([]int64) ([]tlog.Hash, error) { return nil, nil }), []auditlog.Entry{e})
		require.NoError(t, err)
		require.ErrorIs(t, sa.AppendSealed(ctx, stale, b), auditlog.ErrFork)
		after, err := s.Head(ctx, "org:acme")
		require.NoError(t, err)
		require.Equal(t, head, after)
		// A concurrent writer's Log moves the head; the first Log falls back.
		other, _ := NewLog(t, s)
		require.NoError(t, other.Record(ctx, "acme", "user:c", "test.created", "", nil))
		require.NoError(t, l.Record(ctx, "acme", "user:a", "test.created", "", nil))
		res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
		require.NoError(t, err)
		require.EqualValues(t, 3, res.Size)
	})

	t.Run("PipelineStoresInOrderAndRefusesStaleHeads", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		pa, ok := s.(auditlog.PipelinedAppender)
		if !ok {
			t.Skip("store does not pipeline")
		}
		_, clock := NewLog(t, s)
		entry := func(actor string) auditlog.Entry { return unsealed(actor, clock.Now()) }
		var tree Tree // what the batches below add
		empty := auditlog.Head{Chain: "org:acme"}
		b1, h1, _, err := auditlog.Seal(empty, &tree, []auditlog.Entry{entry("user:a"), entry("user:b")})
		require.NoError(t, err)
		tree.Add(b1)
		b2, h2, _, err := auditlog.Seal(h1, &tree, []auditlog.Entry{entry("user:c")})
		require.NoError(t, err)
		stale, _, _, err := auditlog.Seal(h1, &tree, []auditlog.Entry{entry("user:d")})
		require.NoError(t, err)

		p, err := pa.OpenPipeline(ctx)
		require.NoError(t, err)
		defer p.Close()
		// Sent back to back, stored in order.
		require.NoError(t, p.Send(empty, b1))
		require.NoError(t, p.Send(h1, b2))
		require.NoError(t, p.Result(ctx))
		require.NoError(t, p.Result(ctx))
		// Sealed on a head that has moved on: refused whole.
		require.NoError(t, p.Send(h1, stale))
		require.ErrorIs(t, p.Result(ctx), auditlog.ErrFork)
		got, err := s.Head(ctx, "org:acme")
		require.NoError(t, err)
		require.Equal(t, h2, got)
		res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
		require.NoError(t, err)
		require.EqualValues(t, 3, res.Size)
	})

	t.Run("MerkleProofs", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		l, clock := NewLog(t, s, auditlog.WithMaxBatch(3))
		var hashes []tlog.Hash
		for i := range 13 {
			r, err := l.Append(ctx, auditlog.Entry{Actor: "system:test", Action: "test.job", Payload: []byte(fmt.Sprintf(`{"i":%d}`, i))})
			require.NoError(t, err)
			hashes = append(hashes, r.Hash)
		}
		reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return s.TreeHashes(ctx, "global", idx) })
		cp5Root, err := tlog.TreeHash(5, reader)
		require.NoError(t, err)
		cp, err := auditlog.CurrentCheckpoint(ctx, s, "global", clock.Now())
		require.NoError(t, err)
		require.EqualValues(t, 13, cp.Size)
		for n := range uint64(13) {
			p, err := auditlog.ProveInclusion(ctx, s, "global", 13, n)
			require.NoError(t, err)
			require.NoError(t, tlog.CheckRecord(p, 13, cp.Root, int64(n), tlog.RecordHash(hashes[n][:])))
		}
		_, err = auditlog.ProveInclusion(ctx, s, "global", 13, 13)
		require.Error(t, err)
		// TreeHashes answers in the order asked, repeats included, and
		// refuses an index the chain has not stored.
		var want Tree
		for n, h := range hashes {
			hs, err := tlog.StoredHashesForRecordHash(int64(n), tlog.RecordHash(h[:]), &want)
			require.NoError(t, err)
			want = append(want, hs...)
		}
		require.Len(t, want, int(tlog.StoredHashCount(13)))
		all := make([]int64, len(want))
		for i := range all {
			all[i] = int64(i)
		}
		got, err := s.TreeHashes(ctx, "global", all)
		require.NoError(t, err)
		require.Equal(t, []tlog.Hash(want), got)
		mixed := []int64{22, 3, 0, 3, 15, 7, 22, 1}
		got, err = s.TreeHashes(ctx, "global", mixed)
		require.NoError(t, err)
		for i, x := range mixed {
			require.Equal(t, want[x], got[i], "index %d", x)
		}
		_, err = s.TreeHashes(ctx, "global", []int64{0, tlog.StoredHashCount(13)})
		require.ErrorIs(t, err, auditlog.ErrNotFound)
		_, err = s.TreeHashes(ctx, "org:nobody", []int64{0})
		require.ErrorIs(t, err, auditlog.ErrNotFound)
		tp, err := auditlog.ProveConsistency(ctx, s, "global", 5, 13)
		require.NoError(t, err)
		require.NoError(t, tlog.CheckTree(tp, 13, cp.Root, 5, cp5Root))
		// Verify from a trusted checkpoint reads only what follows it.
		res, err := auditlog.Verify(ctx, s, "global", auditlog.VerifyOptions{From: &auditlog.Checkpoint{Chain: "global", Size: 5, Root: cp5Root}})
		require.NoError(t, err)
		require.EqualValues(t, 8, res.Checked)
		_, err = auditlog.Verify(ctx, s, "global", auditlog.VerifyOptions{From: &auditlog.Checkpoint{Chain: "global", Size: 5, Root: cp.Root}})
		var ve *auditlog.VerifyError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, auditlog.ReasonCheckpointMismatch, ve.Reason)
	})

	t.Run("CheckpointsSigned", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		signer, verifier := NewSigner(t, "conformance")
		sink := &bufSink{}
		l, _ := NewLog(t, s, auditlog.WithCheckpoints(signer, sink, 4, time.Hour), auditlog.WithMaxBatch(2))
		for range 9 {
			require.NoError(t, l.Record(ctx, "acme", "user:a", "test.created", "", nil))
		}
		cps, err := auditlog.ReadCheckpoints(sink.Bytes(), note.VerifierList(verifier))
		require.NoError(t, err)
		require.NotEmpty(t, cps)
		res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{Checkpoints: cps})
		require.NoError(t, err)
		require.Equal(t, len(cps), res.Checkpoints)
	})

	t.Run("RetentionAndHolds", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		l, clock := NewLog(t, s)
		for i := range 6 {
			require.NoError(t, l.Record(ctx, "acme", fmt.Sprintf("user:u%d", i%3), "test.created", fmt.Sprintf("doc:%d", i), map[string]any{"pii": "someone@example.com"}))
		}
		require.NoError(t, l.PlaceHold(ctx, "user:legal", auditlog.Hold{ID: "h1", Kind: auditlog.HoldActor, Value: "user:u1", Reason: "litigation 42", Owner: "legal@example.com"}))
		require.Error(t, l.PlaceHold(ctx, "user:legal", auditlog.Hold{ID: "h2", Kind: auditlog.HoldActor, Value: "user:u1"}), "reason and owner are required")
		holds, err := s.Holds(ctx)
		require.NoError(t, err)
		require.Len(t, holds, 1)
		clock.Advance(400 * 24 * time.Hour)
		n, err := l.Prune(ctx, "org:acme", 365*24*time.Hour)
		require.NoError(t, err)
		require.EqualValues(t, 4, n, "entries of user:u1 are held")
		for _, e := range Entries(t, s, "org:acme") {
			if e.Action != "test.created" {
				continue
			}
			require.Equal(t, e.Actor == "user:u1", e.Payload != nil, "entry %d", e.Seq)
		}
		_, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
		require.NoError(t, err, "pruned payloads keep the chain verifiable")

		require.NoError(t, l.LiftHold(ctx, "user:legal", "h1", "case closed"))
		require.ErrorIs(t, l.LiftHold(ctx, "user:legal", "h1", "again"), auditlog.ErrNotFound)
		n, err = l.Prune(ctx, "org:acme", 365*24*time.Hour)
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
		var actions []string
		for _, e := range Entries(t, s, "global") {
			actions = append(actions, e.Action)
		}
		require.Equal(t, []string{auditlog.ActionHoldPlaced, auditlog.ActionHoldLifted}, actions, "an actor hold lives in the global chain")
		// Each prune is recorded in the chain it pruned, with its count.
		var pruned []string
		for _, e := range Entries(t, s, "org:acme") {
			if e.Action == auditlog.ActionPruned {
				require.Equal(t, "chain:org:acme", e.Target)
				require.Equal(t, "system:auditlog/retention", e.Actor)
				pruned = append(pruned, string(e.Payload))
			}
		}
		require.Len(t, pruned, 2)
		require.Contains(t, pruned[0], `"pruned":4`)
		require.Contains(t, pruned[1], `"pruned":2`)
		n, err = l.Prune(ctx, "org:acme", 365*24*time.Hour)
		require.NoError(t, err)
		require.Zero(t, n)
		require.Len(t, Entries(t, s, "org:acme"), 8, "a prune that pruned nothing records nothing")
		for _, c := range []string{"global", "org:acme"} {
			_, err = auditlog.Verify(ctx, s, c, auditlog.VerifyOptions{})
			require.NoError(t, err)
		}
		_, err = l.Prune(ctx, "not-a-chain", 365*24*time.Hour)
		require.ErrorIs(t, err, auditlog.ErrBadEntry)
	})
}

type bufSink struct {
	mu  sync.Mutex
	buf []byte
}

func (b *bufSink) SaveCheckpoint(_ context.Context, _ string, msg []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, msg...)
	return nil
}

func (b *bufSink) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf...)
}
