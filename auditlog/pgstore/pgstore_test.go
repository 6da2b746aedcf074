package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
	"github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

const helperEnv = "RAMPART_AUDITLOG_HELPER"

// TestMain lets the test binary double as the helper process of
// TestTwoProcessesOneChain.
func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		os.Exit(helper(spec))
	}
	os.Exit(m.Run())
}

// helper appends n entries with 8 goroutines: spec is "<url> <name> <n>".
func helper(spec string) int {
	parts := strings.Fields(spec)
	n, _ := strconv.Atoi(parts[2])
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, parts[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer pool.Close()
	l, err := auditlog.New(pgstore.New(pool), auditlog.WithMaxBatch(16))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := l.Register(auditlogtest.Actions...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				if err := l.Record(ctx, "acme", "system:"+parts[1], "test.created", "", map[string]any{"id": fmt.Sprintf("%s-%d", parts[1], i)}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func newDB(t *testing.T) (*pgtest.DB, pgstore.Store) {
	t.Helper()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
	return db, pgstore.New(db.Pool)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	auditlogtest.TestStore(t, func(t *testing.T) auditlog.Store {
		db, s := newDB(t)
		// The suite prunes with a test clock 400 days ahead: a day of
		// retention in the database lets its cutoff through.
		require.NoError(t, pgstore.Migrate(context.Background(), db.Pool, pgstore.WithRetention(24*time.Hour)))
		return s
	})
}

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	require.NoError(t, pgstore.Migrate(context.Background(), db.Pool))
}

// appRole creates a login role with a random name, migrates with it as the
// application role, and returns a pool connected as it.
func appRole(t *testing.T, db *pgtest.DB) (string, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	role := "rampart_audit_app_" + hex.EncodeToString(b[:])
	_, err := db.Pool.Exec(ctx, "CREATE ROLE "+role+" LOGIN")
	require.NoError(t, err)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool, pgstore.WithAppRole(role)))
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	cfg.ConnConfig.User = role
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		pool.Close()
		_, _ = db.Pool.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = db.Pool.Exec(context.Background(), "DROP ROLE "+role)
	})
	return role, pool
}

func seed(t *testing.T, s auditlog.Store, n int, opts ...auditlog.Option) *auditlog.Log {
	t.Helper()
	l, _ := auditlogtest.NewLog(t, s, opts...)
	for i := range n {
		require.NoError(t, l.Record(context.Background(), "acme", fmt.Sprintf("user:u%d", i), "test.created", fmt.Sprintf("doc:%d", i), map[string]any{"i": i}))
	}
	return l
}

func TestAppRoleCannotRewrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	role, pool := appRole(t, db)
	// The application role can do its job...
	s := pgstore.New(pool)
	seed(t, s, 5)
	_, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)
	// ...and nothing else.
	for _, q := range []string{
		`UPDATE auditlog_entries SET actor = 'user:x' WHERE seq = 2`,
		`DELETE FROM auditlog_entries WHERE seq = 4`,
		`TRUNCATE auditlog_entries`,
		`UPDATE auditlog_entries SET tree = tree WHERE seq = 1`,
		`DELETE FROM auditlog_holds`,
		`ALTER TABLE auditlog_entries DISABLE TRIGGER ALL`,
	} {
		_, err := pool.Exec(ctx, q)
		require.Error(t, err, q)
		require.Contains(t, err.Error(), "SQLSTATE 42501", q)
	}
	// A forged row in the middle or on a stale head is refused by the database.
	var prev []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT entry_hash FROM auditlog_entries WHERE seq = 1`).Scan(&prev))
	for name, q := range map[string]string{
		"middle":     `INSERT INTO auditlog_entries SELECT chain, 2, at, org, 'user:evil', action, schema_version, target, ip, user_agent, request_id, payload, payload_digest, $1, entry_hash, NULL FROM auditlog_entries WHERE seq = 2`,
		"stale head": `INSERT INTO auditlog_entries SELECT chain, 5, at, org, 'user:evil', action, schema_version, target, ip, user_agent, request_id, payload, payload_digest, $1, entry_hash, NULL FROM auditlog_entries WHERE seq = 2`,
	} {
		_, err := pool.Exec(ctx, q, prev)
		require.Error(t, err, name)
	}
	// Retention belongs to the maintenance role (retention_test.go).
	for _, q := range []string{
		`SELECT auditlog_prune_payloads('org:acme', now() + interval '1 day')`,
		`SELECT auditlog_lift_hold('h', now())`,
	} {
		_, err := pool.Exec(ctx, q)
		require.Error(t, err, q)
		require.Contains(t, err.Error(), "SQLSTATE 42501", q)
	}
	_, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)

	rep, err := pgstore.Posture(ctx, db.Pool, role)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Failed())
}

// TestExtendTrigger feeds the database multi-row inserts that pass both
// unique constraints but do not extend the head, as a writer bypassing the
// Log (or a buggy Store) would, and checks that each is refused whole
// (SQLSTATE RA001, nothing stored), while a well-linked batch is accepted.
func TestExtendTrigger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, s := newDB(t)
	seed(t, s, 5) // seq 0..4 on org:acme
	var head []byte
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT entry_hash FROM auditlog_entries WHERE chain = 'org:acme' AND seq = 4`).Scan(&head))
	zero := make([]byte, 32)
	h := func(b byte) []byte { x := make([]byte, 32); x[0] = b; return x }
	// row is one VALUES tuple: chain, seq, prev_hash, entry_hash.
	type row struct {
		chain      string
		seq        int
		prev, hash []byte
	}
	insert := func(rows ...row) error {
		var (
			sql  strings.Builder
			args []any
		)
		sql.WriteString(`INSERT INTO auditlog_entries (chain, seq, at, org, actor, action, schema_version, target, ip, user_agent, request_id, payload, payload_digest, prev_hash, entry_hash, tree) VALUES `)
		for i, r := range rows {
			if i > 0 {
				sql.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&sql, `($%d, $%d, now(), 'acme', 'user:evil', 'test.created', 1, '', '', '', '', '{}', $%d, $%d, $%d, $%d)`, n+1, n+2, n+3, n+4, n+5, n+3)
			args = append(args, r.chain, r.seq, h(0xdd), r.prev, r.hash)
		}
		_, err := db.Pool.Exec(ctx, sql.String(), args...)
		return err
	}
	count := func() (n int) {
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM auditlog_entries`).Scan(&n))
		return n
	}
	before := count()
	for _, tc := range []struct {
		name string
		rows []row
	}{
		{"second row not linked to the first", []row{{"org:acme", 5, head, h(1)}, {"org:acme", 6, h(9), h(2)}}},
		{"gap inside the batch", []row{{"org:acme", 5, head, h(1)}, {"org:acme", 7, h(1), h(2)}}},
		{"gap after the head", []row{{"org:acme", 6, head, h(1)}}},
		{"linked batch on a stale head", []row{{"org:acme", 5, h(7), h(1)}, {"org:acme", 6, h(1), h(2)}}},
		{"good chain, bad chain in one statement", []row{{"org:acme", 5, head, h(1)}, {"org:other", 0, h(3), h(4)}}},
		{"new chain not starting at zero", []row{{"org:fresh", 1, zero, h(1)}}},
		{"new chain with a non-zero genesis link", []row{{"org:fresh", 0, h(5), h(1)}}},
	} {
		err := insert(tc.rows...)
		var pe *pgconn.PgError
		require.ErrorAs(t, err, &pe, tc.name)
		require.Equal(t, "RA001", pe.Code, "%s: %v", tc.name, err)
		require.Equal(t, before, count(), tc.name)
	}

	// COPY fires the same statement trigger.
	_, err := db.Pool.CopyFrom(ctx, pgx.Identifier{"auditlog_entries"},
		[]string{"chain", "seq", "at", "org", "actor", "action", "schema_version", "target", "ip", "user_agent", "request_id", "payload_digest", "prev_hash", "entry_hash", "tree"},
		pgx.CopyFromRows([][]any{{"org:acme", int64(5), time.Now(), "acme", "user:evil", "test.created", int32(1), "", "", "", "", h(0xdd), h(8), h(1), h(0xdd)}}))
	var pe *pgconn.PgError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "RA001", pe.Code)
	require.Equal(t, before, count())

	// Links are all the database checks (hashes are Verify's job): a
	// correctly linked batch on the head, and a new chain, are accepted.
	require.NoError(t, insert(row{"org:acme", 5, head, h(1)}, row{"org:acme", 6, h(1), h(2)}, row{"org:fresh", 0, zero, h(3)}))
	require.Equal(t, before+3, count())
}

func TestSuperuserBlockedByTriggers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, s := newDB(t)
	seed(t, s, 4)
	for _, replica := range []bool{false, true} {
		func() {
			conn, err := db.Pool.Acquire(ctx)
			require.NoError(t, err)
			defer conn.Release()
			if replica {
				_, err = conn.Exec(ctx, `SET session_replication_role = replica`)
				require.NoError(t, err)
				defer conn.Exec(ctx, `RESET session_replication_role`)
			}
			for _, q := range []string{
				`UPDATE auditlog_entries SET actor = 'user:x' WHERE seq = 2`,
				`UPDATE auditlog_entries SET payload = NULL WHERE seq = 2`,
				`DELETE FROM auditlog_entries WHERE seq = 3`,
				`TRUNCATE auditlog_entries`,
				`UPDATE auditlog_entries SET tree = sha256(tree) WHERE seq = 1`,
				`DELETE FROM auditlog_heads`,
			} {
				_, err := conn.Exec(ctx, q)
				require.Error(t, err, "replica=%v %s", replica, q)
				require.Contains(t, err.Error(), "append-only", q)
			}
		}()
	}
	res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 4, res.Size)
}

// superuser runs statements with the triggers disabled, as a hostile DBA
// would, then re-enables them.
func superuser(t *testing.T, db *pgtest.DB, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `ALTER TABLE auditlog_entries DISABLE TRIGGER ALL`)
	require.NoError(t, err)
	for _, q := range stmts {
		_, err := tx.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	for _, trg := range []string{"auditlog_entries_extend", "auditlog_entries_immutable", "auditlog_entries_no_truncate"} {
		_, err = tx.Exec(ctx, `ALTER TABLE auditlog_entries ENABLE ALWAYS TRIGGER `+trg)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit(ctx))
}

func TestTamperingDetected(t *testing.T) {
	t.Parallel()
	static := func(stmts ...string) func([]auditlog.Entry) []string {
		return func([]auditlog.Entry) []string { return stmts }
	}
	for _, tc := range []struct {
		name   string
		stmts  func(es []auditlog.Entry) []string
		seq    uint64
		reason auditlog.Reason
	}{
		{"field edited", static(`UPDATE auditlog_entries SET actor = 'user:someone-else' WHERE seq = 4`), 4, auditlog.ReasonHashMismatch},
		{"payload edited", static(`UPDATE auditlog_entries SET payload = '{"i":999}' WHERE seq = 6`), 6, auditlog.ReasonPayloadMismatch},
		{"row deleted in the middle", static(`DELETE FROM auditlog_entries WHERE seq = 3`), 3, auditlog.ReasonSequenceGap},
		{"rows reordered", static(
			`UPDATE auditlog_entries SET seq = seq + 1000 WHERE seq IN (2, 3)`,
			`UPDATE auditlog_entries SET seq = CASE seq WHEN 1002 THEN 3 ELSE 2 END WHERE seq >= 1000`,
		), 2, auditlog.ReasonHashMismatch},
		{"row inserted in the middle", func(es []auditlog.Entry) []string {
			// A well-formed forged entry at 5, linked onto entry 4; the
			// entries after it are shifted and relinked (but not rehashed).
			forged := es[2]
			forged.Seq, forged.Actor, forged.PrevHash = 5, "user:evil", es[4].Hash
			forged.Hash = auditlog.EntryHash(&forged)
			return []string{
				`UPDATE auditlog_entries SET seq = seq + 1000 WHERE seq >= 5`,
				`UPDATE auditlog_entries SET seq = seq - 999 WHERE seq >= 1000`,
				fmt.Sprintf(`UPDATE auditlog_entries SET prev_hash = '\x%x' WHERE seq = 6`, forged.Hash[:]),
				// Its tree column is the displaced entry's: rehashing the
				// tree would mean rewriting every entry after it.
				insertSQL(forged, `(SELECT tree FROM auditlog_entries WHERE seq = 6)`),
			}
		}, 5, auditlog.ReasonTreeMismatch},
		{"stored tree leaf edited", static(`UPDATE auditlog_entries SET tree = sha256(tree) WHERE seq = 0`), 0, auditlog.ReasonTreeMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, s := newDB(t)
			seed(t, s, 10)
			superuser(t, db, tc.stmts(auditlogtest.Entries(t, s, "org:acme"))...)
			_, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
			var ve *auditlog.VerifyError
			require.ErrorAs(t, err, &ve)
			require.ErrorIs(t, err, auditlog.ErrChainBroken)
			require.Equal(t, tc.reason, ve.Reason, ve.Error())
			require.Equal(t, tc.seq, ve.Seq, ve.Error())
		})
	}
}

// TestForgedHeadFailsFast: a superuser moves the newest row far past the
// head (seq 2^62). Appending, signing a checkpoint and verifying must each
// fail with an error, not hang in the tree arithmetic (which, for such a
// size, never ends) or panic.
func TestForgedHeadFailsFast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, s := newDB(t)
	l := seed(t, s, 10)
	superuser(t, db, `UPDATE auditlog_entries SET seq = 4611686018427387904 WHERE seq = 9`)
	for name, call := range map[string]func() error{
		"append": func() error {
			return l.Record(ctx, "acme", "user:a", "test.created", "", nil)
		},
		"checkpoint": func() error {
			_, err := auditlog.CurrentCheckpoint(ctx, s, "org:acme", time.Now())
			return err
		},
		"verify": func() error {
			_, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
			return err
		},
	} {
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			require.ErrorIs(t, err, auditlog.ErrChainBroken, name)
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: still running after 20s", name)
		}
	}
}

// insertSQL inserts e with tree (an SQL expression) as its tree column.
func insertSQL(e auditlog.Entry, tree string) string {
	return fmt.Sprintf(`INSERT INTO auditlog_entries VALUES ('%s', %d, '%s', '%s', '%s', '%s', %d, '%s', '', '', '', '\x%x', '\x%x', '\x%x', '\x%x', NULL, %s)`,
		e.Chain, e.Seq, e.Time.Format("2006-01-02T15:04:05.999999Z07:00"), e.Org, e.Actor, e.Action, e.SchemaVersion, e.Target,
		e.Payload, e.PayloadDigest[:], e.PrevHash[:], e.Hash[:], tree)
}

// TestCheckpointsCatchDBA: a superuser who disables the triggers and
// deletes the newest rows, or recomputes the whole chain, produces a chain
// that verifies on its own; the signed checkpoints kept outside catch both.
func TestCheckpointsCatchDBA(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	signer, verifier := auditlogtest.NewSigner(t, "rampart-test")

	setup := func(t *testing.T) (*pgtest.DB, pgstore.Store, []auditlog.Checkpoint) {
		db, s := newDB(t)
		path := t.TempDir() + "/checkpoints"
		l := seed(t, s, 20, auditlog.WithCheckpoints(signer, auditlog.NewFileSink(path), 5, 0), auditlog.WithMaxBatch(1))
		_, _, err := l.Checkpoint(ctx, "org:acme")
		require.NoError(t, err)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		cps, err := auditlog.ReadCheckpoints(data, note.VerifierList(verifier))
		require.NoError(t, err)
		require.Len(t, cps, 5)
		return db, s, cps
	}

	t.Run("newest rows deleted", func(t *testing.T) {
		t.Parallel()
		db, s, cps := setup(t)
		superuser(t, db, `DELETE FROM auditlog_entries WHERE seq >= 17`)
		_, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
		require.NoError(t, err, "without checkpoints, truncation is invisible")
		_, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{Checkpoints: cps})
		var ve *auditlog.VerifyError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, auditlog.ReasonTruncated, ve.Reason)
		require.EqualValues(t, 17, ve.Seq)
	})

	t.Run("whole chain recomputed", func(t *testing.T) {
		t.Parallel()
		db, s, cps := setup(t)
		// The DBA edits entry 7, recomputes every hash and the whole tree,
		// and replaces the tables' contents.
		entries := auditlogtest.Entries(t, s, "org:acme")
		entries[7].Actor = "user:scapegoat"
		batch, _, _, err := auditlog.Seal(auditlog.Head{Chain: "org:acme"}, tlog.HashReaderFunc(func([]int64) ([]tlog.Hash, error) { return nil, nil }), entries)
		require.NoError(t, err)
		stmts := []string{`DELETE FROM auditlog_entries`}
		tree := batch.Tree
		for _, e := range batch.Entries {
			k := tlog.StoredHashCount(int64(e.Seq)+1) - tlog.StoredHashCount(int64(e.Seq))
			var hashes []byte
			for _, th := range tree[:k] {
				hashes = append(hashes, th.Hash[:]...)
			}
			tree = tree[k:]
			stmts = append(stmts, insertSQL(e, fmt.Sprintf(`'\x%x'`, hashes)))
		}
		superuser(t, db, stmts...)
		res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
		require.NoError(t, err, "a recomputed chain is self-consistent")
		require.EqualValues(t, 20, res.Size)
		_, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{Checkpoints: cps})
		var ve *auditlog.VerifyError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, auditlog.ReasonCheckpointMismatch, ve.Reason)
		require.EqualValues(t, 9, ve.Seq, "the first checkpoint after the edit (size 10) catches it")
	})
}

// TestTwoProcessesOneChain runs two OS processes (this test binary,
// re-executed) appending to one chain at once.
func TestTwoProcessesOneChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, s := newDB(t)
	const n = 150
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for p := range 2 {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s p%d %d", helperEnv, db.URL, p, n))
			out, err := cmd.CombinedOutput()
			outs[p], errs[p] = string(out), err
		})
	}
	wg.Wait()
	for p := range 2 {
		require.NoError(t, errs[p], outs[p])
	}
	res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 2*n, res.Size)
	ids := map[string]bool{}
	for _, e := range auditlogtest.Entries(t, s, "org:acme") {
		require.False(t, ids[string(e.Payload)], "duplicate %s", e.Payload)
		ids[string(e.Payload)] = true
	}
	for p := range 2 {
		for i := range n {
			require.True(t, ids[fmt.Sprintf(`{"id":"p%d-%d"}`, p, i)], "p%d-%d lost", p, i)
		}
	}
}

// killingStore terminates its own backend connection in the middle of some
// batches, after the head is locked and before the rows are written.
type killingStore struct {
	pgstore.Store
	killer *pgxpool.Pool
	app    string
	mu     sync.Mutex
	n      int
	piped  atomic.Int64 // batches sent through pipelines
	kills  atomic.Int64 // kills attempted
}

func (k *killingStore) AppendBatch(ctx context.Context, chain string, seal auditlog.SealFunc) error {
	return k.Store.AppendBatch(ctx, chain, func(h auditlog.Head, tree tlog.HashReader) (*auditlog.Batch, error) {
		b, err := seal(h, tree)
		k.mu.Lock()
		k.n++
		kill := k.n%3 == 0
		k.mu.Unlock()
		if kill {
			k.kills.Add(1)
			_, kerr := k.killer.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, k.app)
			if kerr != nil {
				return nil, kerr
			}
		}
		return b, err
	})
}

// AppendSealed is the one-round-trip path a Log takes when it knows the
// head: every third call, the backend is killed while the pipeline is in
// flight, before or after COMMIT reaches the server.
func (k *killingStore) AppendSealed(ctx context.Context, expect auditlog.Head, b *auditlog.Batch) error {
	defer k.maybeKill()()
	return k.Store.AppendSealed(ctx, expect, b)
}

// maybeKill kills the victim's backends on every third call, after a short
// delay, and returns a function that waits for the killing to be done.
func (k *killingStore) maybeKill() (wait func()) {
	k.mu.Lock()
	k.n++
	kill := k.n%3 == 0
	delay := time.Duration(k.n%5) * 300 * time.Microsecond
	k.mu.Unlock()
	if !kill {
		return func() {}
	}
	k.kills.Add(1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(delay)
		_, _ = k.killer.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, k.app)
	}()
	return func() { <-done }
}

// OpenPipeline is the path a Log takes when the store can pipeline: every
// third batch sent, the backend is killed while batches are in flight.
func (k *killingStore) OpenPipeline(ctx context.Context) (auditlog.Pipeline, error) {
	p, err := k.Store.OpenPipeline(ctx)
	if err != nil {
		return nil, err
	}
	return &killingPipeline{Pipeline: p, k: k}, nil
}

type killingPipeline struct {
	auditlog.Pipeline
	k     *killingStore
	waits []func()
}

func (p *killingPipeline) Send(expect auditlog.Head, b *auditlog.Batch) error {
	p.k.piped.Add(1)
	p.waits = append(p.waits, p.k.maybeKill())
	return p.Pipeline.Send(expect, b)
}

func (p *killingPipeline) Close() error {
	err := p.Pipeline.Close()
	for _, w := range p.waits {
		w()
	}
	return err
}

// sealedOnly hides a store's pipelines, so a Log appends batch by batch.
type sealedOnly struct {
	auditlog.Store
	sealed auditlog.SealedAppender
}

func (s sealedOnly) AppendSealed(ctx context.Context, expect auditlog.Head, b *auditlog.Batch) error {
	return s.sealed.AppendSealed(ctx, expect, b)
}

func TestConnectionKilledMidBatch(t *testing.T) {
	t.Parallel()
	for _, pipelined := range []bool{false, true} {
		t.Run(fmt.Sprintf("pipelined=%v", pipelined), func(t *testing.T) {
			t.Parallel()
			testConnectionKilled(t, pipelined)
		})
	}
}

func testConnectionKilled(t *testing.T, pipelined bool) {
	ctx := context.Background()
	db, _ := newDB(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	app := "auditlog-victim-" + hex.EncodeToString(b[:])
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	victim, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(victim.Close)
	ks := &killingStore{Store: pgstore.New(victim), killer: db.Pool, app: app}
	store := auditlog.Store(ks)
	if !pipelined {
		store = sealedOnly{ks, ks}
	}
	l, _ := auditlogtest.NewLog(t, store, auditlog.WithMaxBatch(4))

	var (
		mu      sync.Mutex
		written = map[string]bool{}
		failed  int
		wg      sync.WaitGroup
	)
	for w := range 12 { // several writers: batches of more than one entry, which the Log pipelines
		wg.Go(func() {
			for i := range 8 {
				id := fmt.Sprintf("w%d-%d", w, i)
				err := l.Record(ctx, "acme", "user:w", "test.created", "", map[string]any{"id": id})
				mu.Lock()
				if err == nil {
					written[id] = true
				} else {
					require.NotErrorIs(t, err, auditlog.ErrOutcomeUnknown)
					failed++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Positive(t, ks.kills.Load(), "some batches must have been killed")
	// A batch that lost its connection and is not stored is stored again by
	// the Log (auditlog.ErrConnectionLost), so no caller sees the kill.
	require.Zero(t, failed, "killed batches are retried")
	if pipelined {
		require.Positive(t, ks.piped.Load(), "batches went through pipelines")
	}
	s := pgstore.New(db.Pool)
	res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err, "no gap, no fork")
	got := map[string]bool{}
	for _, e := range auditlogtest.Entries(t, s, "org:acme") {
		got[strings.TrimSuffix(strings.TrimPrefix(string(e.Payload), `{"id":"`), `"}`)] = true
	}
	require.Equal(t, written, got, "exactly the entries reported written are in the chain")
	require.EqualValues(t, len(written), res.Size)
}

func TestPostureDetectsDisabledTriggers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	rep, err := pgstore.Posture(ctx, db.Pool, "")
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Failed())
	for _, q := range []string{
		`ALTER TABLE auditlog_entries DISABLE TRIGGER auditlog_entries_immutable`,
		`ALTER TABLE auditlog_entries ENABLE TRIGGER auditlog_entries_immutable`, // ORIGIN: skipped by replicas
	} {
		_, err := db.Pool.Exec(ctx, q)
		require.NoError(t, err)
		rep, err := pgstore.Posture(ctx, db.Pool, "")
		require.NoError(t, err)
		require.False(t, rep.OK(), q)
		require.Equal(t, "trigger auditlog_entries_immutable on auditlog_entries exists and is enabled ALWAYS", rep.Failed()[0].Name)
	}
	// A role with too much is reported.
	role, _ := appRole(t, db)
	_, err = db.Pool.Exec(ctx, `GRANT UPDATE ON auditlog_entries TO `+pgx.Identifier{role}.Sanitize())
	require.NoError(t, err)
	rep, err = pgstore.Posture(ctx, db.Pool, role)
	require.NoError(t, err)
	var names []string
	for _, c := range rep.Failed() {
		names = append(names, c.Name)
	}
	require.Contains(t, names, `app role "`+role+`" cannot UPDATE auditlog_entries`)
}

// TestScanAcrossPages covers a chain longer than three pages of Scan (whose
// later pages are prefetched concurrently): every entry comes once, in
// order; a Scan stopped on a later page returns at once with fn's error;
// and a gap wider than the scan window is still found.
func TestScanAcrossPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, s := newDB(t)
	const n = 3*8192 + 100
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for done := 0; done < n; {
		k := min(4096, n-done)
		entries := make([]auditlog.Entry, k)
		for i := range entries {
			p := []byte(fmt.Sprintf(`{"i":%d}`, done+i))
			entries[i] = auditlog.Entry{Time: at, Org: "acme", Actor: "user:u", Action: "x.y", SchemaVersion: 1,
				Target: "doc:" + strconv.Itoa(done+i), Payload: p, PayloadDigest: auditlog.PayloadDigest(p)}
		}
		require.NoError(t, s.AppendBatch(ctx, "org:acme", func(h auditlog.Head, tree tlog.HashReader) (*auditlog.Batch, error) {
			b, _, _, err := auditlog.Seal(h, tree, entries)
			return b, err
		}))
		done += k
	}
	next := uint64(5)
	require.NoError(t, s.Scan(ctx, "org:acme", 5, func(e *auditlog.Entry) error {
		require.Equal(t, next, e.Seq)
		next++
		return nil
	}))
	require.Equal(t, uint64(n), next)

	stop := errors.New("stop")
	seen := 0
	err := s.Scan(ctx, "org:acme", 0, func(e *auditlog.Entry) error {
		seen++
		if e.Seq == 2*8192+7 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 2*8192+8, seen)

	res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(n), res.Size)

	// A superuser deletes a run of entries wider than the scan window:
	// Verify reports the gap at the first missing entry.
	_, err = db.Pool.Exec(ctx, `ALTER TABLE auditlog_entries DISABLE TRIGGER USER;
		DELETE FROM auditlog_entries WHERE seq BETWEEN 1000 AND 1000 + 2*8192 + 9`)
	require.NoError(t, err)
	var left int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM auditlog_entries`).Scan(&left))
	require.Equal(t, n-2*8192-10, left)
	_, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	var ve *auditlog.VerifyError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, uint64(1000), ve.Seq)
	require.Equal(t, auditlog.ReasonSequenceGap, ve.Reason)
}

// TestOnlyPrimaryKeyLeadsWithChain guards a planning trap: the extend
// trigger's probe and the store's queries select by chain and seq, and a
// plan cached while the table is small cannot tell two indexes leading
// with chain apart; the wrong one reads the whole chain per lookup.
func TestOnlyPrimaryKeyLeadsWithChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	rows, err := db.Pool.Query(ctx, `SELECT i.indexrelid::regclass::text, i.indisprimary, a.attname
		FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = 'auditlog_entries'::regclass`)
	require.NoError(t, err)
	var leading []string
	for rows.Next() {
		var (
			name, col string
			primary   bool
		)
		require.NoError(t, rows.Scan(&name, &primary, &col))
		if col == "chain" && !primary {
			leading = append(leading, name)
		}
	}
	require.NoError(t, rows.Err())
	require.Empty(t, leading, "indexes other than the primary key leading with chain")
}

// TestPipelinesLeaveHalfThePool: pipelines hold at most half of the pool's
// connections (none of a pool of one), so other work is never starved; a
// Log whose store cannot open one appends without it.
func TestPipelinesLeaveHalfThePool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	for _, size := range []int32{1, 4} {
		cfg, err := pgxpool.ParseConfig(db.URL)
		require.NoError(t, err)
		cfg.MaxConns = size
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		require.NoError(t, err)
		defer pool.Close()
		s := pgstore.New(pool)
		var open []auditlog.Pipeline
		for {
			p, err := s.OpenPipeline(ctx)
			if err != nil {
				break
			}
			open = append(open, p)
		}
		require.Len(t, open, int(size/2), "pool of %d", size)
		// With every pipeline taken, a Log still appends.
		l, _ := auditlogtest.NewLog(t, s)
		for range 3 {
			require.NoError(t, l.Record(ctx, "acme", "user:a", "test.created", "", nil))
		}
		for _, p := range open {
			require.NoError(t, p.Close())
		}
		p, err := s.OpenPipeline(ctx)
		if size > 1 {
			require.NoError(t, err, "a closed pipeline's slot is free again")
			require.NoError(t, p.Close())
		} else {
			require.Error(t, err)
		}
	}
}
