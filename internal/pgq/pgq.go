// Package pgq is the querier shape every rampart pgstore runs on: the subset
// of pgx's methods that a *pgxpool.Pool, a *pgx.Conn and a pgx.Tx all have.
//
// A store built on a pool runs each operation on its own: a single statement
// autocommits, and an operation of several statements opens its own
// transaction with pgx.BeginFunc. The same code bound to a caller's pgx.Tx
// runs every statement inside that transaction, and pgx.BeginFunc on a Tx
// opens a savepoint instead: an operation that fails rolls back to it and
// leaves the caller's transaction usable; one that succeeds releases it and
// commits, or not, with the caller.
package pgq

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Querier runs statements. *pgxpool.Pool, *pgx.Conn and pgx.Tx satisfy it.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	// Begin starts a transaction on a pool or a connection, and a
	// savepoint on a transaction.
	Begin(ctx context.Context) (pgx.Tx, error)
}

var (
	_ Querier = (*pgxpool.Pool)(nil)
	_ Querier = (*pgx.Conn)(nil)
	_ Querier = pgx.Tx(nil)
)

// ErrNilTx is what every operation of a store bound to a nil transaction
// returns. It wraps pgx.ErrTxClosed, what pgx returns for a transaction that
// has already committed or rolled back, so one errors.Is check covers both.
var ErrNilTx = fmt.Errorf("no transaction (nil pgx.Tx): %w", pgx.ErrTxClosed)

// Tx returns tx as a Querier; a nil tx becomes a Querier whose every
// statement fails with ErrNilTx instead of panicking.
func Tx(tx pgx.Tx) Querier {
	if tx == nil {
		return nilTx{}
	}
	return tx
}

type nilTx struct{}

func (nilTx) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, ErrNilTx
}

func (nilTx) Query(context.Context, string, ...any) (pgx.Rows, error) { return errRows{}, ErrNilTx }

func (nilTx) QueryRow(context.Context, string, ...any) pgx.Row { return errRow{} }

func (nilTx) SendBatch(context.Context, *pgx.Batch) pgx.BatchResults { return errBatch{} }

func (nilTx) Begin(context.Context) (pgx.Tx, error) { return nil, ErrNilTx }

type errRow struct{}

func (errRow) Scan(...any) error { return ErrNilTx }

type errBatch struct{}

func (errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, ErrNilTx }
func (errBatch) Query() (pgx.Rows, error)         { return errRows{}, ErrNilTx }
func (errBatch) QueryRow() pgx.Row                { return errRow{} }
func (errBatch) Close() error                     { return ErrNilTx }
func (errBatch) Tx() pgx.Tx                       { return nil }

// errRows is an empty result that failed, for callers that use the rows
// before checking the error (as pgx's own helpers allow).
type errRows struct{}

func (errRows) Close()                                       {}
func (errRows) Err() error                                   { return ErrNilTx }
func (errRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (errRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (errRows) Next() bool                                   { return false }
func (errRows) Scan(...any) error                            { return ErrNilTx }
func (errRows) Values() ([]any, error)                       { return nil, ErrNilTx }
func (errRows) RawValues() [][]byte                          { return nil }
func (errRows) Conn() *pgx.Conn                              { return nil }
func (errRows) TypeMap() *pgtype.Map                         { return nil }
