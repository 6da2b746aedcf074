package pgstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/pgstore"
)

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

type hasher struct{}

func (hasher) Sum(v []byte) []byte { return []byte(fmt.Sprintf("%x", len(v)*7919)) }

type shredder struct {
	mu        sync.Mutex
	destroyed map[string]int
}

func (s *shredder) Destroy(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.destroyed[id]++
	return nil
}

func setup(t *testing.T) (*pgxpool.Pool, pgstore.Store) {
	db := pgtest.New(t)
	ctx := context.Background()
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	_, err := db.Pool.Exec(ctx, `
		CREATE TABLE users (org text, id text, email bytea, name text, city text);
		CREATE TABLE invoices (org text, subject text, number text, amount int, name text, address text);
		CREATE TABLE events (subject text, kind text);`)
	require.NoError(t, err)
	return db.Pool, mustNew(t, db.Pool)
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func TestNewTableEraserRefusesBadInput(t *testing.T) {
	t.Parallel()
	for name, tb := range map[string]pgstore.Table{
		"injection":       {Name: "users; DROP TABLE x", SubjectColumn: "id"},
		"bad column":      {Name: "users", SubjectColumn: "id\"--"},
		"no subject":      {Name: "users"},
		"three parts":     {Name: "a.b.c", SubjectColumn: "id"},
		"invalid plan":    {Name: "users", SubjectColumn: "id", Erase: privacy.Plan{"x": {}}},
		"minimise delete": {Name: "users", SubjectColumn: "id", Minimise: privacy.Plan{"x": privacy.Delete()}},
		"bad plan column": {Name: "users", SubjectColumn: "id", Erase: privacy.Plan{"a b": privacy.SetNull()}},
	} {
		_, err := pgstore.NewTableEraser(nil, tb)
		require.ErrorIs(t, err, privacy.ErrInvalid, name)
	}
}

// TestTableEraserStrategies erases with each strategy on a real table and
// keeps other subjects and organisations untouched.
func TestTableEraserStrategies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := setup(t)
	_, err := pool.Exec(ctx, `INSERT INTO users VALUES ('o1','u1','\x01','Alice','Lyon'), ('o1','u2','\x02','Bob','Paris'), ('o2','u1','\x03','Other','Nice');
		INSERT INTO events VALUES ('u1','login'), ('u1','click'), ('u2','login')`)
	require.NoError(t, err)
	sh := &shredder{destroyed: map[string]int{}}
	users, err := pgstore.NewTableEraser(pool, pgstore.Table{Name: "users", OrgColumn: "org", SubjectColumn: "id",
		Erase: privacy.Plan{"email": privacy.CryptoShred(sh), "name": privacy.Replace("deleted user"), "city": privacy.SetNull()}})
	require.NoError(t, err)
	events, err := pgstore.NewTableEraser(pool, pgstore.Table{Name: "events", SubjectColumn: "subject",
		Erase: privacy.Plan{"subject": privacy.Pseudonym(hasher{})}})
	require.NoError(t, err)

	res, err := users.Erase(ctx, privacy.EraseRequest{Org: "o1", SubjectID: "u1", Domain: "users"})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Records)
	require.Equal(t, 1, sh.destroyed["u1"])
	var name string
	var city *string
	var email []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT name, city, email FROM users WHERE org='o1' AND id='u1'`).Scan(&name, &city, &email))
	require.Equal(t, "deleted user", name)
	require.Nil(t, city)
	require.Equal(t, []byte{1}, email, "ciphertext stays; its key is gone")
	require.Equal(t, 1, count(t, pool, `SELECT count(*) FROM users WHERE org='o2' AND id='u1' AND name='Other'`), "other organisation untouched")
	require.Equal(t, 1, count(t, pool, `SELECT count(*) FROM users WHERE id='u2' AND name='Bob'`))

	res, err = events.Erase(ctx, privacy.EraseRequest{Org: "o1", SubjectID: "u1"})
	require.NoError(t, err)
	require.EqualValues(t, 2, res.Records)
	want := privacy.PseudonymOf(hasher{}, "u1")
	require.Equal(t, 2, count(t, pool, `SELECT count(*) FROM events WHERE subject=$1`, want), "stable pseudonym across rows")
	res, err = events.Erase(ctx, privacy.EraseRequest{Org: "o1", SubjectID: "u1"})
	require.NoError(t, err)
	require.Zero(t, res.Records, "idempotent")

	// Batch of a subject-independent plan: one statement.
	del, err := pgstore.NewTableEraser(pool, pgstore.Table{Name: "events", SubjectColumn: "subject"})
	require.NoError(t, err)
	res, err = del.EraseBatch(ctx, []privacy.EraseRequest{{SubjectID: "u2"}, {SubjectID: want}})
	require.NoError(t, err)
	require.EqualValues(t, 3, res.Records)
	require.Zero(t, count(t, pool, `SELECT count(*) FROM events`))
}

// TestSweepOnPostgres runs a full sweep with a retention domain on Postgres.
func TestSweepOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, st := setup(t)
	now := t0
	m := newServices(t, st, privacy.WithClock(func() time.Time { return now }))
	users, err := pgstore.NewTableEraser(pool, pgstore.Table{Name: "users", OrgColumn: "org", SubjectColumn: "id"})
	require.NoError(t, err)
	invoices, err := pgstore.NewTableEraser(pool, pgstore.Table{Name: "invoices", OrgColumn: "org", SubjectColumn: "subject",
		Minimise: privacy.Plan{"name": privacy.SetNull(), "address": privacy.SetNull()}})
	require.NoError(t, err)
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: users}))
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "invoices", Eraser: invoices, Retention: 7 * 365 * 24 * time.Hour}))
	_, err = pool.Exec(ctx, `INSERT INTO users VALUES ('o1','u1','\x01','Alice','Lyon'), ('o1','u2','\x02','Bob','Paris');
		INSERT INTO invoices VALUES ('o1','u1','INV-1',100,'Alice','1 rue X'), ('o1','u2','INV-2',50,'Bob','2 rue Y')`)
	require.NoError(t, err)
	for _, id := range []string{"u1", "u2"} {
		_, err := m.RequestDeletion(ctx, privacy.Ref{Org: "o1", ID: id}, "user:"+id, "")
		require.NoError(t, err)
	}
	now = now.Add(31 * 24 * time.Hour)
	rep, err := m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Equal(t, 2, rep.Erased)
	require.Zero(t, count(t, pool, `SELECT count(*) FROM users`))
	require.Equal(t, 2, count(t, pool, `SELECT count(*) FROM invoices WHERE name IS NULL AND address IS NULL AND number IS NOT NULL AND amount > 0`),
		"invoices keep only their required fields")
	now = now.Add(7*365*24*time.Hour + time.Hour)
	rep, err = m.Sweep(ctx, privacy.SweepOptions{})
	require.NoError(t, err)
	require.Equal(t, 2, rep.RetentionErased)
	require.Zero(t, count(t, pool, `SELECT count(*) FROM invoices`))
	hist, err := m.History(ctx, privacy.Ref{Org: "o1", ID: "u1"})
	require.NoError(t, err)
	require.Equal(t, []string{privacy.ActionDeletionRequested, privacy.ActionErased, privacy.ActionRetentionErased},
		[]string{hist[0].Action, hist[1].Action, hist[2].Action})
}

// countingEraser logs every erasure it performs into erase_log, so the test
// can count them in the database.
type countingEraser struct {
	inner privacy.BatchEraser
	pool  *pgxpool.Pool
	name  string
}

func (c countingEraser) log(ctx context.Context, reqs []privacy.EraseRequest) error {
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		ids[i] = r.SubjectID
	}
	_, err := c.pool.Exec(ctx, `INSERT INTO erase_log SELECT unnest($1::text[]), $2`, ids, c.name)
	return err
}

func (c countingEraser) Erase(ctx context.Context, r privacy.EraseRequest) (privacy.Result, error) {
	if err := c.log(ctx, []privacy.EraseRequest{r}); err != nil {
		return privacy.Result{}, err
	}
	return c.inner.Erase(ctx, r)
}

func (c countingEraser) EraseBatch(ctx context.Context, rs []privacy.EraseRequest) (privacy.Result, error) {
	if err := c.log(ctx, rs); err != nil {
		return privacy.Result{}, err
	}
	return c.inner.EraseBatch(ctx, rs)
}

// TestConcurrentSweepersEraseEachSubjectOnce runs two sweepers at once on
// the same database: every subject is erased, in every domain, exactly once.
func TestConcurrentSweepersEraseEachSubjectOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, st := setup(t)
	_, err := pool.Exec(ctx, `CREATE TABLE erase_log (subject text, domain text)`)
	require.NoError(t, err)
	const n = 300
	_, err = pool.Exec(ctx, `INSERT INTO users SELECT 'o1', 'u' || g, '\x00', 'n', 'c' FROM generate_series(1, $1) g`, n)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO events SELECT 'u' || g, 'k' FROM generate_series(1, $1) g`, n)
	require.NoError(t, err)
	now := t0
	clock := func() time.Time { return now }
	mk := func() *services {
		m := newServices(t, st, privacy.WithClock(clock))
		u, err := pgstore.NewTableEraser(pool, pgstore.Table{Name: "users", OrgColumn: "org", SubjectColumn: "id"})
		require.NoError(t, err)
		e, err := pgstore.NewTableEraser(pool, pgstore.Table{Name: "events", SubjectColumn: "subject"})
		require.NoError(t, err)
		require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "users", Eraser: countingEraser{u, pool, "users"}}))
		require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "events", Eraser: countingEraser{e, pool, "events"}}))
		return m
	}
	a, b := mk(), mk()
	for i := 1; i <= n; i++ {
		_, err := a.RequestDeletion(ctx, privacy.Ref{Org: "o1", ID: fmt.Sprintf("u%d", i)}, "user:x", "")
		require.NoError(t, err)
	}
	now = now.Add(31 * 24 * time.Hour)

	var wg sync.WaitGroup
	reps := make([]privacy.SweepReport, 2)
	errs := make([]error, 2)
	for i, m := range []*services{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = m.Sweep(ctx, privacy.SweepOptions{BatchSize: 10})
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Equal(t, n, reps[0].Erased+reps[1].Erased, "no subject skipped, none erased twice")
	t.Logf("sweeper A erased %d, sweeper B erased %d", reps[0].Erased, reps[1].Erased)
	require.Equal(t, 2*n, count(t, pool, `SELECT count(*) FROM erase_log`))
	require.Zero(t, count(t, pool, `SELECT count(*) FROM (SELECT subject, domain FROM erase_log GROUP BY 1, 2 HAVING count(*) > 1) d`))
	require.Zero(t, count(t, pool, `SELECT count(*) FROM users`))
	require.Zero(t, count(t, pool, `SELECT count(*) FROM events`))
	require.Equal(t, n, count(t, pool, `SELECT count(*) FROM privacy_subjects WHERE state = 'erased' AND lease_owner IS NULL`))
	require.Equal(t, n, count(t, pool, `SELECT count(*) FROM privacy_events WHERE action = $1`, privacy.ActionErased))
}

// TestHistoryIsAppendOnly: the database refuses to rewrite consent or
// lifecycle history.
func TestHistoryIsAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, st := setup(t)
	m := newServices(t, st)
	require.NoError(t, m.Consent.RegisterPurpose(privacy.Purpose{Name: "analytics", Version: 1}))
	_, err := m.Consent.Grant(ctx, "o1", "visitor:v", "analytics", "banner")
	require.NoError(t, err)
	_, err = m.RequestDeletion(ctx, privacy.Ref{Org: "o1", ID: "u1"}, "user:u1", "")
	require.NoError(t, err)
	for _, sql := range []string{
		`UPDATE privacy_consent SET granted = NOT granted`,
		`DELETE FROM privacy_consent`,
		`UPDATE privacy_events SET actor = 'user:someone-else'`,
		`DELETE FROM privacy_events`,
	} {
		_, err := pool.Exec(ctx, sql)
		require.ErrorContains(t, err, "append-only", sql)
	}
}
