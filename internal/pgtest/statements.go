package pgtest

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Statements counts the statements a pool sends to the server (each BEGIN
// and COMMIT counts as one: each is a round trip), so a test or benchmark
// can report and bound the round trips of a code path without reading its
// code. Attach it with CountingPool.
type Statements struct {
	mu   sync.Mutex
	n    int
	last []string
}

// TraceQueryStart implements pgx.QueryTracer.
func (s *Statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	s.mu.Lock()
	s.n++
	s.last = append(s.last, data.SQL)
	s.mu.Unlock()
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (*Statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// Count runs f and returns how many statements it sent, and their SQL.
// Calls of Count must not overlap.
func (s *Statements) Count(f func()) (int, []string) {
	s.mu.Lock()
	s.n, s.last = 0, nil
	s.mu.Unlock()
	f()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, s.last
}

// CountingPool opens a second pool on db's schema whose statements st
// counts; it is closed when the test ends.
func CountingPool(t testing.TB, db *DB) (*pgxpool.Pool, *Statements) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		t.Fatalf("pgtest: parse url: %v", err)
	}
	st := &Statements{}
	cfg.ConnConfig.Tracer = st
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, st
}
