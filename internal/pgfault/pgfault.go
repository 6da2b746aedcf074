// Package pgfault makes a lost database connection a tested fault: it gives
// a test a pool whose PostgreSQL backends it can terminate
// (pg_terminate_backend) at a chosen point of an operation, or at random
// moments while a workload runs.
//
// A kill point is every place where a pgstore talks to the server: each
// connection handed out by the pool (so a pipeline or a transaction starts
// on a dead connection), each Query, QueryRow or Exec before it is sent,
// each SendBatch before it is sent, and each result of a batch after it
// was read (the server may then have run the rest of the batch, COMMIT
// included, or not). EachPoint runs an operation with the backend killed at
// point 1, then 2, and so on, until a run passes every point without a
// kill: every statement of the operation has then been interrupted once.
//
// Only backends that this pool opened are ever terminated (their PIDs are
// recorded as the pool connects), from a separate administrative pool, so
// tests sharing the server are not disturbed.
//
// What a caller can match after a killed connection: the stores wrap the
// driver's error with %w, so ConnectionLost (a *pgconn.PgError of class
// 08 or 57P01-57P03, a closed or reset connection, pgconn.SafeToRetry,
// pgconn.Timeout) recognises it through any number of wraps.
package pgfault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pool is a pool whose backends a test can kill.
type Pool struct {
	// Pool is the pool to build the store under test on.
	Pool *pgxpool.Pool

	admin *pgxpool.Pool

	mu     sync.Mutex
	pids   map[uint32]bool // backends this pool opened and has not closed
	points int             // kill points passed since Arm
	armAt  int             // kill at this point; 0: never
	fired  bool
	kills  int
	errs   []error
}

// New returns a Pool connected to url (pgtest.DB.URL) with at most
// maxConns connections; both pools are closed when the test ends.
func New(t testing.TB, url string, maxConns int32) *Pool {
	t.Helper()
	p := &Pool{pids: map[uint32]bool{}}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("pgfault: %v", err)
	}
	cfg.MaxConns = maxConns
	cfg.ConnConfig.Tracer = tracer{p}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		p.mu.Lock()
		p.pids[c.PgConn().PID()] = true
		p.mu.Unlock()
		return nil
	}
	cfg.BeforeClose = func(c *pgx.Conn) {
		p.mu.Lock()
		delete(p.pids, c.PgConn().PID())
		p.mu.Unlock()
	}
	cfg.PrepareConn = func(ctx context.Context, c *pgx.Conn) (bool, error) {
		p.point(ctx, c)
		return true, nil
	}
	acfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("pgfault: %v", err)
	}
	acfg.MaxConns = 2
	ctx := context.Background()
	if p.admin, err = pgxpool.NewWithConfig(ctx, acfg); err != nil {
		t.Fatalf("pgfault: %v", err)
	}
	t.Cleanup(p.admin.Close)
	if p.Pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		t.Fatalf("pgfault: %v", err)
	}
	t.Cleanup(p.Pool.Close)
	t.Cleanup(func() {
		if err := p.Err(); err != nil {
			t.Errorf("pgfault: %v", err)
		}
	})
	return p
}

// Arm makes the pool kill the backend it is about to use at the n-th kill
// point from now (n >= 1), and then not again until the next Arm.
func (p *Pool) Arm(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.points, p.armAt, p.fired = 0, n, false
}

// Disarm stops a pending kill and reports whether the armed one happened,
// and how many kill points were passed since Arm.
func (p *Pool) Disarm() (fired bool, points int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fired, points = p.fired, p.points
	p.armAt, p.fired = 0, false
	return fired, points
}

// Kills reports how many backends the pool has killed.
func (p *Pool) Kills() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kills
}

// Err reports a kill that could not be carried out.
func (p *Pool) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs...)
}

// point is one kill point on connection c.
func (p *Pool) point(ctx context.Context, c *pgx.Conn) {
	p.mu.Lock()
	p.points++
	kill := p.armAt > 0 && p.points == p.armAt
	if kill {
		p.fired = true
	}
	p.mu.Unlock()
	if kill {
		p.kill(context.WithoutCancel(ctx), c.PgConn().PID())
	}
}

// kill terminates backend pid, one of this pool's, and waits until it is
// gone.
func (p *Pool) kill(ctx context.Context, pid uint32) {
	p.mu.Lock()
	ours := p.pids[pid]
	p.mu.Unlock()
	if !ours {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var ok bool
	err := p.admin.QueryRow(ctx, `SELECT pg_terminate_backend($1, 20000)`, int64(pid)).Scan(&ok)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err != nil:
		p.errs = append(p.errs, fmt.Errorf("terminate backend %d: %w", pid, err))
	case ok:
		p.kills++
	}
	// !ok: the backend had already gone (the pool closed it meanwhile).
}

// KillRandomly kills one of the pool's backends, chosen at random, every
// interval drawn uniformly from [lo, hi), until the returned stop is
// called; stop waits for the killer and returns how many the pool killed.
func (p *Pool) KillRandomly(lo, hi time.Duration) (stop func() int) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			d := lo
			if hi > lo {
				d += rand.N(hi - lo)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
			p.mu.Lock()
			pids := make([]uint32, 0, len(p.pids))
			for pid := range p.pids {
				pids = append(pids, pid)
			}
			p.mu.Unlock()
			if len(pids) == 0 {
				continue
			}
			slices.Sort(pids)
			// Not ctx: stop must not turn a kill under way into an error.
			p.kill(context.Background(), pids[rand.N(len(pids))])
		}
	}()
	return func() int {
		cancel()
		<-done
		return p.Kills()
	}
}

// Outcome is what EachPoint hands to check after each run.
type Outcome struct {
	// Point is the kill point of this run (1-based).
	Point int
	// Killed reports whether the backend was killed in this run; the last
	// run, which passed every point, has Killed false.
	Killed bool
	// Err is what the operation returned.
	Err error
}

// EachPoint runs op with the backend killed at kill point 1, 2, ... until
// a run passes every point without a kill (at most limit runs), and calls
// check after each run. A panic in op fails the test with the point it
// happened at. It returns the number of kill points of a whole run.
func (p *Pool) EachPoint(t testing.TB, limit int, op func(ctx context.Context) error, check func(o Outcome)) int {
	t.Helper()
	for n := 1; n <= limit; n++ {
		p.Arm(n)
		err := p.run(t, n, op)
		fired, points := p.Disarm()
		check(Outcome{Point: n, Killed: fired, Err: err})
		if fired {
			// A connection killed after its last statement went back to
			// the pool alive as far as pgx knows: do not let it fail the
			// next run, which would then look like a failure without a kill.
			p.Pool.Reset()
		}
		if !fired {
			if n == 1 && points == 0 {
				t.Fatalf("pgfault: the operation passed no kill point: is the store built on Pool.Pool?")
			}
			return points
		}
	}
	t.Fatalf("pgfault: the operation still reached kill point %d", limit)
	return 0
}

func (p *Pool) run(t testing.TB, n int, op func(ctx context.Context) error) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("pgfault: panic with the backend killed at point %d: %v", n, r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return op(ctx)
}

// ConnectionLost reports whether err, through any wraps, says that the
// connection to the server was lost: the server's own notice that it
// terminated the backend (SQLSTATE 57P01-57P03) or any connection exception
// (class 08), or a connection that is closed, reset, timed out or that
// pgx knows sent nothing (pgconn.SafeToRetry).
func ConnectionLost(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", len(pe.Code) == 5 && pe.Code[:2] == "08":
			return true
		}
		return false
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false // the caller's own context, not the connection (a net.Error too)
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

type tracer struct{ p *Pool }

func (tr tracer) TraceQueryStart(ctx context.Context, c *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	tr.p.point(ctx, c)
	return ctx
}

func (tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (tr tracer) TraceBatchStart(ctx context.Context, c *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	tr.p.point(ctx, c)
	return ctx
}

func (tr tracer) TraceBatchQuery(ctx context.Context, c *pgx.Conn, _ pgx.TraceBatchQueryData) {
	tr.p.point(ctx, c)
}

func (tracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (tr tracer) TraceCopyFromStart(ctx context.Context, c *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	tr.p.point(ctx, c)
	return ctx
}

func (tracer) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}
