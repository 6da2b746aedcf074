package auditlog

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// Seal extends head with entries: it assigns sequence numbers, links and
// hashes, and computes the tree hashes they add, reading only the frontier
// of the existing tree (at most 63 hashes) from tree. It returns the batch,
// the new head and the new tree root. Stores call it through the SealFunc
// a Log passes; it is exported for hosts that write their own Store.
func Seal(head Head, tree tlog.HashReader, entries []Entry) (*Batch, Head, tlog.Hash, error) {
	if err := checkTreeSize("head", head.Size, len(entries)); err != nil {
		return nil, Head{}, tlog.Hash{}, fmt.Errorf("%w: %w", ErrChainBroken, err)
	}
	// Sized up front: the frontier, and the hashes the entries add.
	added := tlog.StoredHashCount(int64(head.Size)+int64(len(entries))) - tlog.StoredHashCount(int64(head.Size))
	ov := make(overlay, 64+added)
	if head.Size > 0 {
		idx := frontierIndexes(int64(head.Size))
		hs, err := tree.ReadHashes(idx)
		if err != nil {
			return nil, Head{}, tlog.Hash{}, fmt.Errorf("auditlog: read tree frontier: %w", err)
		}
		for i, x := range idx {
			ov[x] = hs[i]
		}
	}
	b := &Batch{Entries: make([]Entry, len(entries)), Tree: make([]TreeHash, 0, added)}
	prev, seq := head.Hash, head.Size
	for i := range entries {
		e := entries[i]
		e.Chain = head.Chain
		e.Seq = seq
		e.PrevHash = prev
		e.Hash = EntryHash(&e)
		hs, err := tlog.StoredHashesForRecordHash(int64(seq), tlog.RecordHash(e.Hash[:]), ov)
		if err != nil {
			return nil, Head{}, tlog.Hash{}, fmt.Errorf("auditlog: tree: %w", err)
		}
		base := tlog.StoredHashCount(int64(seq))
		for j, h := range hs {
			ov[base+int64(j)] = h
			b.Tree = append(b.Tree, TreeHash{Index: base + int64(j), Hash: h})
		}
		b.Entries[i] = e
		prev, seq = e.Hash, seq+1
	}
	root, err := tlog.TreeHash(int64(seq), ov)
	if err != nil {
		return nil, Head{}, tlog.Hash{}, fmt.Errorf("auditlog: tree: %w", err)
	}
	return b, Head{Chain: head.Chain, Size: seq, Hash: prev}, root, nil
}

// nextFrontier returns the tree frontier after b from the frontier (or any
// superset) before it, or nil if a hash is missing.
func nextFrontier(prev overlay, b *Batch, size uint64) overlay {
	added := make(map[int64]tlog.Hash, len(b.Tree))
	for _, th := range b.Tree {
		added[th.Index] = th.Hash
	}
	next := overlay{}
	for _, x := range frontierIndexes(int64(size)) {
		if h, ok := added[x]; ok {
			next[x] = h
		} else if h, ok := prev[x]; ok {
			next[x] = h
		} else {
			return nil
		}
	}
	return next
}

// frontierReader is the tree reader a batch is sealed with: the frontier
// cached after the chain's last batch when it belongs to head h (no read of
// the store at all), else the store's tree, remembering what it read so the
// next frontier can be built from it. read holds the hashes sealing used.
func frontierReader(h Head, tree tlog.HashReader, cachedHead Head, cached overlay) (read overlay, reader tlog.HashReader) {
	useCache := cached != nil && h == cachedHead
	read = overlay{}
	if useCache {
		read = cached
	}
	return read, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		if hs, err := read.ReadHashes(idx); err == nil {
			return hs, nil
		}
		hs, err := tree.ReadHashes(idx)
		if err == nil && !useCache {
			for i, x := range idx {
				read[x] = hs[i]
			}
		}
		return hs, err
	})
}
