package auditlog

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// checkpointWait bounds how long the appends that make a checkpoint due
// wait for the sink to save it before they return; it is then saved in the
// background.
const checkpointWait = time.Second

// checkpointer is a chain's checkpoint state (WithCheckpoints). The chain's
// writer asks it, before waking the callers of each batch stored, whether a
// checkpoint is due (maybe); a goroutine of its own signs it and hands it to
// the sink, so that a slow or unreachable sink holds appends back for
// checkpointWait at most, and not at all once it is known to be failing.
// One checkpoint is saved at a time, in chain order, so they only move on.
type checkpointer struct {
	cfg *config

	mu       sync.Mutex
	size     uint64        // of the newest checkpoint saved
	at       time.Time     // when it was signed (at first, when the writer was made)
	inFlight bool          // a goroutine is saving one
	next     *Checkpoint   // fell due while one was in flight: the newest such
	failing  bool          // the last save failed: appends do not wait for the next
	retryAt  time.Time     // after a failure, no new attempt before then
	backoff  time.Duration // 1s after a first failure, doubling up to a minute
}

// maybe starts saving a checkpoint of head if one is due, and waits for it
// as WithCheckpoints describes.
func (c *checkpointer) maybe(chain string, head Head, root tlog.Hash) {
	cfg := c.cfg
	if cfg.signer == nil || cfg.sink == nil {
		return
	}
	now := cfg.now()
	c.mu.Lock()
	// Heads arrive in chain order; the size guard keeps a checkpoint from
	// ever going back even if one did not (and the subtraction from
	// wrapping).
	due := head.Size > c.size && ((cfg.cpEvery > 0 && head.Size-c.size >= cfg.cpEvery) ||
		(cfg.cpInterval > 0 && now.Sub(c.at) >= cfg.cpInterval))
	if !due || now.Before(c.retryAt) {
		c.mu.Unlock()
		return
	}
	cp := Checkpoint{Chain: chain, Size: head.Size, Root: root, Time: now}
	if c.inFlight {
		c.next = &cp
		c.mu.Unlock()
		return
	}
	c.inFlight = true
	wait := !c.failing
	c.mu.Unlock()
	saved := make(chan struct{})
	// A panic in the saver closes saved (recoverPanic).
	go c.save(cp, saved)
	if wait {
		t := time.NewTimer(checkpointWait)
		defer t.Stop()
		select {
		case <-saved:
		case <-t.C:
		}
	}
}

// save signs and saves cp, closes saved, then saves the newest checkpoint
// that fell due meanwhile, if any, and so on. After a failure it stops; the
// next append due after the backoff tries again with its own, newer head.
func (c *checkpointer) save(cp Checkpoint, saved chan struct{}) {
	defer c.recoverPanic(&cp, &saved)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.timeout)
		_, err := c.cfg.publish(ctx, cp)
		cancel()
		if err != nil {
			c.cfg.logger.Warn("auditlog: checkpoint", "chain", cp.Chain, "size", cp.Size, "err", err)
		}
		c.mu.Lock()
		next := c.next
		c.next = nil
		if err != nil {
			c.failing = true
			c.backoff = min(max(2*c.backoff, time.Second), time.Minute)
			c.retryAt = c.cfg.now().Add(c.backoff)
			next = nil
		} else {
			c.size, c.at = cp.Size, cp.Time
			c.failing, c.backoff, c.retryAt = false, 0, time.Time{}
		}
		if next == nil || next.Size <= c.size {
			c.inFlight = false
		}
		more := c.inFlight
		c.mu.Unlock()
		if saved != nil {
			close(saved)
			saved = nil
		}
		if !more {
			return
		}
		cp = *next
	}
}

// recoverPanic is deferred at the top of the goroutine that saves
// checkpoints: a panicking signer or sink is logged and counted as a failed
// save, and appends go on.
func (c *checkpointer) recoverPanic(cp *Checkpoint, saved *chan struct{}) {
	r := recover()
	if r == nil {
		return
	}
	c.cfg.logPanic("auditlog: panic saving a checkpoint", "chain", cp.Chain, "size", cp.Size, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	c.mu.Lock()
	c.inFlight, c.next, c.failing = false, nil, true
	c.backoff = min(max(2*c.backoff, time.Second), time.Minute)
	c.retryAt = time.Now().Add(c.backoff) // not cfg.now: the clock may be what panicked
	c.mu.Unlock()
	if *saved != nil {
		close(*saved)
		*saved = nil
	}
}
