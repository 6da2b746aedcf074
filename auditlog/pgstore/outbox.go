package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rampart-sdk/rampart/auditlog"
)

// ErrNoTx is returned by RecordTx given no transaction.
var ErrNoTx = errors.New("auditlog/pgstore: RecordTx needs the caller's transaction")

// RecordTx records e through the outbox inside tx, the caller's
// transaction: it validates e as log.Append would (log's registry and
// clock; a defective entry fails here, with the error Append would
// return) and inserts one row into auditlog_outbox, nothing else. The
// entry is sealed into its chain by a relay (auditlog.Log.RunOutbox over a
// Store) after tx commits; if tx rolls back, there is no entry, ever.
//
// The row's chain is derived from e.Org by the database (a generated
// column), its id and queue time are set by a trigger: a caller cannot
// steer a row into another organisation's chain nor ahead of rows already
// queued. The role running tx needs only INSERT on auditlog_outbox
// (WithAppRole or WithRecordRole grants it).
func RecordTx(ctx context.Context, tx pgx.Tx, log *auditlog.Log, e auditlog.Entry) error {
	if tx == nil || log == nil {
		return ErrNoTx
	}
	p, err := log.Prepare(e)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, insertOutbox, p.Org, p.Time, p.Actor, p.Action, int64(p.SchemaVersion), p.Target,
		p.Request.IP, p.Request.UserAgent, p.Request.RequestID, p.Payload)
	if err != nil {
		return fmt.Errorf("auditlog/pgstore: record in outbox: %w", err)
	}
	return nil
}

const insertOutbox = `INSERT INTO auditlog_outbox (org, at, actor, action, schema_version, target, ip, user_agent, request_id, payload)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

var _ auditlog.Outbox = (*Store)(nil)

// OutboxChains implements auditlog.Outbox: the chains with waiting rows,
// the one waiting longest first.
func (s *Store) OutboxChains(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT chain FROM auditlog_outbox GROUP BY chain ORDER BY min(id) LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("auditlog/pgstore: outbox chains: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("auditlog/pgstore: outbox chains: %w", err)
	}
	return out, nil
}

// OutboxStatus implements auditlog.Outbox through auditlog_outbox_status,
// which the application, relay and maintenance roles may execute without
// reading the rows.
func (s *Store) OutboxStatus(ctx context.Context) (auditlog.OutboxStatus, error) {
	var (
		st     auditlog.OutboxStatus
		oldest *time.Time
	)
	if err := s.pool.QueryRow(ctx, `SELECT depth, oldest FROM auditlog_outbox_status()`).Scan(&st.Depth, &oldest); err != nil {
		return st, fmt.Errorf("auditlog/pgstore: outbox status: %w", err)
	}
	if oldest != nil {
		st.Oldest = oldest.UTC()
	}
	return st, nil
}

// claimOutbox reads a chain's waiting rows in insertion order. The chain's
// head lock, taken before, keeps every other relay off them.
const claimOutbox = `SELECT id, org, chain, at, actor, action, schema_version, target, ip, user_agent, request_id, payload
	FROM auditlog_outbox WHERE chain = $1 ORDER BY id LIMIT $2`

// RelayOutbox implements auditlog.Outbox in one transaction of two round
// trips (three when the tree frontier must be read): BEGIN, the head-row
// lock, the head and the waiting rows; then the entries, the removal of
// the rows (auditlog_outbox_done, which refuses to remove more rows than
// the transaction appended entries to the chain) and COMMIT. The role
// needs what WithRelayRole grants.
func (s *Store) RelayOutbox(ctx context.Context, chain string, max int, seal auditlog.OutboxSealFunc) (int, error) {
	if max <= 0 {
		return 0, nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("auditlog/pgstore: connect: %w", s.classify(ctx, nil, err, false))
	}
	defer conn.Release()
	inTx := true
	defer func() {
		if inTx {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	pc := conn.Conn().PgConn()
	var pb pgx.Batch
	pb.Queue("BEGIN")
	pb.Queue(lockChain, chain)
	pb.Queue(`SELECT seq, entry_hash FROM auditlog_entries WHERE chain = $1 ORDER BY seq DESC LIMIT 1`, chain)
	pb.Queue(claimOutbox, chain, max)
	br := conn.SendBatch(ctx, &pb)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return 0, fmt.Errorf("auditlog/pgstore: relay: begin: %w", s.classify(ctx, pc, err, false))
	}
	if _, err := br.Exec(); err != nil {
		br.Close()
		return 0, fmt.Errorf("auditlog/pgstore: relay: lock chain: %w", s.classify(ctx, pc, err, false))
	}
	h, err := head(ctx, batchRow{br}, chain)
	if err != nil {
		br.Close()
		return 0, s.classify(ctx, pc, err, false)
	}
	var (
		ids     []int64
		waiting []auditlog.Entry
	)
	rows, err := br.Query()
	if err == nil {
		for rows.Next() {
			var (
				id int64
				sv int32
				e  auditlog.Entry
			)
			if err = rows.Scan(&id, &e.Org, &e.Chain, &e.Time, &e.Actor, &e.Action, &sv, &e.Target,
				&e.Request.IP, &e.Request.UserAgent, &e.Request.RequestID, &e.Payload); err != nil {
				break
			}
			e.SchemaVersion, e.Time = uint32(max32(sv)), e.Time.UTC()
			ids, waiting = append(ids, id), append(waiting, e)
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("auditlog/pgstore: relay: claim: %w", s.classify(ctx, pc, err, false))
	}
	if len(waiting) == 0 {
		return 0, nil // the deferred ROLLBACK ends the transaction
	}
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return treeHashes(ctx, conn, chain, idx)
	})
	b, err := seal(h, reader, waiting)
	if err != nil {
		return 0, s.classify(ctx, pc, err, false)
	}
	if len(b.Entries) != len(waiting) {
		return 0, fmt.Errorf("auditlog/pgstore: relay: %d entries sealed for %d outbox rows", len(b.Entries), len(waiting))
	}
	if err := auditlog.CheckBatch(h, b); err != nil {
		return 0, err
	}
	var ib pgx.Batch
	queueInserts(&ib, b)
	ib.Queue(`SELECT auditlog_outbox_done($1, $2, $3)`, chain, int64(h.Size), ids)
	ib.Queue("COMMIT")
	if err := conn.SendBatch(ctx, &ib).Close(); err != nil {
		return 0, fmt.Errorf("auditlog/pgstore: relay: %w", s.classify(ctx, pc, mapErr(err), true))
	}
	inTx = false
	return len(waiting), nil
}

// max32 keeps a stored schema version (int4, CHECK >= 0) non-negative.
func max32(v int32) int32 { return max(v, 0) }
