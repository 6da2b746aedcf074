package keyring

import (
	"context"
	"fmt"
	"time"
)

// batchRun is what Reencrypt and Reindex share: paging a row source from a
// cursor in batches, writing each batch's swaps only where the row still
// holds what was read, and moving the result, the checkpoint and the
// progress report past the batch.
type batchRun struct {
	opts  ReencryptOptions
	res   ReencryptResult
	total int64
	start time.Time
	now   func() time.Time
}

// startBatches applies the options' defaults and counts the rows left after
// opts.After.
func startBatches(ctx context.Context, opts ReencryptOptions, remaining func(context.Context, Cursor) (int64, error)) (*batchRun, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 2000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	run := &batchRun{opts: opts, now: opts.Now}
	run.res.Resume, run.res.LastID = opts.After, opts.After.ID
	total, err := remaining(ctx, opts.After)
	if err != nil {
		return nil, err
	}
	run.total, run.start = total, run.now()
	return run, nil
}

// stuck reports a row source that returned, as the last row of a batch, the
// row the cursor is already after: it does not page past its cursor, and the
// run would loop for ever.
func (run *batchRun) stuck(lastID string) error {
	if run.res.Resume.Started && lastID == run.res.Resume.ID {
		return fmt.Errorf("the row source returned row %q again: it does not page past its cursor", lastID)
	}
	return nil
}

// done writes a batch's swaps and moves past its last row: the counts, the
// checkpoint (which must be persisted before the next batch is read) and the
// progress report; then it reports a cancelled context.
func (run *batchRun) done(ctx context.Context, swap func(context.Context, []Swap) (int64, error), swaps []Swap, lastID string) error {
	if len(swaps) > 0 {
		n, err := swap(ctx, swaps)
		if err != nil {
			return err
		}
		run.res.Rewritten += n
		run.res.Conflicts += int64(len(swaps)) - n
	}
	run.res.LastID = lastID
	run.res.Resume = After(lastID)
	if run.opts.Checkpoint != nil {
		if err := run.opts.Checkpoint(ctx, run.res.Resume); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	if run.opts.Progress != nil {
		p := Progress{Done: run.res.Scanned, Total: max(run.total, run.res.Scanned), LastID: lastID, Rewritten: run.res.Rewritten}
		if el := run.now().Sub(run.start).Seconds(); el > 0 {
			p.Rate = float64(run.res.Scanned) / el
			if p.Rate > 0 {
				p.ETA = time.Duration(float64(p.Total-p.Done) / p.Rate * float64(time.Second))
			}
		}
		run.opts.Progress(p)
	}
	return ctx.Err()
}
