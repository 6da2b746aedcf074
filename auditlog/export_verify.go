package auditlog

import (
	"bytes"
	"fmt"
	"sort"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The reasons VerifyExport reports besides those of Verify.
const (
	// ReasonMissingEntry: the export's signed manifest lists an entry the
	// export does not hold (removed from the file, or the file was cut
	// short). An entry the export's filter left out is never listed, so
	// this is never a filtered-out entry.
	ReasonMissingEntry Reason = "missing entry"
	// ReasonUnexpectedEntry: an entry the manifest does not list (added to
	// the file), a repeated one, one out of order, or one that does not
	// match the export's filter.
	ReasonUnexpectedEntry Reason = "unexpected entry"
	// ReasonUnprovenCheckpoint: a saved checkpoint that the export can
	// neither recompute (it does not hold the chain's entries up to that
	// size) nor prove consistent (it carries no consistency proof from that
	// size). Export again with the saved checkpoints.
	ReasonUnprovenCheckpoint Reason = "checkpoint not provable"
)

// ExportVerifyOptions are the trusted inputs of an export's verification.
type ExportVerifyOptions struct {
	// Verifiers check the signatures of the export's checkpoints and
	// manifest. Pin them: the key named in an export proves nothing.
	Verifiers note.Verifiers
	// Checkpoints are checkpoints saved earlier, outside the database, whose
	// signatures the caller verified (ReadCheckpoints). Each one of an
	// exported chain must be a prefix of the export's checkpoint of that
	// chain: recomputed from the exported entries when the export holds
	// the chain from its first entry up to that size, else checked with
	// the export's consistency proof from that size. A checkpoint larger
	// than the export's means a truncated chain (or an export older than the
	// checkpoint). Checkpoints of chains the export's filter leaves out are
	// ignored; for an export of every chain, a checkpoint of a chain the
	// export lacks is a failure.
	Checkpoints []Checkpoint
}

// ExportChainReport describes one chain of a verified export.
type ExportChainReport struct {
	Chain string `json:"chain"`
	// Size and Root are those of the chain's checkpoint in the export.
	Size uint64    `json:"size"`
	Root tlog.Hash `json:"root"`
	// Entries is how many entries the export holds, from First to Last.
	Entries uint64 `json:"entries"`
	First   uint64 `json:"first"`
	Last    uint64 `json:"last"`
	// FilteredOut is how many entries between First and Last the export's
	// filter left out (the signed manifest does not list them).
	FilteredOut uint64 `json:"filtered_out,omitempty"`
	// Checkpoints is how many saved checkpoints matched.
	Checkpoints int `json:"checkpoints"`
}

// ExportReport summarises a verified export.
type ExportReport struct {
	Entries     int                   `json:"entries"`
	Filter      Filter                `json:"-"`
	Checkpoints map[string]Checkpoint `json:"checkpoints"`
	Chains      []ExportChainReport   `json:"chains"`
	// SavedCheckpoints is how many saved checkpoints matched;
	// IgnoredCheckpoints how many were of chains the filter leaves out.
	SavedCheckpoints   int `json:"saved_checkpoints"`
	IgnoredCheckpoints int `json:"ignored_checkpoints,omitempty"`
}

// exportChain is the verification state of one exported chain.
type exportChain struct {
	cp    Checkpoint
	man   *manifestChain
	rep   *ExportChainReport
	last  *Entry
	ri    int    // the manifest range holding want
	want  uint64 // the next seq the manifest lists
	done  bool   // no seq left in the manifest
	tree  compact
	saved map[uint64][]Checkpoint // saved checkpoints by size
	roots map[uint64]bool         // sizes recomputed from the entries
}

func (c *exportChain) advance() {
	if c.want < c.man.Seqs[c.ri].Last {
		c.want++
		return
	}
	c.ri++
	if c.ri == len(c.man.Seqs) {
		c.done = true
		return
	}
	c.want = c.man.Seqs[c.ri].First
}

// VerifyExport checks an export offline: every checkpoint's and the
// manifest's signature against opts.Verifiers; for every entry its payload
// digest (unless pruned), its hash, its link to an adjacent exported
// entry, its inclusion proof in its chain's signed checkpoint, and that it
// is the next entry the signed manifest lists; that no listed entry is
// missing; and every saved checkpoint in opts against the export. The
// first failure is a *VerifyError; a bad signature is ErrBadCheckpoint; a
// header that disagrees with the manifest is ErrBadExport.
func VerifyExport(doc *ExportDoc, opts ExportVerifyOptions) (ExportReport, error) {
	rep := ExportReport{Filter: doc.Filter, Checkpoints: map[string]Checkpoint{}}
	if opts.Verifiers == nil {
		// Said outright rather than left to note.Open's "unknown key":
		// an export is only as good as the keys pinned to check it.
		return rep, fmt.Errorf("%w: no verifiers: pin the checkpoint signer's key (ExportVerifyOptions.Verifiers)", ErrBadCheckpoint)
	}
	if err := checkVersion(doc.Version); err != nil {
		return rep, err
	}
	names := make([]string, 0, len(doc.Checkpoints))
	for chain := range doc.Checkpoints {
		names = append(names, chain)
	}
	sort.Strings(names)
	for _, chain := range names {
		cp, err := OpenCheckpoint(doc.Checkpoints[chain], opts.Verifiers)
		if err != nil {
			return rep, fmt.Errorf("chain %q: %w", chain, err)
		}
		if cp.Chain != chain {
			return rep, fmt.Errorf("%w: checkpoint for %q filed under %q", ErrBadCheckpoint, cp.Chain, chain)
		}
		rep.Checkpoints[chain] = cp
	}
	n, err := note.Open(doc.Manifest, opts.Verifiers)
	if err != nil {
		return rep, fmt.Errorf("%w: export manifest: %v", ErrBadCheckpoint, err)
	}
	man, err := parseExportManifest(n.Text)
	if err != nil {
		return rep, err
	}
	hf, err1 := encodeFilter(doc.Filter)
	mf, err2 := encodeFilter(man.Filter)
	if err1 != nil || err2 != nil || !bytes.Equal(hf, mf) {
		return rep, fmt.Errorf("%w: the header's filter %s is not the signed manifest's %s", ErrBadExport, hf, mf)
	}
	if len(man.Chains) != len(rep.Checkpoints) {
		return rep, fmt.Errorf("%w: the manifest lists %d chains, the export has %d checkpoints", ErrBadExport, len(man.Chains), len(rep.Checkpoints))
	}
	chains := map[string]*exportChain{}
	for i := range man.Chains {
		mc := &man.Chains[i]
		cp, ok := rep.Checkpoints[mc.Chain]
		if !ok || cp.Size != mc.Size || cp.Root != mc.Root {
			return rep, &VerifyError{Chain: mc.Chain, Reason: ReasonCheckpointMismatch, Detail: "the signed manifest and the chain's checkpoint disagree"}
		}
		if man.Filter.Org != "" && mc.Chain != ChainFor(man.Filter.Org) {
			return rep, fmt.Errorf("%w: an export of organisation %q holds chain %q", ErrBadExport, man.Filter.Org, mc.Chain)
		}
		if man.Filter.isZero() && mc.Count != mc.Size {
			return rep, &VerifyError{Chain: mc.Chain, Reason: ReasonMissingEntry, Detail: fmt.Sprintf("the export is unfiltered but its manifest lists %d of %d entries", mc.Count, mc.Size)}
		}
		rep.Chains = append(rep.Chains, ExportChainReport{Chain: mc.Chain, Size: mc.Size, Root: mc.Root, Entries: mc.Count})
		st := &exportChain{cp: cp, man: mc, rep: &rep.Chains[len(rep.Chains)-1], saved: map[uint64][]Checkpoint{}, roots: map[uint64]bool{}}
		if len(mc.Seqs) == 0 {
			st.done = true
		} else {
			st.want = mc.Seqs[0].First
			st.rep.First, st.rep.Last = mc.Seqs[0].First, mc.Seqs[len(mc.Seqs)-1].Last
			st.rep.FilteredOut = st.rep.Last - st.rep.First + 1 - mc.Count
		}
		chains[mc.Chain] = st
	}
	for _, c := range opts.Checkpoints {
		if st := chains[c.Chain]; st != nil {
			st.saved[c.Size] = append(st.saved[c.Size], c)
		}
	}
	type chainSeq struct {
		chain string
		seq   uint64
	}
	present := make(map[chainSeq]bool, len(doc.Entries))
	for i := range doc.Entries {
		present[chainSeq{doc.Entries[i].Chain, doc.Entries[i].Seq}] = true
	}
	for i := range doc.Entries {
		x := &doc.Entries[i]
		e := &x.Entry
		fail := func(r Reason, format string, a ...any) error {
			return &VerifyError{Chain: e.Chain, Seq: e.Seq, Reason: r, Detail: fmt.Sprintf(format, a...)}
		}
		st := chains[e.Chain]
		if st == nil {
			return rep, fail(ReasonUnexpectedEntry, "the export has no checkpoint of the chain")
		}
		cp := st.cp
		if x.TreeSize != cp.Size || e.Seq >= cp.Size {
			return rep, fail(ReasonCheckpointMismatch, "proof is for size %d, the checkpoint has %d", x.TreeSize, cp.Size)
		}
		if e.Payload != nil && PayloadDigest(e.Payload) != e.PayloadDigest {
			return rep, fail(ReasonPayloadMismatch, "payload does not hash to the committed digest")
		}
		if EntryHash(e) != e.Hash {
			return rep, fail(ReasonHashMismatch, "hash is not the hash of the entry")
		}
		if prev := st.last; prev != nil && prev.Seq+1 == e.Seq && prev.Hash != e.PrevHash {
			return rep, fail(ReasonBrokenLink, "previous hash is not the hash of entry %d", prev.Seq)
		}
		if e.Seq == 0 && e.PrevHash != (tlog.Hash{}) {
			return rep, fail(ReasonBrokenLink, "the first entry must have a zero previous hash")
		}
		if err := tlog.CheckRecord(x.Proof, int64(cp.Size), cp.Root, int64(e.Seq), tlog.RecordHash(e.Hash[:])); err != nil {
			return rep, fail(ReasonTreeMismatch, "inclusion proof does not lead to the signed root")
		}
		switch {
		case st.last != nil && e.Seq == st.last.Seq:
			return rep, fail(ReasonUnexpectedEntry, "entry %d appears twice", e.Seq)
		case st.last != nil && e.Seq < st.last.Seq:
			return rep, fail(ReasonUnexpectedEntry, "entry %d comes after entry %d: out of order", e.Seq, st.last.Seq)
		case !man.Filter.match(e):
			return rep, fail(ReasonUnexpectedEntry, "entry does not match the export's filter %s", mf)
		case st.done || e.Seq < st.want:
			return rep, fail(ReasonUnexpectedEntry, "the export's signed manifest does not list entry %d (added to the file?)", e.Seq)
		case e.Seq > st.want && present[chainSeq{e.Chain, st.want}]:
			return rep, fail(ReasonUnexpectedEntry, "entry %d comes before entry %d: out of order", e.Seq, st.want)
		case e.Seq > st.want:
			return rep, &VerifyError{Chain: e.Chain, Seq: st.want, Reason: ReasonMissingEntry,
				Detail: fmt.Sprintf("entry %d is missing: the export's signed manifest lists it, so the filter did not leave it out", st.want)}
		}
		st.advance()
		st.last = e
		if st.tree.size == e.Seq {
			st.tree.add(e.Hash)
			for _, c := range st.saved[st.tree.size] {
				if c.Root != st.tree.root() {
					return rep, fail(ReasonCheckpointMismatch, "a checkpoint saved at %s covers %d entries with another root: the chain was rewritten",
						c.Time.Format(checkpointTime), c.Size)
				}
				st.roots[c.Size] = true
			}
		}
		rep.Entries++
	}
	for _, mc := range man.Chains {
		st := chains[mc.Chain]
		if !st.done {
			return rep, &VerifyError{Chain: mc.Chain, Seq: st.want, Reason: ReasonMissingEntry,
				Detail: fmt.Sprintf("entry %d is missing: the export's signed manifest lists %d entries up to entry %d; the file was cut short or edited", st.want, mc.Count, st.rep.Last)}
		}
	}
	for _, c := range opts.Checkpoints {
		st := chains[c.Chain]
		if st == nil {
			if man.Filter.Org != "" {
				rep.IgnoredCheckpoints++
				continue
			}
			return rep, &VerifyError{Chain: c.Chain, Reason: ReasonTruncated,
				Detail: fmt.Sprintf("the export of every chain lacks this one, but a checkpoint saved at %s covers %d of its entries", c.Time.Format(checkpointTime), c.Size)}
		}
		if err := st.checkSaved(c, doc.Consistency); err != nil {
			return rep, err
		}
		st.rep.Checkpoints++
		rep.SavedCheckpoints++
	}
	return rep, nil
}

// checkSaved checks a saved checkpoint c against the chain's checkpoint in
// the export.
func (st *exportChain) checkSaved(c Checkpoint, proofs []ExportConsistency) error {
	fail := func(seq uint64, r Reason, format string, a ...any) error {
		return &VerifyError{Chain: c.Chain, Seq: seq, Reason: r, Detail: fmt.Sprintf(format, a...)}
	}
	saved := c.Time.Format(checkpointTime)
	switch {
	case c.Size > st.cp.Size:
		return fail(st.cp.Size, ReasonTruncated, "a checkpoint saved at %s covers %d entries; the export's, signed at %s, only %d: the chain was truncated, or the export is older than that checkpoint",
			saved, c.Size, st.cp.Time.Format(checkpointTime), st.cp.Size)
	case c.Size == st.cp.Size:
		if c.Root != st.cp.Root {
			return fail(c.Size-1, ReasonCheckpointMismatch, "a checkpoint saved at %s covers the same %d entries with another root: the chain was rewritten", saved, c.Size)
		}
		return nil
	case c.Size == 0 || st.roots[c.Size]:
		return nil
	}
	found := false
	for _, p := range proofs {
		if p.Chain != c.Chain || p.From != c.Size || p.To != st.cp.Size {
			continue
		}
		if tlog.CheckTree(p.Proof, int64(st.cp.Size), st.cp.Root, int64(c.Size), c.Root) == nil {
			return nil
		}
		found = true
	}
	if found {
		return fail(c.Size-1, ReasonCheckpointMismatch, "a checkpoint saved at %s (%d entries) is not a prefix of the export's tree: the chain was rewritten", saved, c.Size)
	}
	return fail(c.Size-1, ReasonUnprovenCheckpoint, "the export neither holds the chain's first %d entries nor a consistency proof from that size (checkpoint saved at %s); export again with the saved checkpoints (rampart audit export --checkpoints)", c.Size, saved)
}
