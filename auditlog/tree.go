package auditlog

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/bits"

	"golang.org/x/mod/sumdb/tlog"
)

// The Merkle tree of a chain is golang.org/x/mod/sumdb/tlog's tree (RFC 6962
// hashing) whose record n is the 32-byte entry hash of the entry with Seq n.
// Stores keep its stored hashes (tlog.StoredHashes) so that inclusion and
// consistency proofs cost O(log n) reads.

// TreeHash is one stored hash of a chain's tree at its tlog storage index.
type TreeHash struct {
	Index int64
	Hash  tlog.Hash
}

// maxTreeSize is the largest chain the tree code accepts. tlog's arithmetic
// is int64 (a tree of n entries stores about 2n hashes) and its search for
// the largest power of two below a size never ends above 2^62, so a larger
// size, which only a corrupt head or a forged checkpoint or argument can
// carry, must be refused before it reaches tlog. 2^48 entries is far beyond
// any real chain.
const maxTreeSize = 1 << 48

// checkTreeSize refuses a tree of size entries that would hold more than
// maxTreeSize once adding more are appended.
func checkTreeSize(what string, size uint64, adding int) error {
	if uint64(adding) <= maxTreeSize && size <= maxTreeSize-uint64(adding) {
		return nil
	}
	return fmt.Errorf("%s of %d entries is out of range (at most %d)", what, size, uint64(maxTreeSize))
}

// frontierIndexes returns the storage indexes of the maximal complete
// subtrees of a tree of size n, left to right: all a writer needs to extend
// the tree, and all a verifier needs to resume from a checkpoint.
func frontierIndexes(n int64) []int64 {
	var idx []int64
	for level := 63; level >= 0; level-- {
		if n&(1<<uint(level)) != 0 {
			idx = append(idx, tlog.StoredHashIndex(level, n>>uint(level)-1))
		}
	}
	return idx
}

// overlay answers tlog reads from hashes a batch computed, falling back to
// a base set (the frontier read from the store).
type overlay map[int64]tlog.Hash

func (o overlay) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := o[x]
		if !ok {
			return nil, fmt.Errorf("auditlog: tree hash %d is not available", x)
		}
		out[i] = h
	}
	return out, nil
}

// compact is a streaming tree: the hashes of the maximal complete subtrees
// (at most 64), so that Verify recomputes a root in constant memory.
type compact struct {
	size   uint64
	hashes []tlog.Hash // left to right, one per set bit of size
}

func (c *compact) add(entryHash tlog.Hash) tlog.Hash {
	h := tlog.RecordHash(entryHash[:])
	leaf := h
	// Each trailing one bit of size completes a subtree with the new leaf.
	for i := 0; i < bits.TrailingZeros64(^c.size); i++ {
		h = tlog.NodeHash(c.hashes[len(c.hashes)-1], h)
		c.hashes = c.hashes[:len(c.hashes)-1]
	}
	c.hashes = append(c.hashes, h)
	c.size++
	return leaf
}

// emptyRoot is the root of the tree of an empty chain: SHA-256 of no bytes,
// as in RFC 6962 and golang.org/x/mod/sumdb/tlog.TreeHash(0, ...).
var emptyRoot = tlog.Hash(sha256.Sum256(nil))

func (c *compact) root() tlog.Hash {
	if len(c.hashes) == 0 {
		return emptyRoot
	}
	h := c.hashes[len(c.hashes)-1]
	for i := len(c.hashes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(c.hashes[i], h)
	}
	return h
}

// ProveInclusion returns the proof that entry seq is in chain's tree of
// size entries (a checkpoint's size), read from r in O(log n) hashes. Check
// it with tlog.CheckRecord(proof, size, root, seq, tlog.RecordHash(entryHash)).
func ProveInclusion(ctx context.Context, r ChainReader, chain string, size, seq uint64) (tlog.RecordProof, error) {
	if seq >= size {
		return nil, fmt.Errorf("auditlog: entry %d is not in a tree of %d entries", seq, size)
	}
	if err := checkTreeSize("tree", size, 0); err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	return tlog.ProveRecord(int64(size), int64(seq), storeReader(ctx, r, chain))
}

// ProveConsistency returns the proof that chain's tree of oldSize entries is
// a prefix of its tree of newSize entries: that nothing before an older
// checkpoint was rewritten. Check it with tlog.CheckTree(proof, newSize,
// newRoot, oldSize, oldRoot).
func ProveConsistency(ctx context.Context, r ChainReader, chain string, oldSize, newSize uint64) (tlog.TreeProof, error) {
	if oldSize > newSize {
		return nil, fmt.Errorf("auditlog: tree of %d entries cannot extend one of %d", newSize, oldSize)
	}
	if err := checkTreeSize("tree", newSize, 0); err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	return tlog.ProveTree(int64(newSize), int64(oldSize), storeReader(ctx, r, chain))
}
