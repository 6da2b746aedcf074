package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rampart-sdk/rampart/auditlog"
)

// TxReader runs the Store's reads inside a transaction the caller owns
// (Store.WithTx): Verify, ReadPage, Entries, proofs and the outbox status
// then see exactly what that transaction sees (its own uncommitted outbox
// rows included, and, under REPEATABLE READ, one snapshot throughout). It
// has no writes: appends group-commit in the Store's own transactions by
// design (see the package doc), and a host records inside its transaction
// with RecordTx.
//
// Like the transaction itself, a TxReader is for one goroutine at a time;
// its Scan reads page after page on the transaction's connection, without
// the Store's read-ahead on a second connection.
type TxReader interface {
	auditlog.ChainReader
	// OutboxStatus is Store.OutboxStatus inside the transaction.
	OutboxStatus(ctx context.Context) (auditlog.OutboxStatus, error)
}

// txReader is the TxReader of WithTx.
type txReader struct {
	q querier
}

var _ TxReader = (*txReader)(nil)

// WithTx implements Store.WithTx.
func (s *store) WithTx(tx pgx.Tx) TxReader { return &txReader{q: tx} }

// Head implements auditlog.ChainReader.
func (r *txReader) Head(ctx context.Context, chain string) (auditlog.Head, error) {
	return head(ctx, r.q, chain)
}

// TreeHashes implements auditlog.ChainReader.
func (r *txReader) TreeHashes(ctx context.Context, chain string, indexes []int64) ([]tlog.Hash, error) {
	return treeHashes(ctx, r.q, chain, indexes)
}

// Scan implements auditlog.ChainReader, as Store.Scan does but on the
// transaction's one connection.
func (r *txReader) Scan(ctx context.Context, chain string, from uint64, fn func(e *auditlog.Entry) error) error {
	buf := make([]auditlog.Entry, 0, scanPage)
	at := int64(from)
	for {
		entries, err := page(ctx, r.q, chain, at, buf[:0])
		if err != nil {
			return err
		}
		for i := range entries {
			if err := fn(&entries[i]); err != nil {
				return err
			}
		}
		if len(entries) == scanPage {
			at = int64(entries[len(entries)-1].Seq) + 1
			continue
		}
		// The window is exhausted; a tampered chain may have a gap wider
		// than it, so look for the next row rather than stopping.
		var after *int64
		if err := r.q.QueryRow(ctx, `SELECT min(seq) FROM auditlog_entries WHERE chain = $1 AND seq >= $2`, chain, at+scanWindow).Scan(&after); err != nil {
			return fmt.Errorf("auditlog/pgstore: scan: %w", err)
		}
		if after == nil {
			return nil
		}
		at = *after
	}
}

// OutboxStatus implements TxReader.
func (r *txReader) OutboxStatus(ctx context.Context) (auditlog.OutboxStatus, error) {
	return outboxStatus(ctx, r.q)
}
