package auditlog

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Store keeps chains durably. Implementations must serialise AppendBatch per
// chain across every process that shares the store, and must refuse a batch
// that does not extend the head (ErrFork): that is what makes a second
// writer unable to fork a chain. auditlogtest.TestStore checks an
// implementation.
type Store interface {
	// AppendBatch locks chain's head, calls seal with it and a reader of the
	// chain's stored tree hashes, and stores the returned batch atomically:
	// either every entry and tree hash is durable when it returns nil, or
	// none is. If seal returns an error, nothing is stored and AppendBatch
	// returns that error.
	AppendBatch(ctx context.Context, chain string, seal SealFunc) error
	// Head returns chain's head; an unknown chain has Size 0.
	Head(ctx context.Context, chain string) (Head, error)
	// Scan calls fn with each entry of chain with Seq >= from, in Seq order,
	// without holding the whole chain in memory. fn must not keep e.
	Scan(ctx context.Context, chain string, from uint64, fn func(e *Entry) error) error
	// TreeHashes returns the stored tree hashes at the given indexes.
	TreeHashes(ctx context.Context, chain string, indexes []int64) ([]tlog.Hash, error)
	// Chains lists every chain that has entries.
	Chains(ctx context.Context) ([]string, error)
	// PrunePayloads removes the payload of every entry of chain older than
	// before that no active hold covers, and returns how many it pruned.
	// Headers and hashes stay. A store that is also a RetentionRecorder
	// may refuse it (ErrNotRecorded) or a cutoff inside the retention it
	// enforces (ErrInsideRetention); a Log then uses PruneRecorded.
	PrunePayloads(ctx context.Context, chain string, before time.Time) (int64, error)
	// PutHold stores a new hold; LiftHold marks it lifted; Holds lists the
	// active ones.
	PutHold(ctx context.Context, h Hold) error
	LiftHold(ctx context.Context, id string, at time.Time) error
	Holds(ctx context.Context) ([]Hold, error)
}

// SealedAppender is an optional Store fast path: store b, sealed by the
// caller against the head it expects, atomically and in one step, and
// return ErrFork (storing nothing) if the chain's head is not expect. A Log
// uses it when it knows the head from its own previous batch, and falls back
// to AppendBatch when the head moved.
type SealedAppender interface {
	AppendSealed(ctx context.Context, expect Head, b *Batch) error
}

// PipelinedAppender is an optional Store fast path beyond SealedAppender:
// batches sent through a Pipeline go to the store without waiting for the
// earlier ones to be stored. The store still stores them one after another,
// each atomically, so a Log keeps its next batch on the way while the
// previous one commits instead of leaving the database idle for a round
// trip and the client's sealing in between. A Log uses a pipeline only
// while a single chain is being written; with several, it hands their
// batches to AppendSealed one at a time per chain, so that a store can
// commit the batches of several chains together (as the PostgreSQL store
// does) rather than each chain's on a pipeline of its own.
type PipelinedAppender interface {
	SealedAppender
	OpenPipeline(ctx context.Context) (Pipeline, error)
}

// Pipeline stores sealed batches in the order they were sent. One
// goroutine uses it at a time.
type Pipeline interface {
	// Send queues b, sealed by the caller against expect, and returns
	// without waiting for it to be stored. Like AppendSealed, the store
	// refuses b (ErrFork, storing nothing) if the chain's head is not
	// expect when b's turn comes: if an earlier batch failed, or another
	// writer moved the head in between.
	Send(expect Head, b *Batch) error
	// Result waits for the outcome of the oldest batch whose outcome has
	// not been returned: nil if it is stored, ErrFork if it was refused.
	// After any other error (or if ctx ends first) the outcomes of that
	// batch and of those sent after it are unknown, and the pipeline
	// accepts nothing more.
	Result(ctx context.Context) error
	// Close ends the pipeline; the outcomes of batches whose Result was
	// not read are unknown.
	Close() error
}

// SealFunc turns a chain head into the batch that extends it. tree reads
// the chain's stored tree hashes within the store's locked section.
type SealFunc func(head Head, tree tlog.HashReader) (*Batch, error)

// Batch is what a SealFunc hands to a Store: entries with consecutive Seq
// starting at the head's Size, and the tree hashes they add.
type Batch struct {
	Entries []Entry
	Tree    []TreeHash
}

// CheckBatch is what every Store must enforce before storing: the batch
// extends head (sequence numbers and hash links), and its tree hashes
// continue the stored ones. Stores call it inside their locked section; the
// PostgreSQL store additionally enforces it with a trigger.
func CheckBatch(head Head, b *Batch) error {
	if err := checkTreeSize("head", head.Size, len(b.Entries)); err != nil {
		return fmt.Errorf("%w: %w", ErrChainBroken, err)
	}
	prev, next := head.Hash, head.Size
	for i := range b.Entries {
		e := &b.Entries[i]
		if e.Chain != head.Chain || e.Seq != next || e.PrevHash != prev {
			return ErrFork
		}
		prev, next = e.Hash, next+1
	}
	want := tlog.StoredHashCount(int64(head.Size))
	for _, th := range b.Tree {
		if th.Index != want {
			return ErrFork
		}
		want++
	}
	if want != tlog.StoredHashCount(int64(next)) {
		return ErrFork
	}
	return nil
}

// HoldKind says what a hold matches.
type HoldKind string

// The hold kinds: an entry is held when its organisation, actor or target
// equals the hold's value.
const (
	HoldOrg    HoldKind = "org"
	HoldActor  HoldKind = "actor"
	HoldTarget HoldKind = "target"
)

// Hold is a compliance (legal) hold: while active, matching entries keep
// their payloads whatever the retention window says.
type Hold struct {
	ID       string    `json:"id"`
	Kind     HoldKind  `json:"kind"`
	Value    string    `json:"value"`
	Reason   string    `json:"reason"`
	Owner    string    `json:"owner"`
	PlacedAt time.Time `json:"placed_at"`
}

// Covers reports whether the hold applies to e.
func (h Hold) Covers(e *Entry) bool {
	switch h.Kind {
	case HoldOrg:
		return e.Org == h.Value
	case HoldActor:
		return e.Actor == h.Value
	case HoldTarget:
		return e.Target == h.Value
	}
	return false
}
