package auditlog

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"golang.org/x/mod/sumdb/tlog"
)

// Reason says why a chain does not verify.
type Reason string

// The reasons Verify reports.
const (
	// ReasonHashMismatch: the stored entry hash is not the hash of the
	// stored header fields (a field was edited, or rows were reordered).
	ReasonHashMismatch Reason = "hash mismatch"
	// ReasonPayloadMismatch: the stored payload is not the one committed.
	ReasonPayloadMismatch Reason = "payload digest mismatch"
	// ReasonBrokenLink: the entry's previous hash is not the hash of the
	// entry before it (an entry was inserted, removed or replaced).
	ReasonBrokenLink Reason = "broken link"
	// ReasonSequenceGap: a sequence number is missing or repeated.
	ReasonSequenceGap Reason = "sequence gap"
	// ReasonTreeMismatch: the stored Merkle tree disagrees with the entries.
	ReasonTreeMismatch Reason = "tree mismatch"
	// ReasonCheckpointMismatch: a signed checkpoint's root differs from the
	// root of the chain at that size (the chain was rewritten).
	ReasonCheckpointMismatch Reason = "checkpoint mismatch"
	// ReasonTruncated: a signed checkpoint covers entries the chain no
	// longer has (the newest rows were deleted).
	ReasonTruncated Reason = "truncated"
)

// VerifyError locates the first entry at which a chain fails verification.
// It matches ErrChainBroken with errors.Is.
type VerifyError struct {
	Chain  string
	Seq    uint64
	Reason Reason
	Detail string
}

// Error names the chain, the entry and the reason.
func (e *VerifyError) Error() string {
	msg := fmt.Sprintf("auditlog: chain %q: entry %d: %s", e.Chain, e.Seq, e.Reason)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrChainBroken) true.
func (e *VerifyError) Unwrap() error { return ErrChainBroken }

// ChainReader is what Verify reads; every Store is one.
type ChainReader interface {
	Head(ctx context.Context, chain string) (Head, error)
	Scan(ctx context.Context, chain string, from uint64, fn func(e *Entry) error) error
	TreeHashes(ctx context.Context, chain string, indexes []int64) ([]tlog.Hash, error)
}

// VerifyOptions are the trusted inputs of a verification.
type VerifyOptions struct {
	// Checkpoints are checkpoints whose signatures the caller verified
	// (ReadCheckpoints); those of other chains are ignored. Each must match
	// the chain at its size, and the chain must be at least as long.
	Checkpoints []Checkpoint
	// From, if set, starts verification at a trusted checkpoint instead of
	// the first entry: only the entries after it are read.
	From *Checkpoint
	// Progress, if set, is called every 65,536 entries with how many
	// entries were checked and how many the chain's head announces, so a
	// long verification can show where it is.
	Progress func(checked, total uint64)
}

// progressEvery is how often Verify calls VerifyOptions.Progress.
const progressEvery = 1 << 16

// VerifyResult summarises a successful verification.
type VerifyResult struct {
	Chain string `json:"chain"`
	// Size is the number of entries in the chain; Checked how many were read.
	Size    uint64    `json:"size"`
	Checked uint64    `json:"checked"`
	Root    tlog.Hash `json:"root"`
	// Checkpoints is how many trusted checkpoints were matched.
	Checkpoints int `json:"checkpoints"`
}

// verifier checks a stream of entries in constant memory.
type verifier struct {
	chain   string
	next    uint64
	prev    tlog.Hash
	tree    compact
	leaf    tlog.Hash    // record hash of the last entry added
	cps     []Checkpoint // sorted by size, this chain only
	cpi     int
	matched int
}

func newVerifier(chain string, cps []Checkpoint) *verifier {
	v := &verifier{chain: chain}
	for _, c := range cps {
		if c.Chain == chain {
			v.cps = append(v.cps, c)
		}
	}
	sort.Slice(v.cps, func(i, j int) bool { return v.cps[i].Size < v.cps[j].Size })
	return v
}

func (v *verifier) fail(seq uint64, r Reason, format string, a ...any) error {
	return &VerifyError{Chain: v.chain, Seq: seq, Reason: r, Detail: fmt.Sprintf(format, a...)}
}

// skipCheckpoints drops checkpoints at or below size (already trusted).
func (v *verifier) skipCheckpoints(size uint64, root tlog.Hash) error {
	for v.cpi < len(v.cps) && v.cps[v.cpi].Size <= size {
		c := v.cps[v.cpi]
		if c.Size == size && c.Root != root {
			return v.fail(size-1, ReasonCheckpointMismatch, "checkpoint at size %d has a different root", size)
		}
		v.cpi++
	}
	return nil
}

// matchEmpty compares the checkpoints of the empty tree with its root;
// checkpoints are otherwise compared when the entry that reaches their
// size is added, which for size 0 never happens.
func (v *verifier) matchEmpty() error {
	for v.next == 0 && v.cpi < len(v.cps) && v.cps[v.cpi].Size == 0 {
		if v.cps[v.cpi].Root != emptyRoot {
			return v.fail(0, ReasonCheckpointMismatch, "signed checkpoint of the empty chain has a root other than the empty tree's")
		}
		v.matched++
		v.cpi++
	}
	return nil
}

func (v *verifier) add(e *Entry) error {
	if err := v.matchEmpty(); err != nil {
		return err
	}
	if e.Seq != v.next {
		return v.fail(v.next, ReasonSequenceGap, "found entry %d where %d was expected", e.Seq, v.next)
	}
	if e.Chain != v.chain {
		return v.fail(e.Seq, ReasonHashMismatch, "entry claims chain %q", e.Chain)
	}
	if e.Payload != nil && PayloadDigest(e.Payload) != e.PayloadDigest {
		return v.fail(e.Seq, ReasonPayloadMismatch, "payload does not hash to the committed digest")
	}
	if EntryHash(e) != e.Hash {
		return v.fail(e.Seq, ReasonHashMismatch, "stored hash is not the hash of the entry")
	}
	if e.PrevHash != v.prev {
		return v.fail(e.Seq, ReasonBrokenLink, "previous hash is not the hash of entry %d", int64(e.Seq)-1)
	}
	v.leaf = v.tree.add(e.Hash)
	v.prev = e.Hash
	v.next++
	for v.cpi < len(v.cps) && v.cps[v.cpi].Size <= v.next {
		c := v.cps[v.cpi]
		if c.Size == v.next {
			if c.Root != v.tree.root() {
				return v.fail(e.Seq, ReasonCheckpointMismatch, "signed checkpoint at size %d (%s) has another root", c.Size, c.Time.Format(checkpointTime))
			}
			v.matched++
		}
		v.cpi++
	}
	return nil
}

// finish checks what only the end of the stream can show.
func (v *verifier) finish() error {
	if err := v.matchEmpty(); err != nil {
		return err
	}
	if v.cpi < len(v.cps) {
		c := v.cps[len(v.cps)-1]
		return v.fail(v.next, ReasonTruncated, "signed checkpoint at %s covers %d entries; the chain has %d",
			c.Time.Format(checkpointTime), c.Size, v.next)
	}
	return nil
}

// VerifyEntries verifies entries given in full (for example a copy held in
// memory) as the whole chain, against trusted checkpoints.
func VerifyEntries(chain string, entries []Entry, checkpoints ...Checkpoint) (VerifyResult, error) {
	v := newVerifier(chain, checkpoints)
	for i := range entries {
		if err := v.add(&entries[i]); err != nil {
			return VerifyResult{}, err
		}
	}
	if err := v.finish(); err != nil {
		return VerifyResult{}, err
	}
	return VerifyResult{Chain: chain, Size: v.next, Checked: v.next, Root: v.tree.root(), Checkpoints: v.matched}, nil
}

// leafBatch is how many entries Verify reads before comparing their stored
// tree leaves in one round trip.
const leafBatch = 1024

// Verify streams chain from r in constant memory and checks every entry's
// payload digest, hash, link and sequence number, the stored Merkle tree,
// and the trusted checkpoints in opts. The first problem is returned as a
// *VerifyError naming the entry and the reason; other errors are I/O.
func Verify(ctx context.Context, r ChainReader, chain string, opts VerifyOptions) (VerifyResult, error) {
	v := newVerifier(chain, opts.Checkpoints)
	head, err := r.Head(ctx, chain)
	if err != nil {
		return VerifyResult{}, err
	}
	from := uint64(0)
	if c := opts.From; c != nil {
		if c.Chain != chain {
			return VerifyResult{}, fmt.Errorf("auditlog: checkpoint is for chain %q, not %q", c.Chain, chain)
		}
		if err := v.resume(ctx, r, *c); err != nil {
			return VerifyResult{}, err
		}
		from = c.Size
	}
	var (
		leaves  []tlog.Hash
		firstAt = from
		checked uint64
	)
	checkLeaves := func() error {
		if len(leaves) == 0 {
			return nil
		}
		idx := make([]int64, len(leaves))
		for i := range leaves {
			idx[i] = tlog.StoredHashIndex(0, int64(firstAt)+int64(i))
		}
		stored, err := r.TreeHashes(ctx, chain, idx)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return readFailed(chain, err) // a lost connection is no evidence of tampering
		}
		if err != nil {
			return v.fail(firstAt, ReasonTreeMismatch, "stored tree leaves are missing: %v", err)
		}
		for i, h := range leaves {
			if stored[i] != h {
				return v.fail(firstAt+uint64(i), ReasonTreeMismatch, "stored tree leaf differs from the entry hash")
			}
		}
		firstAt += uint64(len(leaves))
		leaves = leaves[:0]
		return nil
	}
	err = r.Scan(ctx, chain, from, func(e *Entry) error {
		if err := v.add(e); err != nil {
			// An entry that passed may still be the culprit (a forged row
			// inserted before this one): its stored tree leaf says so.
			if lerr := checkLeaves(); lerr != nil {
				return lerr
			}
			return err
		}
		checked++
		if opts.Progress != nil && checked%progressEvery == 0 {
			opts.Progress(checked, head.Size-from)
		}
		leaves = append(leaves, v.leaf)
		if len(leaves) == leafBatch {
			return checkLeaves()
		}
		return nil
	})
	if err == nil {
		err = checkLeaves()
	}
	if err != nil {
		return VerifyResult{}, err
	}
	if head.Size > v.next {
		return VerifyResult{}, v.fail(v.next, ReasonSequenceGap, "the head says %d entries; only %d were read", head.Size, v.next)
	}
	if err := v.finish(); err != nil {
		return VerifyResult{}, err
	}
	root := v.tree.root()
	if v.next > 0 {
		stored, err := tlog.TreeHash(int64(v.next), storeReader(ctx, r, chain))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return VerifyResult{}, readFailed(chain, err)
		}
		if err != nil || stored != root {
			return VerifyResult{}, v.fail(v.next-1, ReasonTreeMismatch, "stored tree root differs from the entries' root")
		}
	}
	return VerifyResult{Chain: chain, Size: v.next, Checked: checked, Root: root, Checkpoints: v.matched}, nil
}

// resume positions v after trusted checkpoint c: the stored frontier must
// hash to c's root, and the entry before the first one read must be the
// stored one included in c.
func (v *verifier) resume(ctx context.Context, r ChainReader, c Checkpoint) error {
	if c.Size == 0 {
		return nil
	}
	if err := checkTreeSize("checkpoint", c.Size, 0); err != nil {
		return v.fail(0, ReasonCheckpointMismatch, "%v", err)
	}
	idx := frontierIndexes(int64(c.Size))
	hs, err := r.TreeHashes(ctx, v.chain, idx)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return readFailed(v.chain, err)
	}
	if err != nil {
		return v.fail(c.Size-1, ReasonTruncated, "tree at the checkpoint is missing: %v", err)
	}
	v.tree = compact{size: c.Size, hashes: hs}
	if v.tree.root() != c.Root {
		return v.fail(c.Size-1, ReasonCheckpointMismatch, "stored tree at size %d does not match the checkpoint", c.Size)
	}
	var last *Entry
	err = r.Scan(ctx, v.chain, c.Size-1, func(e *Entry) error {
		cp := *e
		last = &cp
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	if last == nil || last.Seq != c.Size-1 {
		return v.fail(c.Size-1, ReasonTruncated, "entry %d covered by the checkpoint is missing", c.Size-1)
	}
	if EntryHash(last) != last.Hash {
		return v.fail(last.Seq, ReasonHashMismatch, "stored hash is not the hash of the entry")
	}
	proof, err := tlog.ProveRecord(int64(c.Size), int64(last.Seq), storeReader(ctx, r, v.chain))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return readFailed(v.chain, err)
	}
	if err == nil {
		err = tlog.CheckRecord(proof, int64(c.Size), c.Root, int64(last.Seq), tlog.RecordHash(last.Hash[:]))
	}
	if err != nil {
		return v.fail(last.Seq, ReasonCheckpointMismatch, "entry is not the one the checkpoint includes")
	}
	v.prev, v.next = last.Hash, c.Size
	return v.skipCheckpoints(c.Size, c.Root)
}

// readFailed is a store error while verifying that is not ErrNotFound: the
// chain could not be read (a lost connection, a timeout), which says
// nothing about tampering and is not an ErrChainBroken.
func readFailed(chain string, err error) error {
	return fmt.Errorf("auditlog: verify chain %q: read: %w", chain, err)
}
