package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rampart-sdk/rampart/auditlog"
)

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
	return recordOutbox(ctx, tx, log, e)
}

// recordOutbox validates e with log and inserts its outbox row on q.
func recordOutbox(ctx context.Context, q interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}, log *auditlog.Log, e auditlog.Entry) error {
	p, err := log.Prepare(e)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, insertOutbox, p.Org, p.Time, p.Actor, p.Action, int64(p.SchemaVersion), p.Target,
		p.Request.IP, p.Request.UserAgent, p.Request.RequestID, p.Payload)
	if err != nil {
		return fmt.Errorf("auditlog/pgstore: record in outbox: %w", err)
	}
	return nil
}

const insertOutbox = `INSERT INTO auditlog_outbox (org, at, actor, action, schema_version, target, ip, user_agent, request_id, payload)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

var _ auditlog.Outbox = (*store)(nil)

// OutboxChains implements auditlog.Outbox: the chains with waiting rows,
// in name order. It skips through the (chain, id) index, one probe per
// chain, rather than reading the table: between vacuums the table holds
// every row relayed since, which a scan would read on every pass.
func (s *store) OutboxChains(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `WITH RECURSIVE c(chain) AS (
			(SELECT o.chain FROM auditlog_outbox o ORDER BY o.chain LIMIT 1)
			UNION ALL
			SELECT (SELECT o.chain FROM auditlog_outbox o WHERE o.chain > c.chain ORDER BY o.chain LIMIT 1)
			  FROM c WHERE c.chain IS NOT NULL)
		SELECT chain FROM c WHERE chain IS NOT NULL LIMIT $1`, limit)
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
func (s *store) OutboxStatus(ctx context.Context) (auditlog.OutboxStatus, error) {
	return outboxStatus(ctx, s.pool)
}

// OutboxBacklog implements Store.OutboxBacklog through
// auditlog_outbox_status, so it needs no right to read the rows.
func (s *store) OutboxBacklog(ctx context.Context) (depth int64, oldestAge time.Duration, err error) {
	var secs float64
	err = s.pool.QueryRow(ctx, `SELECT depth, COALESCE(extract(epoch FROM clock_timestamp() - oldest), 0)::float8
		FROM auditlog_outbox_status()`).Scan(&depth, &secs)
	if err != nil {
		return 0, 0, fmt.Errorf("auditlog/pgstore: outbox backlog: %w", err)
	}
	return depth, max(time.Duration(secs*float64(time.Second)), 0), nil
}

func outboxStatus(ctx context.Context, q querier) (auditlog.OutboxStatus, error) {
	var (
		st     auditlog.OutboxStatus
		oldest *time.Time
	)
	if err := q.QueryRow(ctx, `SELECT depth, oldest FROM auditlog_outbox_status()`).Scan(&st.Depth, &oldest); err != nil {
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

// relayBatches bounds how many batches one RelayOutbox call relays, so
// that a busy chain does not keep a relay from the others.
const relayBatches = 64

// RelayOutbox implements auditlog.Outbox. Each batch is one transaction:
// BEGIN, the head-row lock, the head and the waiting rows; then the
// entries, the removal of the rows (auditlog_outbox_done, which refuses to
// remove more rows than the transaction appended entries to the chain)
// and COMMIT, in the same round trip as the next batch's BEGIN, lock, head
// and rows. So a busy chain costs one round trip per batch (two when the
// tree frontier must be read). The role needs what WithRelayRole grants.
func (s *store) RelayOutbox(ctx context.Context, chain string, max int, seal auditlog.OutboxSealFunc, committed func(*auditlog.Batch)) (int, error) {
	if max <= 0 {
		return 0, nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("auditlog/pgstore: connect: %w", s.classify(ctx, nil, err, false))
	}
	defer conn.Release()
	inTx := false
	defer func() {
		if inTx {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	pc := conn.Conn().PgConn()
	queueClaim := func(pb *pgx.Batch) {
		pb.Queue("BEGIN")
		pb.Queue(lockChain, chain)
		pb.Queue(`SELECT seq, entry_hash FROM auditlog_entries WHERE chain = $1 ORDER BY seq DESC LIMIT 1`, chain)
		pb.Queue(claimOutbox, chain, max)
	}
	var pb pgx.Batch
	queueClaim(&pb)
	br := conn.SendBatch(ctx, &pb)
	total := 0
	for round := 1; ; round++ {
		h, ids, waiting, err := readClaim(ctx, br, chain, &inTx)
		if cerr := br.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return total, fmt.Errorf("auditlog/pgstore: relay: claim: %w", s.classify(ctx, pc, err, false))
		}
		if len(waiting) == 0 {
			return total, nil // the deferred ROLLBACK ends the transaction
		}
		reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			return treeHashes(ctx, conn, chain, idx)
		})
		b, err := seal(h, reader, waiting)
		if err != nil {
			return total, s.classify(ctx, pc, err, false)
		}
		if len(b.Entries) != len(waiting) {
			return total, fmt.Errorf("auditlog/pgstore: relay: %d entries sealed for %d outbox rows", len(b.Entries), len(waiting))
		}
		if err := auditlog.CheckBatch(h, b); err != nil {
			return total, err
		}
		var ib pgx.Batch
		queueInserts(&ib, b)
		ib.Queue(`SELECT auditlog_outbox_done($1, $2, $3)`, chain, int64(h.Size), ids)
		ib.Queue("COMMIT")
		more := round < relayBatches
		if more {
			queueClaim(&ib)
		}
		br = conn.SendBatch(ctx, &ib)
		for range 3 { // the inserts, the removal, COMMIT
			if _, err = br.Exec(); err != nil {
				break
			}
		}
		if err != nil {
			br.Close()
			return total, fmt.Errorf("auditlog/pgstore: relay: %w", s.classify(ctx, pc, mapErr(err), true))
		}
		inTx = false
		total += len(waiting)
		committed(b)
		if !more {
			if err := br.Close(); err != nil {
				return total, fmt.Errorf("auditlog/pgstore: relay: %w", s.classify(ctx, pc, err, false))
			}
			return total, nil
		}
	}
}

// readClaim reads the results of a claim (BEGIN, the lock, the head, the
// rows) from br; inTx is set once BEGIN succeeded.
func readClaim(ctx context.Context, br pgx.BatchResults, chain string, inTx *bool) (auditlog.Head, []int64, []auditlog.Entry, error) {
	if _, err := br.Exec(); err != nil {
		return auditlog.Head{}, nil, nil, err
	}
	*inTx = true
	if _, err := br.Exec(); err != nil {
		return auditlog.Head{}, nil, nil, err
	}
	h, err := head(ctx, batchRow{br}, chain)
	if err != nil {
		return auditlog.Head{}, nil, nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return h, nil, nil, err
	}
	defer rows.Close()
	var (
		ids     []int64
		waiting []auditlog.Entry
	)
	for rows.Next() {
		var (
			id int64
			sv int32
			e  auditlog.Entry
		)
		if err := rows.Scan(&id, &e.Org, &e.Chain, &e.Time, &e.Actor, &e.Action, &sv, &e.Target,
			&e.Request.IP, &e.Request.UserAgent, &e.Request.RequestID, &e.Payload); err != nil {
			return h, nil, nil, err
		}
		e.SchemaVersion, e.Time = uint32(max(sv, 0)), e.Time.UTC()
		ids, waiting = append(ids, id), append(waiting, e)
	}
	return h, ids, waiting, rows.Err()
}

// TxRecorder records entries given as positional arguments, the shape of
// auditlog.Log.Record, through the outbox in a caller's transaction. Other
// packages' PostgreSQL stores (privacy/pgstore's WithAuditOutbox) declare
// the one method they need and take a TxRecorder, so that they can record
// the audit entry of their own write in its transaction without importing
// auditlog.
type TxRecorder struct{ log *auditlog.Log }

// NewTxRecorder returns a TxRecorder that validates entries with log's
// registry and clock, as RecordTx does.
func NewTxRecorder(log *auditlog.Log) *TxRecorder { return &TxRecorder{log: log} }

// RecordTx records one entry in tx through the outbox, as RecordTx does:
// org "" is the global system chain, actor is "user:<id>", "apikey:<id>"
// or "system:<source>", target is "<type>:<id>" or "", and payload is
// encoded as auditlog.CanonicalPayload encodes it. A defective entry fails
// here, with the error log.Append would return, and writes nothing.
func (r *TxRecorder) RecordTx(ctx context.Context, tx pgx.Tx, org, actor, action, target string, payload map[string]any) error {
	if r == nil || r.log == nil {
		return ErrNoTx
	}
	e, err := positionalEntry(org, actor, action, target, payload)
	if err != nil {
		return err
	}
	return RecordTx(ctx, tx, r.log, e)
}

// positionalEntry builds the entry of Log.Record's positional arguments,
// its payload encoded as auditlog.CanonicalPayload encodes it.
func positionalEntry(org, actor, action, target string, payload map[string]any) (auditlog.Entry, error) {
	p, err := auditlog.CanonicalPayload(payload)
	if err != nil {
		return auditlog.Entry{}, err
	}
	return auditlog.Entry{Org: org, Actor: actor, Action: action, Target: target, Payload: p}, nil
}
