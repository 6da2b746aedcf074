package pgtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Tx begins a transaction on pool that commits when the test ends, before
// pool's schema is dropped. It is how a conformance suite runs a store bound
// to a caller's transaction: the commit fails, and so does the test, if any
// operation of the store left the transaction aborted. A test that has
// already committed or rolled back the transaction itself is left alone.
func Tx(t testing.TB, pool *pgxpool.Pool) pgx.Tx {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatalf("pgtest: begin: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tx.Commit(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
			t.Errorf("pgtest: commit the test's transaction: %v", err)
		}
	})
	return tx
}

// CommitsWithTheCaller checks that a store bound to a caller's transaction
// writes with it, in two parallel subtests "<name>/commit=false" and
// "<name>/commit=true". Each opens a fresh pool and store, runs setup (if
// any) on the pool-bound store, runs write on the store bound by bind to a
// transaction of the pool, checks through persisted (on the pool-bound
// store) that the write is not visible outside before the end of the
// transaction, then rolls back or commits and checks that the write is gone
// or there.
func CommitsWithTheCaller[S any](t *testing.T, name string, open func(t *testing.T) (*pgxpool.Pool, S),
	bind func(S, pgx.Tx) S, setup, write func(t *testing.T, s S), persisted func(t *testing.T, s S) bool) {
	t.Helper()
	for _, commit := range []bool{false, true} {
		t.Run(fmt.Sprintf("%s/commit=%v", name, commit), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool, s := open(t)
			if setup != nil {
				setup(t, s)
			}
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatalf("pgtest: begin: %v", err)
			}
			t.Cleanup(func() { _ = tx.Rollback(context.Background()) }) // a failed test must not leave it holding locks
			write(t, bind(s, tx))
			if persisted(t, s) {
				t.Fatalf("the write is visible outside the transaction before it ends")
			}
			end := tx.Rollback
			if commit {
				end = tx.Commit
			}
			if err := end(ctx); err != nil {
				t.Fatalf("pgtest: end the transaction (commit=%v): %v", commit, err)
			}
			if got := persisted(t, s); got != commit {
				t.Fatalf("after the transaction (commit=%v) the write is persisted=%v", commit, got)
			}
		})
	}
}
