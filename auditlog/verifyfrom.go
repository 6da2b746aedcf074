package auditlog

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint returns the checkpoint a successful verification established:
// the chain, its size and root (Time is zero: it is not a signed
// statement). Keep it where the database cannot change it and pass it to
// the next VerifyFrom.
func (r VerifyResult) Checkpoint() Checkpoint {
	return Checkpoint{Chain: r.Chain, Size: r.Size, Root: r.Root}
}

// VerifyFrom verifies chain incrementally from last, the checkpoint of an
// earlier successful verification (VerifyResult.Checkpoint), and returns
// the result whose Checkpoint the caller keeps for the next run. A zero
// last (Size 0) verifies the whole chain.
//
// It reads only what was appended since last: the stored tree at last's
// size must hash to last's root (so a rewrite of any earlier entry that
// also rewrote the stored tree, as a consistent forgery must, is
// ReasonCheckpointMismatch), the newest entry last covers must be included
// in it, a consistency proof from last to the new head must check, and every
// new entry is verified as Verify does. What it does not re-read is an
// earlier row edited while its stored tree was left alone: that leaves the
// tree consistent and the row wrong, and only a full verification (Verify,
// or VerifyFrom with a zero checkpoint) reads it again. Run one now and
// then (the example application runs one a day and incremental ones in
// between).
//
// opts.From must be nil; opts.Checkpoints and opts.Progress apply.
func VerifyFrom(ctx context.Context, r ChainReader, chain string, last Checkpoint, opts VerifyOptions) (VerifyResult, error) {
	if opts.From != nil {
		return VerifyResult{}, errors.New("auditlog: VerifyFrom: VerifyOptions.From must be nil; pass the checkpoint as last")
	}
	if last.Size == 0 {
		return Verify(ctx, r, chain, opts)
	}
	if last.Chain != chain {
		return VerifyResult{}, fmt.Errorf("auditlog: checkpoint is for chain %q, not %q", last.Chain, chain)
	}
	opts.From = &last
	res, err := Verify(ctx, r, chain, opts)
	if err != nil {
		return VerifyResult{}, err
	}
	if res.Size > last.Size {
		proof, err := tlog.ProveTree(int64(res.Size), int64(last.Size), storeReader(ctx, r, chain))
		if err == nil {
			err = tlog.CheckTree(proof, int64(res.Size), res.Root, int64(last.Size), last.Root)
		}
		if err != nil {
			return VerifyResult{}, &VerifyError{Chain: chain, Seq: last.Size - 1, Reason: ReasonCheckpointMismatch,
				Detail: fmt.Sprintf("no consistency proof from size %d to %d: %v", last.Size, res.Size, err)}
		}
	}
	return res, nil
}
