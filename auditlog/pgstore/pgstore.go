// Package pgstore is the PostgreSQL Store of auditlog.
//
// Each chain is serialised in the database: a writer locks the chain's row
// in auditlog_heads for the length of its transaction, so any number of
// processes can append to one chain and produce one valid chain. Beneath
// that lock the schema itself refuses forks: UNIQUE (chain, seq), UNIQUE
// (prev_hash, chain), and an INSERT trigger (once per statement) that
// rejects any new row whose sequence number or previous hash does not link
// it to its predecessor, so new rows can only extend the head. UPDATE, DELETE
// and TRUNCATE are rejected by triggers enabled ALWAYS; payload pruning is
// possible only through the SECURITY DEFINER function auditlog_prune_payloads.
// Posture reports whether a deployment still looks like that, with the SQL
// that fixes each difference, and Repair applies it.
//
// Retention is not the application's: the application role (WithAppRole)
// may not execute auditlog_prune_payloads or auditlog_lift_hold; a separate
// maintenance role (WithMaintenanceRole) may, and even it cannot prune a
// cutoff inside the retention stored in the database by the schema owner
// (WithRetention; with none stored nothing may be pruned), nor commit a
// prune or a lift that changed anything unless the same transaction
// appended the entry recording it to the affected chain (a deferred
// constraint trigger on the auditlog_maintenance journal checks). Log.Prune
// and Log.LiftHold do this through PruneRecorded and LiftHoldRecorded.
//
// The outbox (migration 003): RecordTx inserts an entry, validated by the
// Log, into auditlog_outbox inside the caller's transaction (a pgx.Tx), so
// it commits or rolls back with the host's own change. The Store is an
// auditlog.Outbox: Log.RunOutbox relays waiting rows, one transaction per
// batch that locks the chain's head, appends the entries and deletes their
// rows through the SECURITY DEFINER function auditlog_outbox_done, which
// refuses to delete more rows than the transaction appended entries to
// their chain. The chain of a row is a generated column derived from its
// organisation and its id and queue time come from a trigger: the caller
// chooses neither. UPDATE, TRUNCATE and any other DELETE are refused by
// triggers enabled ALWAYS. WithAppRole and WithRecordRole grant INSERT
// only; WithRelayRole grants what the relay needs. OutboxStatus reports the
// depth and the oldest row without reading rows; OutboxBacklog the depth
// and the oldest row's age by the database's clock (compliance.Outbox).
// OutboxRecorder records entries outside any host transaction, each one
// INSERT into the outbox (no chain lock), for recorders that must survive
// a brief outage (rbac's denials). A TxRecorder
// (NewTxRecorder) offers RecordTx with the positional arguments of
// Log.Record, so that another package's store records the audit entry of
// its own write in that write's transaction without importing auditlog
// (privacy/pgstore's WithAuditOutbox takes one).
//
// Which operations join a caller's transaction: RecordTx, and the reads
// through WithTx (a TxReader: Head, Scan, TreeHashes, so Verify, ReadPage
// and proofs, and OutboxStatus). Appends
// (AppendBatch, AppendSealed, pipelines) run the Store's own transactions
// by design: group commit seals many callers' entries in one transaction
// under the chain's head lock, which a host transaction would hold for its
// whole length, serialising every writer of the chain behind it. Prune and
// lift run with their recording entry in the Store's own transaction.
//
// ReadPage and Entries (auditlog) page with keyset queries on the primary
// key (chain, seq).
//
// A Log appending to one chain keeps two batches in flight on one
// connection in pipeline mode (OpenPipeline): the server starts the next
// batch's transaction the moment it has committed the previous one. Each
// batch is still its own transaction under the head-row lock, and one
// sealed on a head that did not hold is refused by the same checks.
//
// A Log appending to several chains at once hands each chain's batches to
// AppendSealed, which commits the batches of chains waiting at the same
// moment in one transaction (group commit across chains): it locks their
// head rows in one statement in byte order of the names, so no two
// transactions deadlock, and inserts every entry in one statement whose
// extend trigger checks each chain's run against its own head. Spread over
// 100 chains, the entries of 64 appenders used to pay a commit each; they
// now share commits (2.4-3.1x the throughput at 100 chains, growth table
// in docs/BENCHMARKS.md). A group the server refuses
// (one batch forks) is committed again batch by batch, so only the batch at
// fault fails.
//
// # Per-organisation reads under row-level security (an option)
//
// Protect (or ProtectSQL) puts auditlog_entries, and with it the Merkle
// tree's hashes kept in each entry's row, under tenant/pgstore's policy:
// the application role reads an organisation's entries only in a
// transaction bound to it (tenant/pgstore.Run, then WithTx's TxReader), and
// none unbound, so a per-organisation audit view whose query forgets the
// organisation, or asks for another organisation's chain, returns nothing
// of the other's. The global chain (organisation "") is not readable by a
// bound transaction. The writer and the outbox relay append to many
// organisations' chains in one transaction, and Verify and Export read
// whole chains: after Protect they run as a role of their own with
// BYPASSRLS (granted by Migrate's WithAppRole; it owns nothing, so the
// append-only triggers still bind it), never the role that serves requests.
// A writer without BYPASSRLS would not see the chain's previous entries and
// its append fails on the chain's keys rather than forking it. The SECURITY
// DEFINER functions (retention, the outbox's) run as the owner, admitted to
// every row by Protect's rampart_owner policy. Not protected: the outbox
// (the application role may only insert into it), the heads (chain names
// only) and the maintenance tables.
package pgstore

import (
	"cmp"
	"context"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/internal/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrateOption configures Migrate.
type MigrateOption func(*migrateConfig)

type migrateConfig struct {
	appRole, maintenanceRole string
	relayRole, recordRole    string
	retention                *time.Duration
}

// WithAppRole grants role (created by the host beforehand) exactly what the
// application needs: SELECT and INSERT on the tables, INSERT (only) on the
// outbox, SELECT on the chain heads, and EXECUTE on the chain lock and the
// outbox status. To run the outbox relay in the application, grant the
// same role WithRelayRole too. It revokes from role EXECUTE on the
// prune and lift-hold functions (earlier versions granted it): those belong
// to the maintenance role (WithMaintenanceRole), so that a compromised
// application cannot destroy held evidence or payloads still inside
// retention. Never run the application as the role that owns the tables:
// an owner can disable triggers.
func WithAppRole(role string) MigrateOption { return func(c *migrateConfig) { c.appRole = role } }

// WithMaintenanceRole grants role (created by the host beforehand, used
// only by the retention job and by whoever lifts holds) what Log.Prune and
// Log.LiftHold need: SELECT and INSERT on the entries (to append the entry
// recording each change), SELECT on the holds and heads, and EXECUTE on the
// chain lock and the prune and lift-hold functions. Even this role cannot
// prune inside the retention (WithRetention) nor change anything without
// the recording entry.
func WithMaintenanceRole(role string) MigrateOption {
	return func(c *migrateConfig) { c.maintenanceRole = role }
}

// WithRelayRole grants role (created by the host beforehand) what the
// outbox relay (auditlog.Log.RunOutbox over a Store) needs: SELECT and
// INSERT on the entries, SELECT on the heads and the outbox, and EXECUTE on
// the chain lock, the outbox status and auditlog_outbox_done, the only way
// rows leave the outbox (and only in the transaction that appended as many
// entries to their chain). It may be the application role, or a role of
// its own in a separate process so that the application cannot write the
// chain at all (see WithRecordRole).
func WithRelayRole(role string) MigrateOption { return func(c *migrateConfig) { c.relayRole = role } }

// WithRecordRole grants role (created by the host beforehand) only what
// recording through the outbox needs: INSERT on auditlog_outbox and
// EXECUTE on the outbox status. It cannot read, write or lock the chain,
// nor update or delete outbox rows. Give it to the role that runs the
// host's business transactions when the Log runs elsewhere, under
// WithRelayRole.
func WithRecordRole(role string) MigrateOption { return func(c *migrateConfig) { c.recordRole = role } }

// WithRetention stores d as the retention the database enforces: pruning
// refuses any cutoff later than now() - d (auditlog.ErrInsideRetention).
// Until it is set, pruning is refused altogether. Only the schema owner (the
// role running Migrate) can change it; the application and maintenance
// roles cannot.
func WithRetention(d time.Duration) MigrateOption {
	return func(c *migrateConfig) { c.retention = &d }
}

// Migrations returns the schema as goose-compatible SQL files, for hosts that
// apply migrations with their own tool (then grant the application role as
// WithAppRole describes).
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sub
}

// Migrate applies the embedded schema to the schema of pool's search_path,
// then grants the roles given (WithAppRole and the others). The grants run
// in one transaction under the migration's advisory lock, so any number of
// instances may migrate at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts ...MigrateOption) error {
	var cfg migrateConfig
	for i, o := range opts {
		if o == nil {
			return fmt.Errorf("%w: auditlog/pgstore.Migrate: option %d is nil", auditlog.ErrInvalidConfig, i)
		}
		o(&cfg)
	}
	// Checked before anything is applied: a refused option changes nothing.
	if cfg.retention != nil && *cfg.retention < 0 {
		return fmt.Errorf("%w: auditlog/pgstore.WithRetention: %s is negative (0 or more; 0 sets no floor)", auditlog.ErrInvalidConfig, *cfg.retention)
	}
	if err := pgmigrate.Apply(ctx, pool, "auditlog", Migrations()); err != nil {
		return err
	}
	if cfg.retention != nil {
		if _, err := pool.Exec(ctx, `INSERT INTO auditlog_retention (min_age) VALUES (make_interval(secs => $1))
			ON CONFLICT (singleton) DO UPDATE SET min_age = EXCLUDED.min_age`, cfg.retention.Seconds()); err != nil {
			return fmt.Errorf("auditlog/pgstore: retention: %w", err)
		}
	}
	if cfg.appRole == "" && cfg.maintenanceRole == "" && cfg.relayRole == "" && cfg.recordRole == "" {
		return nil
	}
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("auditlog/pgstore: %w", err)
	}
	usage := `GRANT USAGE ON SCHEMA ` + pgx.Identifier{schema}.Sanitize() + ` TO `
	const retentionFuncs = `auditlog_prune_payloads(text, timestamptz), auditlog_lift_hold(text, timestamptz)`
	var stmts []string
	if cfg.appRole != "" {
		role := pgx.Identifier{cfg.appRole}.Sanitize()
		stmts = append(stmts,
			usage+role,
			`GRANT SELECT, INSERT ON auditlog_entries, auditlog_holds TO `+role,
			`GRANT SELECT ON auditlog_heads TO `+role,
			`GRANT INSERT ON auditlog_outbox TO `+role,
			`GRANT EXECUTE ON FUNCTION auditlog_lock_chain(text), auditlog_outbox_status() TO `+role,
			`REVOKE EXECUTE ON FUNCTION `+retentionFuncs+` FROM `+role,
		)
	}
	if cfg.relayRole != "" {
		role := pgx.Identifier{cfg.relayRole}.Sanitize()
		stmts = append(stmts,
			usage+role,
			`GRANT SELECT, INSERT ON auditlog_entries TO `+role,
			`GRANT SELECT ON auditlog_heads, auditlog_outbox TO `+role,
			`GRANT EXECUTE ON FUNCTION auditlog_lock_chain(text), auditlog_outbox_status(), auditlog_outbox_done(text, bigint, bigint[]) TO `+role,
		)
	}
	if cfg.recordRole != "" {
		role := pgx.Identifier{cfg.recordRole}.Sanitize()
		stmts = append(stmts,
			usage+role,
			`GRANT INSERT ON auditlog_outbox TO `+role,
			`GRANT EXECUTE ON FUNCTION auditlog_outbox_status() TO `+role,
		)
	}
	if cfg.maintenanceRole != "" {
		role := pgx.Identifier{cfg.maintenanceRole}.Sanitize()
		stmts = append(stmts,
			usage+role,
			`GRANT SELECT, INSERT ON auditlog_entries TO `+role,
			`GRANT SELECT ON auditlog_holds, auditlog_heads TO `+role,
			`GRANT EXECUTE ON FUNCTION auditlog_lock_chain(text), auditlog_outbox_status(), `+retentionFuncs+` TO `+role,
		)
	}
	// Under the migration lock: two instances granting at the same moment
	// rewrite the same catalog rows, which PostgreSQL refuses with "tuple
	// concurrently updated".
	if err := pgmigrate.Exec(ctx, pool, stmts...); err != nil {
		return fmt.Errorf("auditlog/pgstore: grant: %w", err)
	}
	return nil
}

// Store is an auditlog.Store on PostgreSQL. It is also each of the
// optional interfaces a Log looks for (auditlog.Outbox,
// auditlog.PipelinedAppender and so auditlog.SealedAppender,
// auditlog.EntryQuerier, auditlog.RetentionRecorder): the package doc says
// how each is served. Its own methods are the outbox's backlog and the reads
// bound to a caller's transaction.
type Store interface {
	auditlog.Store
	auditlog.Outbox
	auditlog.PipelinedAppender
	auditlog.EntryQuerier
	auditlog.RetentionRecorder

	// OutboxBacklog reports how many entries wait in the outbox and how
	// long the oldest has waited, measured by the database's clock (so a
	// skewed host clock does not change the answer). It has the shape of
	// compliance.Outbox, the report's live evidence that the relay keeps
	// up, and is what rampart doctor checks against --outbox-max-age.
	OutboxBacklog(ctx context.Context) (depth int64, oldestAge time.Duration, err error)
	// WithTx returns the Store's reads bound to tx, a transaction of the
	// host's: they see what it sees. Appends stay in the Store's own
	// transactions (see the package doc).
	WithTx(tx pgx.Tx) TxReader
}

// store is the Store over one pool.
type store struct {
	pool         *pgxpool.Pool
	pipelines    atomic.Int64  // open pipelines, each holding a connection
	closeTimeout time.Duration // bounds Pipeline.Close
	group        group         // sealed batches waiting for a group transaction
}

// New returns a Store using pool; Migrate must have run.
func New(pool *pgxpool.Pool) Store { return newStore(pool) }

// newStore is New with the concrete type, for the package's own tests.
func newStore(pool *pgxpool.Pool) *store {
	return &store{pool: pool, closeTimeout: closeTimeout}
}

var (
	_ Store          = (*store)(nil)
	_ auditlog.Store = (*store)(nil)
)

// Trigger and constraint errors that mean "this batch would fork the chain".
func mapErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "RA001", "23505":
			return fmt.Errorf("%w: %s", auditlog.ErrFork, pe.Message)
		}
	}
	return err
}

const entryColumns = `chain, seq, at, org, actor, action, schema_version, target, ip, user_agent, request_id, payload, payload_digest, prev_hash, entry_hash`

// batchRow reads the next result of a pipelined batch as a row.
type batchRow struct{ br pgx.BatchResults }

func (b batchRow) QueryRow(context.Context, string, ...any) pgx.Row { return b.br.QueryRow() }

func head(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, chain string) (auditlog.Head, error) {
	var (
		seq  int64
		hash []byte
	)
	err := q.QueryRow(ctx, `SELECT seq, entry_hash FROM auditlog_entries WHERE chain = $1 ORDER BY seq DESC LIMIT 1`, chain).Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return auditlog.Head{Chain: chain}, nil
	}
	if err != nil {
		return auditlog.Head{}, fmt.Errorf("auditlog/pgstore: head: %w", err)
	}
	h := auditlog.Head{Chain: chain, Size: uint64(seq) + 1}
	copy(h.Hash[:], hash)
	return h, nil
}

// AppendBatch implements auditlog.Store: lock the head row, read the head
// and the tree frontier, seal, COPY the rows in, commit.
func (s *store) AppendBatch(ctx context.Context, chain string, seal auditlog.SealFunc) error {
	// Two round trips per batch: BEGIN, lock and head read pipelined; then
	// the inserts and COMMIT pipelined. On any failure the transaction is
	// rolled back (a connection left in a transaction is never reused).
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
	pc := conn.Conn().PgConn()
	var pb pgx.Batch
	pb.Queue("BEGIN")
	pb.Queue(lockChain, chain)
	pb.Queue(`SELECT seq, entry_hash FROM auditlog_entries WHERE chain = $1 ORDER BY seq DESC LIMIT 1`, chain)
	br := conn.SendBatch(ctx, &pb)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return fmt.Errorf("auditlog/pgstore: begin: %w", s.classify(ctx, pc, err, false))
	}
	if _, err := br.Exec(); err != nil {
		br.Close()
		return fmt.Errorf("auditlog/pgstore: lock chain: %w", s.classify(ctx, pc, err, false))
	}
	h, err := head(ctx, batchRow{br}, chain)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("auditlog/pgstore: lock chain: %w", cerr)
	}
	if err != nil {
		return s.classify(ctx, pc, err, false)
	}
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return treeHashes(ctx, conn, chain, idx)
	})
	b, err := seal(h, reader)
	if err != nil {
		return s.classify(ctx, pc, err, false)
	}
	if err := auditlog.CheckBatch(h, b); err != nil {
		return err
	}
	var ib pgx.Batch
	queueInserts(&ib, b)
	ib.Queue("COMMIT")
	if err := conn.SendBatch(ctx, &ib).Close(); err != nil {
		return fmt.Errorf("auditlog/pgstore: insert: %w", s.classify(ctx, pc, mapErr(err), true))
	}
	inTx = false
	return nil
}

var _ auditlog.SealedAppender = (*store)(nil)

// lockChain takes a chain's head-row lock for the rest of the transaction.
const lockChain = `SELECT auditlog_lock_chain($1)`

// insertEntries inserts a batch given as insertArgs.
const insertEntries = `INSERT INTO auditlog_entries (` + entryColumns + `, tree)
	SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[],
		$9::text[], $10::text[], $11::text[], $12::bytea[], $13::bytea[], $14::bytea[], $15::bytea[], $16::bytea[]) ORDER BY 2`

// insertTypes are the types of insertEntries' parameters.
var insertTypes = []uint32{
	pgtype.TextArrayOID, pgtype.Int8ArrayOID, pgtype.TimestamptzArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID,
	pgtype.Int4ArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID,
	pgtype.ByteaArrayOID, pgtype.ByteaArrayOID, pgtype.ByteaArrayOID, pgtype.ByteaArrayOID, pgtype.ByteaArrayOID,
}

func queueInserts(pb *pgx.Batch, b *auditlog.Batch) {
	pb.Queue(insertEntries, insertArgs(b)...)
}

// insertArgs returns insertEntries' arguments for b's entries, each row
// with the tree hashes its entry added. CheckBatch has made sure b.Tree
// holds exactly those, in order, so they are cut in entry order: entry n
// added StoredHashCount(n+1) - StoredHashCount(n) of them.
func insertArgs(b *auditlog.Batch) []any {
	es := b.Entries
	tree := make([]byte, 0, len(b.Tree)*tlog.HashSize)
	for _, th := range b.Tree {
		tree = append(tree, th.Hash[:]...)
	}
	trees := make([]bytesArg, len(es))
	for i := range es {
		k := int(tlog.StoredHashCount(int64(es[i].Seq)+1)-tlog.StoredHashCount(int64(es[i].Seq))) * tlog.HashSize
		k = min(k, len(tree)) // only if CheckBatch was skipped: the column's CHECK then refuses the row
		trees[i], tree = tree[:k:k], tree[k:]
	}
	text := func(f func(e *auditlog.Entry) *string) pgtype.FlatArray[*textArg] {
		return column(es, func(e *auditlog.Entry) *textArg { return (*textArg)(f(e)) })
	}
	hash := func(f func(e *auditlog.Entry) *tlog.Hash) pgtype.FlatArray[*hashArg] {
		return column(es, func(e *auditlog.Entry) *hashArg { return (*hashArg)(f(e)) })
	}
	return []any{
		text(func(e *auditlog.Entry) *string { return &e.Chain }),
		column(es, func(e *auditlog.Entry) *seqArg { return (*seqArg)(&e.Seq) }),
		column(es, func(e *auditlog.Entry) *timeArg { return (*timeArg)(&e.Time) }),
		text(func(e *auditlog.Entry) *string { return &e.Org }),
		text(func(e *auditlog.Entry) *string { return &e.Actor }),
		text(func(e *auditlog.Entry) *string { return &e.Action }),
		column(es, func(e *auditlog.Entry) *versionArg { return (*versionArg)(&e.SchemaVersion) }),
		text(func(e *auditlog.Entry) *string { return &e.Target }),
		text(func(e *auditlog.Entry) *string { return &e.Request.IP }),
		text(func(e *auditlog.Entry) *string { return &e.Request.UserAgent }),
		text(func(e *auditlog.Entry) *string { return &e.Request.RequestID }),
		column(es, func(e *auditlog.Entry) *bytesArg { return (*bytesArg)(&e.Payload) }),
		hash(func(e *auditlog.Entry) *tlog.Hash { return &e.PayloadDigest }),
		hash(func(e *auditlog.Entry) *tlog.Hash { return &e.PrevHash }),
		hash(func(e *auditlog.Entry) *tlog.Hash { return &e.Hash }),
		column(trees, func(t *bytesArg) *bytesArg { return t }),
	}
}

// column returns one array argument of a batch insert: a pointer per
// element into data. pgx boxes each array element in an interface, which
// costs an allocation per string, slice, time or large integer but nothing
// for a pointer; the pointer types below encode through pgx's valuer
// interfaces, without reflection.
func column[E, T any](data []E, field func(*E) *T) pgtype.FlatArray[*T] {
	out := make(pgtype.FlatArray[*T], len(data))
	for i := range data {
		out[i] = field(&data[i])
	}
	return out
}

type (
	textArg    string
	bytesArg   []byte
	hashArg    tlog.Hash
	timeArg    time.Time
	seqArg     uint64
	versionArg uint32
)

func (v *textArg) TextValue() (pgtype.Text, error) {
	return pgtype.Text{String: string(*v), Valid: true}, nil
}

// A nil payload is stored as NULL, as []byte(nil) would be.
func (v *bytesArg) BytesValue() ([]byte, error) { return *v, nil }

func (v *hashArg) BytesValue() ([]byte, error) { return v[:], nil }

func (v *timeArg) TimestamptzValue() (pgtype.Timestamptz, error) {
	return pgtype.Timestamptz{Time: time.Time(*v), Valid: true}, nil
}

func (v *seqArg) Int64Value() (pgtype.Int8, error) {
	if *v > math.MaxInt64 {
		return pgtype.Int8{}, fmt.Errorf("auditlog/pgstore: sequence number %d out of range", uint64(*v))
	}
	return pgtype.Int8{Int64: int64(*v), Valid: true}, nil
}

// The column is integer (int4); auditlog.Log.Register keeps versions within it.
func (v *versionArg) Int64Value() (pgtype.Int8, error) {
	if *v > auditlog.MaxSchemaVersion {
		return pgtype.Int8{}, fmt.Errorf("auditlog/pgstore: schema version %d is above %d", uint32(*v), auditlog.MaxSchemaVersion)
	}
	return pgtype.Int8{Int64: int64(*v), Valid: true}, nil
}

// treeHashes reads stored tree hashes from the tree column of the entries
// that added them.
func treeHashes(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, chain string, idx []int64) ([]tlog.Hash, error) {
	if len(idx) == 0 {
		return nil, nil
	}
	// want lists, in order of the entry that holds it, where each
	// requested hash is: the rows arrive in seq order and are matched by
	// walking both.
	type where struct {
		seq   int64
		level int
		out   int
	}
	want := make([]where, len(idx))
	for i, x := range idx {
		if x < 0 {
			return nil, fmt.Errorf("%w: tree hash %d of chain %q", auditlog.ErrNotFound, x, chain)
		}
		level, n := tlog.SplitStoredHashIndex(x)
		want[i] = where{seq: (n+1)<<level - 1, level: level, out: i}
	}
	slices.SortFunc(want, func(a, b where) int { return cmp.Compare(a.seq, b.seq) })
	lo, hi := want[0].seq, want[len(want)-1].seq
	var (
		rows pgx.Rows
		err  error
	)
	if hi-lo < int64(4*len(want)) {
		// Dense (Verify's run of leaves): one range scan of the primary key.
		rows, err = q.Query(ctx, `SELECT seq, tree FROM auditlog_entries WHERE chain = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq`, chain, lo, hi)
	} else {
		// Sparse (a frontier, a proof): one index probe per entry.
		seqs := make([]int64, 0, len(want))
		for i, w := range want {
			if i == 0 || w.seq != want[i-1].seq {
				seqs = append(seqs, w.seq)
			}
		}
		rows, err = q.Query(ctx, `SELECT e.seq, e.tree FROM unnest($2::bigint[]) WITH ORDINALITY AS u(s, o)
			CROSS JOIN LATERAL (SELECT seq, tree FROM auditlog_entries WHERE chain = $1 AND seq = u.s) e ORDER BY u.o`, chain, seqs)
	}
	if err != nil {
		return nil, fmt.Errorf("auditlog/pgstore: tree: %w", err)
	}
	defer rows.Close()
	out := make([]tlog.Hash, len(idx))
	found := 0
	// The binary wire values are read without reflection: Verify reads a
	// thousand leaves at a time.
	// A query whose connection died (pg_terminate_backend, failover) has no
	// field descriptions; rows.Err reports why once Next returns false.
	fds := rows.FieldDescriptions()
	raw := len(fds) == 2 && fds[0].Format == pgx.BinaryFormatCode && fds[1].Format == pgx.BinaryFormatCode
	for rows.Next() {
		var (
			seq  int64
			tree []byte
		)
		if v := rows.RawValues(); raw && len(v) == 2 && len(v[0]) == 8 {
			seq, tree = int64(binary.BigEndian.Uint64(v[0])), v[1]
		} else {
			var ( // escape through Scan: only on this path
				sseq  int64
				stree []byte
			)
			if err := rows.Scan(&sseq, &stree); err != nil {
				return nil, fmt.Errorf("auditlog/pgstore: tree: %w", err)
			}
			seq, tree = sseq, stree
		}
		for len(want) > 0 && want[0].seq < seq {
			want = want[1:] // no row for it: reported missing below
		}
		for len(want) > 0 && want[0].seq == seq {
			if off := want[0].level * tlog.HashSize; off+tlog.HashSize <= len(tree) {
				copy(out[want[0].out][:], tree[off:])
				found++
			}
			want = want[1:]
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auditlog/pgstore: tree: %w", err)
	}
	if found != len(idx) {
		return nil, fmt.Errorf("%w: %d of %d tree hashes of chain %q", auditlog.ErrNotFound, len(idx)-found, len(idx), chain)
	}
	return out, nil
}

// Head implements auditlog.Store.
func (s *store) Head(ctx context.Context, chain string) (auditlog.Head, error) {
	return head(ctx, s.pool, chain)
}

// TreeHashes implements auditlog.Store.
func (s *store) TreeHashes(ctx context.Context, chain string, indexes []int64) ([]tlog.Hash, error) {
	return treeHashes(ctx, s.pool, chain, indexes)
}

// scanPage is how many rows Scan reads per query: memory stays bounded and
// fn runs without a query open.
const scanPage = 8192

// Scan implements auditlog.Store. It reads pages of at most scanPage rows
// within a bounded window of sequence numbers (so that no plan ever reads
// the rest of the chain to sort it), so memory stays bounded (two pages)
// and fn runs without a query open on its behalf. From the second page on,
// the next page is fetched on another pooled connection while fn works
// through the current one, so the server's reading overlaps the caller's
// hashing; a Scan that fn stops on its first page (a point lookup) never
// starts a second query.
func (s *store) Scan(ctx context.Context, chain string, from uint64, fn func(e *auditlog.Entry) error) error {
	type fetched struct {
		entries []auditlog.Entry
		err     error
	}
	bufs := [2][]auditlog.Entry{make([]auditlog.Entry, 0, scanPage), nil}
	var (
		ahead chan fetched // the prefetch in flight, if any
		cur   = 0
	)
	defer func() {
		if ahead != nil {
			<-ahead // never leave a query running behind the caller's back
		}
	}()
	at := int64(from) // where the current page starts
	entries, err := s.page(ctx, chain, at, bufs[cur][:0])
	for pages := 1; ; pages++ {
		if err != nil {
			return err
		}
		full := len(entries) == scanPage
		var next int64
		if full {
			next = int64(entries[len(entries)-1].Seq) + 1
			if pages > 1 {
				other := 1 - cur
				if bufs[other] == nil {
					bufs[other] = make([]auditlog.Entry, 0, scanPage)
				}
				ch := make(chan fetched, 1)
				go func(buf []auditlog.Entry) {
					defer func() {
						// A panic here would end the host: it fails the Scan.
						if r := recover(); r != nil {
							ch <- fetched{nil, fmt.Errorf("auditlog/pgstore: scan: %w: panic: %v", auditlog.ErrInternal, r)}
						}
					}()
					e, err := s.page(ctx, chain, next, buf)
					ch <- fetched{e, err}
				}(bufs[other][:0])
				ahead = ch
			}
		}
		for i := range entries {
			if err := fn(&entries[i]); err != nil {
				return err
			}
		}
		if full {
			if ahead != nil {
				f := <-ahead
				ahead, cur = nil, 1-cur
				entries, err = f.entries, f.err
			} else {
				entries, err = s.page(ctx, chain, next, bufs[cur][:0])
			}
			at = next
			continue
		}
		// The window is exhausted; a tampered chain may have a gap wider
		// than it, so look for the next row rather than stopping.
		var after *int64
		if err := s.pool.QueryRow(ctx, `SELECT min(seq) FROM auditlog_entries WHERE chain = $1 AND seq >= $2`, chain, at+scanWindow).Scan(&after); err != nil {
			return fmt.Errorf("auditlog/pgstore: scan: %w", err)
		}
		if after == nil {
			return nil
		}
		at = *after
		entries, err = s.page(ctx, chain, at, bufs[cur][:0])
	}
}

// scanWindow bounds the sequence numbers one page query may touch.
const scanWindow = 2 * scanPage

func (s *store) page(ctx context.Context, chain string, from int64, out []auditlog.Entry) ([]auditlog.Entry, error) {
	return page(ctx, s.pool, chain, from, out)
}

// querier is what the reads run on: a pool, a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func page(ctx context.Context, q querier, chain string, from int64, out []auditlog.Entry) ([]auditlog.Entry, error) {
	rows, err := q.Query(ctx, `SELECT `+entryColumns+` FROM auditlog_entries WHERE chain = $1 AND seq >= $2 AND seq < $3
		ORDER BY seq LIMIT `+fmt.Sprint(scanPage), chain, from, from+scanWindow)
	if err != nil {
		return nil, fmt.Errorf("auditlog/pgstore: scan: %w", err)
	}
	defer rows.Close()
	d := decoder{intern: map[string]string{}}
	fast := binaryColumns(rows.FieldDescriptions())
	for rows.Next() {
		// Decode in place: a local Entry would escape to the heap per row.
		out = append(out, auditlog.Entry{})
		e := &out[len(out)-1]
		if fast {
			err = d.decode(rows.RawValues(), e)
		} else {
			err = scanEntry(rows, e)
		}
		if err != nil {
			return nil, fmt.Errorf("auditlog/pgstore: scan: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auditlog/pgstore: scan: %w", err)
	}
	return out, nil
}

func scanEntry(rows pgx.Rows, e *auditlog.Entry) error {
	var (
		seq                    int64
		sv                     int32
		digest, prev, hash, pl []byte
	)
	if err := rows.Scan(&e.Chain, &seq, &e.Time, &e.Org, &e.Actor, &e.Action, &sv, &e.Target,
		&e.Request.IP, &e.Request.UserAgent, &e.Request.RequestID, &pl, &digest, &prev, &hash); err != nil {
		return err
	}
	e.Seq, e.SchemaVersion, e.Time = uint64(seq), uint32(sv), e.Time.UTC()
	e.Payload = pl
	copy(e.PayloadDigest[:], digest)
	copy(e.PrevHash[:], prev)
	copy(e.Hash[:], hash)
	return nil
}

// binaryColumns reports whether the non-text columns of a scan arrived in
// binary format, which decoder.decode reads without reflection.
func binaryColumns(fds []pgconn.FieldDescription) bool {
	if len(fds) != 15 {
		return false
	}
	for _, i := range []int{1, 2, 6, 11, 12, 13, 14} {
		if fds[i].Format != pgx.BinaryFormatCode {
			return false
		}
	}
	return true
}

// pgEpochMicros is 2000-01-01T00:00:00Z in Unix microseconds, the epoch of
// PostgreSQL's binary timestamptz.
const pgEpochMicros = 946684800000000

var errRawRow = errors.New("malformed row")

// decoder decodes rows of entryColumns from their binary wire values:
// Verify reads millions of rows, and reflection-based scanning dominated.
// Repeated strings (chain, org, actor, action, IP, user agent) are interned
// per page, and payloads are copied into a few large fresh blocks rather
// than one allocation each (a block is never reused, so an entry's payload
// stays valid whatever the caller does with it).
type decoder struct {
	intern map[string]string
	block  []byte
}

// payloadBlock is the size of one block of decoded payloads.
const payloadBlock = 256 << 10

func (d *decoder) str(b []byte) string {
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.intern) < 4096 {
		d.intern[s] = s
	}
	return s
}

func (d *decoder) bytes(b []byte) []byte {
	if len(b) == 0 {
		return []byte{} // present but empty, unlike a pruned (nil) payload
	}
	if len(b) > payloadBlock/8 {
		return append(make([]byte, 0, len(b)), b...)
	}
	if cap(d.block)-len(d.block) < len(b) {
		d.block = make([]byte, 0, payloadBlock)
	}
	n := len(d.block)
	d.block = append(d.block, b...)
	return d.block[n : n+len(b) : n+len(b)]
}

func (d *decoder) decode(v [][]byte, e *auditlog.Entry) error {
	str := d.str
	if len(v) != 15 || len(v[1]) != 8 || len(v[2]) != 8 || len(v[6]) != 4 || len(v[12]) != 32 || len(v[13]) != 32 || len(v[14]) != 32 {
		return errRawRow
	}
	us := int64(binary.BigEndian.Uint64(v[2]))
	if us == math.MaxInt64 || us == math.MinInt64 {
		return errRawRow // ±infinity
	}
	e.Chain = str(v[0])
	e.Seq = binary.BigEndian.Uint64(v[1])
	e.Time = time.UnixMicro(us + pgEpochMicros).UTC()
	e.Org, e.Actor, e.Action = str(v[3]), str(v[4]), str(v[5])
	e.SchemaVersion = binary.BigEndian.Uint32(v[6])
	// Targets and request IDs are mostly distinct: interning them costs a
	// map miss and insert per row for nothing.
	e.Target = string(v[7])
	e.Request = auditlog.Request{IP: str(v[8]), UserAgent: str(v[9]), RequestID: string(v[10])}
	if v[11] != nil {
		e.Payload = d.bytes(v[11])
	}
	copy(e.PayloadDigest[:], v[12])
	copy(e.PrevHash[:], v[13])
	copy(e.Hash[:], v[14])
	return nil
}

// Chains implements auditlog.Store.
func (s *store) Chains(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT h.chain FROM auditlog_heads h
		WHERE EXISTS (SELECT 1 FROM auditlog_entries e WHERE e.chain = h.chain) ORDER BY h.chain`)
	if err != nil {
		return nil, fmt.Errorf("auditlog/pgstore: chains: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("auditlog/pgstore: chains: %w", err)
	}
	return out, nil
}

// PrunePayloads implements auditlog.Store through auditlog_prune_payloads,
// which honours active holds and the retention (WithRetention) in the
// database. Called alone it prunes nothing: the database refuses a prune
// not recorded in the same transaction (auditlog.ErrNotRecorded), so use
// Log.Prune, which goes through PruneRecorded.
func (s *store) PrunePayloads(ctx context.Context, chain string, before time.Time) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT auditlog_prune_payloads($1, $2)`, chain, before).Scan(&n); err != nil {
		return 0, fmt.Errorf("auditlog/pgstore: prune: %w", mapRetentionErr(err))
	}
	return n, nil
}

// PutHold implements auditlog.Store.
func (s *store) PutHold(ctx context.Context, h auditlog.Hold) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO auditlog_holds (id, kind, value, reason, owner, placed_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		h.ID, string(h.Kind), h.Value, h.Reason, h.Owner, h.PlacedAt)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("%w: %q already exists", auditlog.ErrHeld, h.ID)
	}
	if err != nil {
		return fmt.Errorf("auditlog/pgstore: put hold: %w", err)
	}
	return nil
}

// LiftHold implements auditlog.Store. Like PrunePayloads, called alone it
// is refused (auditlog.ErrNotRecorded); Log.LiftHold goes through
// LiftHoldRecorded.
func (s *store) LiftHold(ctx context.Context, id string, at time.Time) error {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT auditlog_lift_hold($1, $2)`, id, at).Scan(&ok); err != nil {
		return fmt.Errorf("auditlog/pgstore: lift hold: %w", mapRetentionErr(err))
	}
	if !ok {
		return fmt.Errorf("%w: hold %q", auditlog.ErrNotFound, id)
	}
	return nil
}

// Holds implements auditlog.Store.
func (s *store) Holds(ctx context.Context) ([]auditlog.Hold, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, kind, value, reason, owner, placed_at FROM auditlog_holds WHERE lifted_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("auditlog/pgstore: holds: %w", err)
	}
	var out []auditlog.Hold
	for rows.Next() {
		var h auditlog.Hold
		var kind string
		if err := rows.Scan(&h.ID, &kind, &h.Value, &h.Reason, &h.Owner, &h.PlacedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("auditlog/pgstore: holds: %w", err)
		}
		h.Kind, h.PlacedAt = auditlog.HoldKind(kind), h.PlacedAt.UTC()
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auditlog/pgstore: holds: %w", err)
	}
	return out, nil
}
