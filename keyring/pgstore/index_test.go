package pgstore_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/pgstore"
	"github.com/stretchr/testify/require"
)

func indexDoc(t *testing.T) *keyring.Document {
	t.Helper()
	d, err := keyring.Init([]string{"users.email", "users.email.idx", "psn"},
		keyring.Column{Table: "members", Column: "email", Scope: "users.email"},
		keyring.Column{Table: "members", Column: "email_idx", Scope: "users.email.idx", Kind: keyring.KindBlindIndex},
		keyring.Column{Table: "events", Column: "subject", Scope: "psn", Kind: keyring.KindBlindIndex})
	require.NoError(t, err)
	return d
}

func memberEmail(i int) string { return "Member" + strconv.Itoa(i) + "@Example.com" }

// crashingIndex fails the Swap after n batches, as a killed process would.
type crashingIndex struct {
	keyring.IndexRowSource
	n, calls int
}

func (c *crashingIndex) Swap(ctx context.Context, s []keyring.Swap) (int64, error) {
	c.calls++
	if c.calls > c.n {
		return 0, fmt.Errorf("simulated crash")
	}
	return c.IndexRowSource.Swap(ctx, s)
}

// requireMemberLookups runs the application's query for every member.
func requireMemberLookups(t *testing.T, pool *pgxpool.Pool, idx *keyring.BlindIndex, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		var ids []string
		rows, err := pool.Query(context.Background(), `SELECT id::text FROM members WHERE email_idx = ANY($1)`, idx.Sums([]byte(memberEmail(i))))
		require.NoError(t, err)
		for rows.Next() {
			var id string
			require.NoError(t, rows.Scan(&id))
			ids = append(ids, id)
		}
		require.NoError(t, rows.Err())
		require.Equal(t, []string{strconv.Itoa(i)}, ids, "member %d", i)
	}
}

// TestReindexFlowOnPostgres rotates a blind-index scope end to end: lookups
// work throughout, retire is refused until the reindex (crashed and resumed
// midway) is done, and lookups still work after retirement.
func TestReindexFlowOnPostgres(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ idType, emailType string }{{"bigint", "bytea"}, {"text", "text"}} {
		t.Run(tc.idType+"/"+tc.emailType, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := migrated(t)
			d := indexDoc(t)
			r1 := ring(t, d)
			lower := keyring.WithNormalizer(bytes.ToLower)
			idx1, err := r1.BlindIndex("members", "email_idx", lower)
			require.NoError(t, err)
			_, err = pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE members (id %s PRIMARY KEY, email %s, email_idx bytea UNIQUE)`, tc.idType, tc.emailType))
			require.NoError(t, err)
			const n = 45
			for i := 1; i <= n; i++ {
				id := strconv.Itoa(i)
				var ct any
				if tc.emailType == "text" {
					ct, err = r1.Field("members", "email").SealText(id, []byte(memberEmail(i)))
				} else {
					ct, err = r1.Field("members", "email").Seal(id, []byte(memberEmail(i)))
				}
				require.NoError(t, err)
				v := idx1.Sum([]byte(memberEmail(i)))
				if i%9 == 0 {
					v = v[keyring.IndexHeaderSize:] // written before key IDs were recorded
				}
				_, err = pool.Exec(ctx, `INSERT INTO members VALUES ($1, $2, $3)`, id, ct, v)
				require.NoError(t, err)
			}
			_, err = pool.Exec(ctx, `INSERT INTO members VALUES ('1000', NULL, NULL)`) // no index: not counted, not scanned
			require.NoError(t, err)
			oldID, _ := r1.Primary("users.email.idx")

			newID, err := d.Rotate("users.email.idx")
			require.NoError(t, err)
			r2 := ring(t, d)
			idx2, err := r2.BlindIndex("members", "email_idx", lower)
			require.NoError(t, err)
			requireMemberLookups(t, pool, idx2, n)

			counter := newCounter(t, pool)
			use, err := keyring.KeyInUse(ctx, d, oldID, counter)
			require.NoError(t, err)
			require.Equal(t, []keyring.KeyUse{{Table: "members", Column: "email_idx", Kind: keyring.KindBlindIndex, Count: 40, Untagged: 5}}, use)

			store := pgstore.New(pool)
			save := func(ctx context.Context, c keyring.Cursor) error {
				return store.SaveCheckpoint(ctx, "members", "email_idx", c.ID)
			}
			col := pgstore.NewIndexColumn(pool, "members", "id", "email_idx", "email")
			values := keyring.FieldValues(r2.Field("members", "email"))
			_, err = idx2.Reindex(ctx, &crashingIndex{IndexRowSource: col, n: 2}, values, keyring.ReencryptOptions{BatchSize: 10, Checkpoint: save})
			require.ErrorContains(t, err, "simulated crash")
			cp, err := store.LoadCheckpoint(ctx, "members", "email_idx")
			require.NoError(t, err)
			require.True(t, cp.Started)
			requireMemberLookups(t, pool, idx2, n)
			use, err = keyring.KeyInUse(ctx, d, oldID, counter)
			require.NoError(t, err)
			require.NotEmpty(t, use, "still refused midway")

			res, err := idx2.Reindex(ctx, col, values, keyring.ReencryptOptions{BatchSize: 10, After: cp, Checkpoint: save})
			require.NoError(t, err)
			require.Equal(t, int64(25), res.Scanned)
			require.Equal(t, int64(25), res.Rewritten)
			requireMemberLookups(t, pool, idx2, n)
			res, err = idx2.Reindex(ctx, col, values, keyring.ReencryptOptions{})
			require.NoError(t, err)
			require.Equal(t, keyring.ReencryptResult{Scanned: n, Current: n, LastID: res.LastID, Resume: keyring.After(res.LastID)}, res, "idempotent")

			use, err = keyring.KeyInUse(ctx, d, oldID, counter)
			require.NoError(t, err)
			require.Empty(t, use)
			_, err = d.Retire(oldID)
			require.NoError(t, err)
			idx3, err := ring(t, d).BlindIndex("members", "email_idx", lower)
			require.NoError(t, err)
			requireMemberLookups(t, pool, idx3, n)

			_, err = pool.Exec(ctx, `CREATE TABLE events (id bigint, subject text)`)
			require.NoError(t, err)
			rep, err := keyring.Check(ctx, d, keyring.CheckOptions{Counter: counter})
			require.NoError(t, err)
			require.True(t, rep.OK, rep.Findings)
			require.Contains(t, rep.Counts, keyring.ColumnCount{Table: "members", Column: "email_idx", Scope: "users.email.idx", KeyID: newID, Status: "primary", Count: n})
		})
	}
}

// TestCountIndexKeyIDsOnPostgres classifies stored index values by header:
// only the tagged layout with a key of the scope counts under its key.
func TestCountIndexKeyIDsOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := migrated(t)
	d := indexDoc(t)
	r := ring(t, d)
	psn, err := r.BlindIndex("events", "subject")
	require.NoError(t, err)
	psnID, _ := r.Primary("psn")
	_, err = pool.Exec(ctx, `CREATE TABLE events (id bigint, subject text); CREATE TABLE raw (id bigint, v bytea)`)
	require.NoError(t, err)
	tagged := psn.Sum([]byte("s1"))
	foreign := append([]byte{keyring.VersionIndex, 0, 0, 0, 99}, tagged[keyring.IndexHeaderSize:]...)
	for i, v := range []string{
		"psn_" + hex.EncodeToString(tagged),                           // counted under psnID
		hex.EncodeToString(psn.Sum([]byte("s2"))),                     // bare hex: counted too
		"psn_" + hex.EncodeToString(tagged[keyring.IndexHeaderSize:]), // untagged (legacy pseudonym)
		"psn_" + hex.EncodeToString(foreign),                          // a key of no scope: 0
		"not hex at all",                                              // 0
		"psn_" + hex.EncodeToString(tagged)[:9],                       // odd hex: 0, no error
	} {
		_, err = pool.Exec(ctx, `INSERT INTO events VALUES ($1, $2)`, i, v)
		require.NoError(t, err)
	}
	counts, err := newCounter(t, pool).(keyring.IndexKeyIDCounter).CountIndexKeyIDs(ctx, "events", "subject", d.ScopeKeyIDs("psn"))
	require.NoError(t, err)
	require.Equal(t, map[uint32]int64{psnID: 2, 0: 4}, counts)

	for _, v := range [][]byte{tagged, tagged[:keyring.IndexHeaderSize+8], tagged[:keyring.IndexHeaderSize+7], append(tagged, 1), []byte("$2a$12$bcrypt"), {}} {
		_, err = pool.Exec(ctx, `INSERT INTO raw VALUES (1, $1)`, v)
		require.NoError(t, err)
	}
	counts, err = newCounter(t, pool).(keyring.IndexKeyIDCounter).CountIndexKeyIDs(ctx, "raw", "v", []uint32{psnID, 4000})
	require.NoError(t, err)
	require.Equal(t, map[uint32]int64{psnID: 2, 0: 4}, counts)

	// CountWhere restricts the rows counted (revoked API keys, say).
	counts, err = newCounter(t, pool, pgstore.CountWhere("raw", "v", "id <> 1")).(keyring.IndexKeyIDCounter).CountIndexKeyIDs(ctx, "raw", "v", []uint32{psnID})
	require.NoError(t, err)
	require.Empty(t, counts)
	counts, err = newCounter(t, pool, pgstore.CountWhere("other", "v", "false")).(keyring.IndexKeyIDCounter).CountIndexKeyIDs(ctx, "raw", "v", []uint32{psnID})
	require.NoError(t, err)
	require.Equal(t, int64(2), counts[psnID], "a condition applies to its own column only")

	_, err = newCounter(t, pool).(keyring.IndexKeyIDCounter).CountIndexKeyIDs(ctx, "raw", "nope", nil)
	require.ErrorContains(t, err, `has no column "nope"`)
	_, err = pgstore.NewIndexColumn(pool, "raw", "id", "v", "nope").NextIndex(ctx, keyring.Cursor{}, 10)
	require.ErrorContains(t, err, `has no column "nope"`)
	_, err = pgstore.NewIndexColumn(pool, "events", "id", "subject", "").NextIndex(ctx, keyring.Cursor{}, 10)
	require.ErrorContains(t, err, "want bytea")
}

// killing terminates the backend of its one-connection pool just before
// the at-th call of the statement named by what, as a crashed database
// connection would.
type killing struct {
	keyring.IndexRowSource
	t        *testing.T
	pool     *pgxpool.Pool // the reindex's own pool (MaxConns 1)
	admin    *pgxpool.Pool // another pool, to kill from
	what     string        // "next" or "swap"
	at, seen int
}

func (k *killing) kill(ctx context.Context, what string) {
	if what != k.what {
		return
	}
	k.seen++
	if k.seen != k.at {
		return
	}
	var pid int
	require.NoError(k.t, k.pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid))
	_, err := k.admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid)
	require.NoError(k.t, err)
}

func (k *killing) NextIndex(ctx context.Context, after keyring.Cursor, limit int) ([]keyring.IndexRow, error) {
	k.kill(ctx, "next")
	return k.IndexRowSource.NextIndex(ctx, after, limit)
}

func (k *killing) Swap(ctx context.Context, s []keyring.Swap) (int64, error) {
	k.kill(ctx, "swap")
	return k.IndexRowSource.Swap(ctx, s)
}

// TestReindexBackendKilledOnPostgres kills the reindex's database
// connection before a read and before a write: the run fails, no row is
// half-written, lookups keep working, and a new run resumes from the
// checkpoint and finishes.
func TestReindexBackendKilledOnPostgres(t *testing.T) {
	t.Parallel()
	for _, what := range []string{"next", "swap"} {
		t.Run(what, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := pgtest.New(t)
			require.NoError(t, pgstore.Migrate(ctx, db.Pool))
			d := indexDoc(t)
			r1 := ring(t, d)
			lower := keyring.WithNormalizer(bytes.ToLower)
			idx1, err := r1.BlindIndex("members", "email_idx", lower)
			require.NoError(t, err)
			_, err = db.Pool.Exec(ctx, `CREATE TABLE members (id bigint PRIMARY KEY, email bytea, email_idx bytea UNIQUE)`)
			require.NoError(t, err)
			const n = 40
			for i := 1; i <= n; i++ {
				ct, err := r1.Field("members", "email").Seal(strconv.Itoa(i), []byte(memberEmail(i)))
				require.NoError(t, err)
				_, err = db.Pool.Exec(ctx, `INSERT INTO members VALUES ($1, $2, $3)`, i, ct, idx1.Sum([]byte(memberEmail(i))))
				require.NoError(t, err)
			}
			_, err = d.Rotate("users.email.idx")
			require.NoError(t, err)
			r2 := ring(t, d)
			idx2, err := r2.BlindIndex("members", "email_idx", lower)
			require.NoError(t, err)
			values := keyring.FieldValues(r2.Field("members", "email"))
			store := pgstore.New(db.Pool)
			save := func(ctx context.Context, c keyring.Cursor) error {
				return store.SaveCheckpoint(ctx, "members", "email_idx", c.ID)
			}

			cfg, err := pgxpool.ParseConfig(db.URL)
			require.NoError(t, err)
			cfg.MaxConns = 1
			victim, err := pgxpool.NewWithConfig(ctx, cfg)
			require.NoError(t, err)
			defer victim.Close()
			src := &killing{IndexRowSource: pgstore.NewIndexColumn(victim, "members", "id", "email_idx", "email"),
				t: t, pool: victim, admin: db.Pool, what: what, at: 3}
			_, err = idx2.Reindex(ctx, src, values, keyring.ReencryptOptions{BatchSize: 10, Checkpoint: save})
			require.Error(t, err, "the killed connection fails the run")
			requireMemberLookups(t, db.Pool, idx2, n)
			cp, err := store.LoadCheckpoint(ctx, "members", "email_idx")
			require.NoError(t, err)
			require.Equal(t, keyring.After("20"), cp, "two batches were done")
			var moved int
			newID, _ := r2.Primary("users.email.idx")
			require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM members WHERE substring(email_idx from 2 for 4) = $1`,
				[]byte{byte(newID >> 24), byte(newID >> 16), byte(newID >> 8), byte(newID)}).Scan(&moved))
			require.Equal(t, 20, moved, "no row of the killed batch was written")

			res, err := idx2.Reindex(ctx, pgstore.NewIndexColumn(db.Pool, "members", "id", "email_idx", "email"), values,
				keyring.ReencryptOptions{BatchSize: 10, After: cp, Checkpoint: save})
			require.NoError(t, err)
			require.Equal(t, int64(20), res.Rewritten)
			requireMemberLookups(t, db.Pool, idx2, n)
			use, err := keyring.KeyInUse(ctx, d, d.ScopeKeyIDs("users.email.idx")[0], newCounter(t, db.Pool))
			require.NoError(t, err)
			require.Empty(t, use)
		})
	}
}

// TestCounterInvalidConfig: Counter refuses a nil pool, a nil option and a
// CountWhere that is empty or gives one column a second condition (which
// silently replaced the first), with keyring.ErrInvalidConfig naming it.
// Nothing here reaches a database.
func TestCounterInvalidConfig(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	for _, tc := range []struct {
		name string
		opts []pgstore.CounterOption
		want string
	}{
		{"nil option", []pgstore.CounterOption{nil}, "Counter: option 0 is nil"},
		{"empty table", []pgstore.CounterOption{pgstore.CountWhere("", "v", "true")}, "CountWhere: empty table or column"},
		{"empty column", []pgstore.CounterOption{pgstore.CountWhere("t", "", "true")}, "CountWhere: empty table or column"},
		{"empty condition", []pgstore.CounterOption{pgstore.CountWhere("t", "v", " ")}, `CountWhere("t", "v"): empty condition`},
		{"second condition", []pgstore.CounterOption{pgstore.CountWhere("t", "v", "a"), pgstore.CountWhere("t", "v", "b")}, "second condition"},
	} {
		c, err := pgstore.Counter(pool, tc.opts...)
		require.ErrorIs(t, err, keyring.ErrInvalidConfig, tc.name)
		require.ErrorContains(t, err, tc.want, tc.name)
		require.Nil(t, c, tc.name)
	}
	_, err = pgstore.Counter(nil)
	require.ErrorIs(t, err, keyring.ErrInvalidConfig)
	c, err := pgstore.Counter(pool, pgstore.CountWhere("t", "v", "a"), pgstore.CountWhere("t", "w", "b"), pgstore.CountWhere("u", "v", "c"))
	require.NoError(t, err, "one condition per column")
	require.NotNil(t, c)
}
