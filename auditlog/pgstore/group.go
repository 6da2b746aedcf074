package pgstore

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rampart-sdk/rampart/auditlog"
)

// Group commit across chains. A Log writes each chain with a writer of its
// own, which commits one batch at a time: with entries spread over many
// chains, each batch holds about one entry, and every entry paid a
// transaction and a WAL flush of its own (aggregate throughput fell 2.3-3x
// from 1 to 100 chains). AppendSealed therefore hands its batch to the
// Store's group committer: while fewer than groupCommitters transactions
// are in flight, a batch is committed at once, alone, as before; otherwise
// it waits for the next free committer, which takes every waiting batch
// (one per chain) into one transaction. A batch never waits for company,
// only for a committer, so a lone writer's latency is unchanged.
//
// Each batch keeps every guarantee it had alone. The transaction locks the
// head rows of its chains in one statement, in byte order of the chain
// names (so two groups, in any processes, cannot deadlock), inserts every
// entry in one statement whose extend trigger checks each chain's run
// against that chain's head, and commits: all of it or none. When the
// server refuses a group (one batch forks, or breaks a constraint), nothing
// of it was stored, and each batch is committed again alone, so that only
// the batch at fault gets the error. When the connection fails instead,
// every batch of the group gets the same classified error, which holds for
// each of them as the group was one transaction.
//
// The price: a group waits for the head locks of all its chains, so a chain
// whose lock another transaction holds for long (a prune recorded on it, an
// outbox relay's batch, another process's writer) delays the other chains
// of the group as long. Every other transaction of this package locks one
// chain only, so no lock cycle, hence no deadlock, can form with a group.

// groupMaxEntries bounds the entries one group transaction carries; a
// batch larger than that still goes, alone.
const groupMaxEntries = 2048

// groupCommitters returns how many group transactions may be in flight at
// once: a quarter of the pool, from one to four. More committers means
// smaller groups, so more commits; fewer leaves the server idle between
// round trips. One to four did equally well in the growth benchmark (64
// appenders over 100 chains, a pool of 16); eight and sixteen fell back
// towards a commit per entry.
func (s *store) groupCommitters() int {
	return max(1, min(4, int(s.pool.Config().MaxConns)/4))
}

// groupReq is one AppendSealed call waiting in the group queue.
type groupReq struct {
	ctx    context.Context
	expect auditlog.Head
	b      *auditlog.Batch
	taken  bool // guarded by group.mu
	done   chan struct{}
	err    error
}

// group is the Store's queue of sealed batches waiting for a committer.
type group struct {
	mu     sync.Mutex
	queue  []*groupReq
	active int // committing goroutines
}

// AppendSealed implements auditlog.SealedAppender: b is stored, in a
// transaction that may carry other chains' batches too (see the group
// commit above), in one round trip: BEGIN, the head-row locks, the insert
// and COMMIT are pipelined. If the head is not expect, the extend trigger
// (or a unique constraint) refuses the insert and nothing of b is stored:
// ErrFork. If ctx ends before b joins a transaction, AppendSealed returns
// ctx's error (wrapped with auditlog.ErrConnectionLost: nothing was
// sent); once it has joined one, ctx ending interrupts that transaction,
// as it would b's own.
func (s *store) AppendSealed(ctx context.Context, expect auditlog.Head, b *auditlog.Batch) error {
	if err := auditlog.CheckBatch(expect, b); err != nil {
		return err
	}
	r := &groupReq{ctx: ctx, expect: expect, b: b, done: make(chan struct{})}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, r)
	start := g.active < s.groupCommitters()
	if start {
		g.active++
	}
	g.mu.Unlock()
	if start {
		go s.commitGroups()
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
	}
	g.mu.Lock()
	if !r.taken {
		if i := slices.Index(g.queue, r); i >= 0 {
			g.queue = slices.Delete(g.queue, i, i+1)
		}
		g.mu.Unlock()
		return fmt.Errorf("auditlog/pgstore: append: %w: %w", auditlog.ErrConnectionLost, ctx.Err())
	}
	g.mu.Unlock()
	<-r.done
	return r.err
}

// commitGroups commits groups of waiting batches until none waits.
func (s *store) commitGroups() {
	var reqs []*groupReq
	defer func() {
		// A panic here would end the host: it fails the group instead,
		// whose outcome is then not known.
		if p := recover(); p != nil {
			err := fmt.Errorf("auditlog/pgstore: append: %w: %w: panic: %v\n%s", auditlog.ErrInternal, auditlog.ErrOutcomeUnknown, p, debug.Stack())
			for _, r := range reqs {
				select {
				case <-r.done:
				default:
					r.err = err
					close(r.done)
				}
			}
			s.group.mu.Lock()
			restart := len(s.group.queue) > 0
			if !restart {
				s.group.active--
			}
			s.group.mu.Unlock()
			if restart {
				go s.commitGroups()
			}
		}
	}()
	for {
		reqs = s.takeGroup()
		if reqs == nil {
			return
		}
		s.commitGroup(reqs)
		reqs = nil
	}
}

// takeGroup takes waiting batches, oldest first, at most one per chain and
// about groupMaxEntries entries in all. With none waiting it retires the
// calling committer and returns nil.
func (s *store) takeGroup() []*groupReq {
	g := &s.group
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.active--
		return nil
	}
	var (
		out    []*groupReq
		chains = map[string]bool{}
		n      int
	)
	rest := g.queue[:0]
	for _, r := range g.queue {
		if chains[r.expect.Chain] || (len(out) > 0 && n+len(r.b.Entries) > groupMaxEntries) {
			rest = append(rest, r)
			continue
		}
		chains[r.expect.Chain] = true
		n += len(r.b.Entries)
		r.taken = true
		out = append(out, r)
	}
	clear(g.queue[len(rest):])
	g.queue = rest
	return out
}

// commitGroup stores reqs in one transaction and answers each. A group the
// server refused is stored again batch by batch.
func (s *store) commitGroup(reqs []*groupReq) {
	err := s.appendSealed(reqs)
	if len(reqs) > 1 && refused(err) {
		// Refused by the server: rolled back, nothing stored. Find out
		// whose batch it was by storing each alone.
		for _, r := range reqs {
			r.err = s.appendSealed([]*groupReq{r})
			close(r.done)
		}
		return
	}
	for _, r := range reqs {
		r.err = err
		close(r.done)
	}
}

// refused reports whether err is the server refusing a statement (a fork,
// a constraint): its transaction rolled back, and the session lives on.
func refused(err error) bool {
	var pe *pgconn.PgError
	return errors.Is(err, auditlog.ErrFork) ||
		errors.As(err, &pe) && pe.Severity != "FATAL" && pe.Severity != "PANIC"
}

// appendSealed stores reqs' batches in one transaction, in one round trip.
// Its context ends when the first of theirs does.
func (s *store) appendSealed(reqs []*groupReq) error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(reqs[0].ctx))
	defer cancel()
	for _, r := range reqs {
		defer context.AfterFunc(r.ctx, cancel)()
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("auditlog/pgstore: connect: %w", s.classify(ctx, nil, err, false))
	}
	defer conn.Release()
	inTx := true
	defer func() {
		if inTx {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	var pb pgx.Batch
	pb.Queue("BEGIN")
	b := reqs[0].b
	if len(reqs) == 1 {
		pb.Queue(lockChain, reqs[0].expect.Chain)
	} else {
		// Locked in byte order of the names, which every group follows.
		chains := make([]string, len(reqs))
		all := &auditlog.Batch{}
		for i, r := range reqs {
			chains[i] = r.expect.Chain
			all.Entries = append(all.Entries, r.b.Entries...)
			all.Tree = append(all.Tree, r.b.Tree...)
		}
		slices.SortFunc(chains, strings.Compare)
		pb.Queue(lockChains, chains)
		b = all
	}
	queueInserts(&pb, b)
	pb.Queue("COMMIT")
	if err := conn.SendBatch(ctx, &pb).Close(); err != nil {
		return fmt.Errorf("auditlog/pgstore: append: %w", s.classify(ctx, conn.Conn().PgConn(), mapErr(err), true))
	}
	inTx = false
	return nil
}

// lockChains takes the head-row locks of several chains, in the order
// given, for the rest of the transaction.
const lockChains = `SELECT auditlog_lock_chain(c) FROM unnest($1::text[]) AS c`
