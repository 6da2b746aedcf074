package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rampart-sdk/rampart/auditlog"
)

var _ auditlog.RetentionRecorder = (*store)(nil)

// mapRetentionErr maps the retention functions' refusals to auditlog's
// sentinels: RA003 a cutoff inside the retention (or none configured),
// RA004 a change committed without its audit entry.
func mapRetentionErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "RA003":
			return fmt.Errorf("%w: %s", auditlog.ErrInsideRetention, pe.Message)
		case "RA004":
			return fmt.Errorf("%w: %s", auditlog.ErrNotRecorded, pe.Message)
		}
	}
	return err
}

// PruneRecorded implements auditlog.RetentionRecorder in one transaction:
// lock chain's head, prune (auditlog_prune_payloads, which refuses a cutoff
// inside the retention), seal record(pruned) onto the head and append it,
// commit. The database checks at commit that the entry is there. If nothing
// was pruned the transaction is rolled back and record is not called. On
// any error nothing changed, unless the connection was lost during the
// commit; either way a retry is safe: what is already pruned is not pruned
// (nor recorded) twice.
func (s *store) PruneRecorded(ctx context.Context, chain string, before time.Time, record func(pruned int64) (auditlog.Entry, error)) (int64, error) {
	var n int64
	err := s.recorded(ctx, chain, func(tx pgx.Tx) (*auditlog.Entry, error) {
		if err := tx.QueryRow(ctx, `SELECT auditlog_prune_payloads($1, $2)`, chain, before).Scan(&n); err != nil {
			return nil, fmt.Errorf("auditlog/pgstore: prune: %w", mapRetentionErr(err))
		}
		if n == 0 {
			return nil, nil
		}
		e, err := record(n)
		return &e, err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// LiftHoldRecorded implements auditlog.RetentionRecorder in one
// transaction: lock record.Chain's head, lift the hold
// (auditlog_lift_hold), seal record onto the head and append it, commit.
// The database checks at commit that record is in the hold's chain.
func (s *store) LiftHoldRecorded(ctx context.Context, id string, at time.Time, record auditlog.Entry) error {
	return s.recorded(ctx, record.Chain, func(tx pgx.Tx) (*auditlog.Entry, error) {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT auditlog_lift_hold($1, $2)`, id, at).Scan(&ok); err != nil {
			return nil, fmt.Errorf("auditlog/pgstore: lift hold: %w", mapRetentionErr(err))
		}
		if !ok {
			return nil, fmt.Errorf("%w: hold %q", auditlog.ErrNotFound, id)
		}
		return &record, nil
	})
}

// recorded runs change in a transaction holding chain's head lock, then
// seals the entry it returns onto the head, appends it and commits; if it
// returns no entry, nothing is committed.
func (s *store) recorded(ctx context.Context, chain string, change func(tx pgx.Tx) (*auditlog.Entry, error)) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("auditlog/pgstore: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, lockChain, chain); err != nil {
		return fmt.Errorf("auditlog/pgstore: lock chain: %w", err)
	}
	e, err := change(tx)
	if err != nil || e == nil {
		return err
	}
	if e.Chain != chain {
		return fmt.Errorf("%w: record is for chain %q, not %q", auditlog.ErrBadEntry, e.Chain, chain)
	}
	h, err := head(ctx, tx, chain)
	if err != nil {
		return err
	}
	b, _, _, err := auditlog.Seal(h, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return treeHashes(ctx, tx, chain, idx)
	}), []auditlog.Entry{*e})
	if err != nil {
		return err
	}
	if err := auditlog.CheckBatch(h, b); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, insertEntries, insertArgs(b)...); err != nil {
		return fmt.Errorf("auditlog/pgstore: record: %w", mapErr(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("auditlog/pgstore: commit: %w", mapRetentionErr(err))
	}
	return nil
}
