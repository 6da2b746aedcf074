package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/auditlog"
)

var _ auditlog.PipelinedAppender = (*store)(nil)

// closeTimeout bounds closing a pipeline, which reads the outcomes still in
// flight.
const closeTimeout = 30 * time.Second

// errPipelinesBusy makes a Log append synchronously when pipelines already
// hold their share of the pool.
// errPipelineEnded: the server's results stopped before a batch's.
var errPipelineEnded = errors.New("results ended before the batch's")

var errPipelinesBusy = errors.New("auditlog/pgstore: every pipeline connection is in use")

// OpenPipeline implements auditlog.PipelinedAppender with a pooled
// connection in PostgreSQL's pipeline mode, held until Close. Each batch is
// the head-row lock and the insert, then a Sync: its own transaction, which
// the server starts as soon as it has committed the previous one, without
// waiting for the client. Pipelines hold at most half of the pool's
// connections (none in a pool of one); beyond that OpenPipeline fails at
// once and the Log appends without one.
func (s *store) OpenPipeline(ctx context.Context) (auditlog.Pipeline, error) {
	if n := s.pipelines.Add(1); n > int64(s.pool.Config().MaxConns)/2 {
		s.pipelines.Add(-1)
		return nil, errPipelinesBusy
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		s.pipelines.Add(-1)
		return nil, fmt.Errorf("auditlog/pgstore: connect: %w", err)
	}
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	p := &pipeline{
		s: s, conn: conn, tm: conn.Conn().TypeMap(),
		lockStmt:   "auditlog_lock_" + hex.EncodeToString(suffix[:]),
		insertStmt: "auditlog_insert_" + hex.EncodeToString(suffix[:]),
	}
	// The pipeline's context outlives this call; ctx bounds only the setup.
	p.ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, p.cancel)
	defer stop()
	p.pl = conn.Conn().PgConn().StartPipeline(p.ctx)
	p.pl.SendPrepare(p.lockStmt, lockChain, []uint32{pgtype.TextOID})
	p.pl.SendPrepare(p.insertStmt, insertEntries, insertTypes)
	err = p.pl.Sync()
	for range 3 { // two statement descriptions and the sync
		if err != nil {
			break
		}
		_, err = p.pl.GetResults()
	}
	if err != nil {
		p.broken = err
		_ = p.Close()
		return nil, fmt.Errorf("auditlog/pgstore: open pipeline: %w", err)
	}
	return p, nil
}

type pipeline struct {
	s      *store
	conn   *pgxpool.Conn
	tm     *pgtype.Map
	pl     *pgconn.Pipeline
	ctx    context.Context
	cancel context.CancelFunc

	lockStmt, insertStmt string
	buf                  []byte // the last batch's encoded parameters, reused
	inFlight             int    // batches sent whose Result was not read
	broken               error  // set once the connection's state is unknown
	closed               bool
}

var binaryParams = func() []int16 {
	f := make([]int16, len(insertTypes))
	for i := range f {
		f[i] = pgtype.BinaryFormatCode
	}
	return f
}()

func (p *pipeline) Send(expect auditlog.Head, b *auditlog.Batch) error {
	if p.broken != nil {
		return p.broken
	}
	if err := auditlog.CheckBatch(expect, b); err != nil {
		return err
	}
	// The parameters are encoded into one buffer, then sliced. The buffer
	// is kept for the next batch: pgconn copies the parameters into its own
	// before SendQueryPrepared returns.
	args := insertArgs(b)
	var (
		buf    = p.buf[:0]
		ends   = make([]int, len(args))
		params = make([][]byte, len(args))
		err    error
	)
	for i, a := range args {
		if buf, err = p.tm.Encode(insertTypes[i], pgtype.BinaryFormatCode, a, buf); err != nil {
			return fmt.Errorf("auditlog/pgstore: encode batch: %w", err)
		}
		ends[i] = len(buf)
	}
	start := 0
	for i, end := range ends {
		params[i], start = buf[start:end:end], end
	}
	p.pl.SendQueryPrepared(p.lockStmt, [][]byte{[]byte(expect.Chain)}, []int16{pgtype.TextFormatCode}, nil)
	p.pl.SendQueryPrepared(p.insertStmt, params, binaryParams, nil)
	p.buf = buf
	if err := p.pl.Sync(); err != nil {
		// Batches sent before may still be running on the server.
		p.broken = fmt.Errorf("auditlog/pgstore: pipeline: %w", p.s.classify(p.ctx, p.conn.Conn().PgConn(), err, p.inFlight > 0))
		return p.broken
	}
	p.inFlight++
	return nil
}

func (p *pipeline) Result(ctx context.Context) error {
	if p.broken != nil {
		return p.broken
	}
	if p.inFlight == 0 {
		return errors.New("auditlog/pgstore: pipeline: no batch in flight")
	}
	// If ctx ends first, the connection is interrupted: the pipeline is
	// broken and the outcome unknown.
	stop := context.AfterFunc(ctx, p.cancel)
	defer stop()
	p.inFlight--
	var failed error // the server's error, reported at the batch's sync
	for {
		res, err := p.pl.GetResults()
		if rr, ok := res.(*pgconn.ResultReader); ok && err == nil {
			_, err = rr.Close()
		}
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe):
			// The server skips the rest of the batch up to its sync, and
			// rolls the transaction back.
			if failed == nil {
				failed = err
			}
		case err != nil:
			if errors.As(failed, &pe) && pe.Severity == "FATAL" {
				err = failed // the server ended the session: the read after it failed
			}
			p.broken = fmt.Errorf("auditlog/pgstore: pipeline: %w", p.s.classify(ctx, p.conn.Conn().PgConn(), err, true))
			return p.broken
		case res == nil:
			// Never seen: what the server did is not known.
			p.broken = fmt.Errorf("auditlog/pgstore: pipeline: %w: %w", auditlog.ErrOutcomeUnknown, errPipelineEnded)
			return p.broken
		}
		if _, ok := res.(*pgconn.PipelineSync); ok {
			if failed == nil {
				return nil
			}
			err := fmt.Errorf("auditlog/pgstore: append: %w", mapErr(failed))
			if !errors.Is(err, auditlog.ErrFork) {
				p.broken = err // as auditlog.Pipeline promises
			}
			return err
		}
	}
}

func (p *pipeline) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	defer p.s.pipelines.Add(-1)
	// Reading what is in flight is bounded: a server that stopped answering
	// interrupts the connection, which is then discarded.
	bound, cancel := context.WithTimeout(context.Background(), p.s.closeTimeout)
	defer cancel()
	defer context.AfterFunc(bound, p.cancel)()
	var err error
	if p.broken == nil {
		// Leave the pooled connection as it was found, in the same round
		// trip as reading what is still in flight.
		p.pl.SendDeallocate(p.lockStmt)
		p.pl.SendDeallocate(p.insertStmt)
		err = p.pl.Sync()
	}
	err = errors.Join(err, p.pl.Close())
	p.cancel()
	if err != nil || p.broken != nil {
		// Its state is unknown: the pool must not hand it out again.
		_ = p.conn.Conn().Close(context.Background())
		if p.broken == nil && p.inFlight > 0 {
			// Batches whose outcome was not read may still be running:
			// end the session so that they are settled once Close returns.
			if ferr := p.s.fence(bound, p.conn.Conn().PgConn().PID()); ferr != nil {
				err = errors.Join(err, fmt.Errorf("auditlog/pgstore: pipeline: ending the session: %w", ferr))
			}
		}
	}
	p.conn.Release()
	return err
}
