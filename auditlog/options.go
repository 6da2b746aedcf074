package auditlog

import (
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Limits of the options, checked by New.
const (
	maxBatchLimit     = 10000
	minCommitTimeout  = 100 * time.Millisecond
	maxCommitTimeout  = 10 * time.Minute
	maxCheckpointEach = 1_000_000
	minCheckpointTick = time.Second
	maxCheckpointTick = 24 * time.Hour
)

// config is what the options of New set; New validates it as a whole.
type config struct {
	now      func() time.Time
	maxBatch int
	timeout  time.Duration
	logger   *slog.Logger

	signer     note.Signer
	sink       CheckpointSink
	cpEvery    uint64
	cpInterval time.Duration
	cpSet      bool // WithCheckpoints was given
}

func defaults() config {
	return config{now: time.Now, maxBatch: 512, timeout: 30 * time.Second, logger: slog.Default()}
}

// Option configures a Log; New validates every option it is given and
// returns an error wrapping ErrInvalidConfig for a value outside the range
// its doc states.
type Option func(*config)

// WithClock sets the clock that stamps entries (default time.Now). It must
// not be nil.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithMaxBatch bounds how many entries one transaction seals: 1 to 10,000
// (default 512).
func WithMaxBatch(n int) Option { return func(c *config) { c.maxBatch = n } }

// WithCommitTimeout bounds one batch's transaction: 100ms to 10 minutes
// (default 30s).
func WithCommitTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithLogger receives what the Log cannot return to a caller: the errors of
// periodic checkpoints, which happen after the entries are durable and so
// cannot fail an Append, those of the outbox relay, and the panics it
// recovers from (default slog.Default()). It must not be nil.
func WithLogger(lg *slog.Logger) Option { return func(c *config) { c.logger = lg } }

// WithCheckpoints signs a checkpoint of a chain with signer and hands it to
// sink whenever every entries were added since the last one, or interval
// passed and the chain grew. Keep the sink outside the database: it is what
// detects deleted newest rows and a recomputed chain.
//
// signer must not be nil. every is 0 (not by count) or 1 to 1,000,000;
// interval is 0 (not by age) or 1s to 24h. With both 0 no checkpoint is
// made on append, and sink may be nil: the signer then serves
// Log.Checkpoint and exports. With either set, sink must not be nil, and
// RunCheckpoints, which saves what it signs, needs one too.
//
// The appends that make a checkpoint due return once the sink has saved
// it, or after a second if the sink is slower: it is then saved in the
// background, and checkpoints falling due meanwhile are folded into the
// newest. While the sink fails, appends do not wait for it at all, and a
// checkpoint is tried again after 1s, 2s, 4s... up to a minute, with each
// failure logged (WithLogger). A sink that stops answering holds appends
// back once, for a second.
func WithCheckpoints(signer note.Signer, sink CheckpointSink, every uint64, interval time.Duration) Option {
	return func(c *config) {
		c.signer, c.sink, c.cpEvery, c.cpInterval, c.cpSet = signer, sink, every, interval, true
	}
}

// validate reports the first option outside its range.
func (c *config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.now == nil:
		return bad("WithClock: nil clock")
	case c.maxBatch < 1 || c.maxBatch > maxBatchLimit:
		return bad("WithMaxBatch: %d is outside 1 to %d", c.maxBatch, maxBatchLimit)
	case c.timeout < minCommitTimeout || c.timeout > maxCommitTimeout:
		return bad("WithCommitTimeout: %v is outside %v to %v", c.timeout, minCommitTimeout, maxCommitTimeout)
	case c.logger == nil:
		return bad("WithLogger: nil logger")
	}
	if !c.cpSet {
		return nil
	}
	switch {
	case c.signer == nil:
		return bad("WithCheckpoints: nil signer")
	case c.cpEvery > maxCheckpointEach:
		return bad("WithCheckpoints: every %d is outside 0 (off) and 1 to %d", c.cpEvery, maxCheckpointEach)
	case c.cpInterval != 0 && (c.cpInterval < minCheckpointTick || c.cpInterval > maxCheckpointTick):
		return bad("WithCheckpoints: interval %v is outside 0 (off) and %v to %v", c.cpInterval, minCheckpointTick, maxCheckpointTick)
	case c.sink == nil && (c.cpEvery > 0 || c.cpInterval > 0):
		return bad("WithCheckpoints: checkpoints every %d entries or %v need a sink", c.cpEvery, c.cpInterval)
	}
	return nil
}
