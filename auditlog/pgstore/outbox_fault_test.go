package pgstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgfault"
)

// The backend is killed at every statement of a host transaction that
// records through the outbox (BEGIN, the business row, the outbox row,
// COMMIT): afterwards the chain holds an entry for exactly the committed
// business rows, whatever each run returned.
func TestOutboxFaultHostTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := outboxDB(t)
	clean := pgstore.New(db.Pool)
	l := newOutboxLog(t, clean)
	fp := pgfault.New(t, db.URL, 2)

	id := int64(0)
	points := fp.EachPoint(t, 20, func(ctx context.Context) error {
		id++
		return hostTx(ctx, fp.Pool, l, "acme", id)
	}, func(o pgfault.Outcome) {
		if o.Killed {
			require.True(t, o.Err == nil || pgfault.ConnectionLost(o.Err), "point %d: %v", o.Point, o.Err)
		} else {
			require.NoError(t, o.Err)
		}
	})
	require.GreaterOrEqual(t, points, 4)
	drain(t, l, clean, clean)
	committed := bizTargets(t, db.Pool, "acme")
	require.NotEmpty(t, committed)
	require.Equal(t, committed, sortedTargets(chainTargets(t, clean, "org:acme")))
	_ = ctx
}

// The relay's backend is killed at every statement of a relay pass: the
// rows are sealed exactly once, in order, whichever statement failed.
func TestOutboxFaultRelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := outboxDB(t)
	clean := pgstore.New(db.Pool)
	l := newOutboxLog(t, clean)
	fp := pgfault.New(t, db.URL, 2)
	faulty := pgstore.New(fp.Pool)
	relay := newOutboxLog(t, faulty)

	id := int64(0)
	var want []string
	fp.EachPoint(t, 40, func(ctx context.Context) error {
		for range 3 {
			id++
			if err := hostTx(ctx, db.Pool, l, "acme", id); err != nil {
				return err
			}
			want = append(want, "biz:"+strconv.FormatInt(id, 10))
		}
		drain(t, relay, faulty, clean)
		return nil
	}, func(o pgfault.Outcome) {
		require.NoError(t, o.Err)
		require.Equal(t, want, chainTargets(t, clean, "org:acme"), "point %d", o.Point)
	})
	_ = ctx
}

// Two relays, each with its own pool whose backends are killed at random,
// drain one outbox that four sequential writers (one per organisation)
// fill: every chain verifies and holds each committed row exactly once,
// in commit order.
func TestOutboxTwoRelaysKilledRandomly(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := outboxDB(t)
	clean := pgstore.New(db.Pool)
	l := newOutboxLog(t, clean)

	var relays sync.WaitGroup
	var stops []func() int
	for range 2 {
		fp := pgfault.New(t, db.URL, 3)
		s := pgstore.New(fp.Pool)
		r := newOutboxLog(t, s)
		relays.Add(1)
		go func() {
			defer relays.Done()
			_ = r.RunOutbox(ctx, s, auditlog.RelayOptions{Interval: time.Millisecond})
		}()
		stops = append(stops, fp.KillRandomly(20*time.Millisecond, 80*time.Millisecond))
	}
	orgs := []string{"a", "b", "c", "d"}
	order := make([][]string, len(orgs))
	var writers sync.WaitGroup
	for i, org := range orgs {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for n := range int64(120) {
				id := int64(i)*1000 + n
				require.NoError(t, hostTx(ctx, db.Pool, l, org, id))
				order[i] = append(order[i], "biz:"+strconv.FormatInt(id, 10))
			}
		}()
	}
	writers.Wait()
	// Keep killing a little longer while the relays catch up.
	time.Sleep(200 * time.Millisecond)
	kills := 0
	for _, stop := range stops {
		kills += stop()
	}
	t.Logf("%d backends killed", kills)
	require.Eventually(t, func() bool {
		st, err := clean.OutboxStatus(context.Background())
		return err == nil && st.Drained()
	}, time.Minute, 10*time.Millisecond)
	cancel()
	relays.Wait()
	for i, org := range orgs {
		require.Equal(t, order[i], chainTargets(t, clean, auditlog.ChainFor(org)), "org %s", org)
	}
}

const childEnv = "RAMPART_OUTBOX_CHILD_URL"

// The process is killed (SIGKILL) while host transactions record through
// the outbox and its relay seals them, three times: afterwards (the next
// process drains the outbox) the chain holds exactly the committed
// business rows, each once, in commit order.
func TestOutboxProcessKilled(t *testing.T) {
	if url := os.Getenv(childEnv); url != "" {
		outboxChild(t, url)
		return
	}
	t.Parallel()
	ctx := context.Background()
	db := outboxDB(t)
	clean := pgstore.New(db.Pool)
	_, err := db.Pool.Exec(ctx, `CREATE TABLE biz_order (n bigint GENERATED ALWAYS AS IDENTITY, id bigint NOT NULL)`)
	require.NoError(t, err)
	for round := range 3 {
		before := count(t, db.Pool)
		cmd := exec.Command(os.Args[0], "-test.run=^TestOutboxProcessKilled$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+db.URL, "RAMPART_OUTBOX_CHILD_BASE="+strconv.Itoa((round+1)*100000))
		require.NoError(t, cmd.Start())
		// Let it commit some, then kill it at a random moment.
		require.Eventually(t, func() bool { return count(t, db.Pool) > before+20 }, time.Minute, 5*time.Millisecond)
		time.Sleep(time.Duration(rand.N(50)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
	}
	l := newOutboxLog(t, clean)
	drain(t, l, clean, clean)
	// biz_order records the commit order: the child commits its host
	// transactions one after another, each numbering itself.
	rows, err := db.Pool.Query(ctx, `SELECT 'biz:' || id FROM biz_order ORDER BY n`)
	require.NoError(t, err)
	var want []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		want = append(want, s)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, want, chainTargets(t, clean, "org:acme"))
}

func count(t *testing.T, pool *pgxpool.Pool) int {
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM biz`).Scan(&n))
	return n
}

// outboxChild is the killed process: a relay, and a writer committing host
// transactions one after another until the parent kills it.
func outboxChild(t *testing.T, url string) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	s := pgstore.New(pool)
	l := newOutboxLog(t, s)
	go func() { _ = l.RunOutbox(ctx, s, auditlog.RelayOptions{Interval: time.Millisecond}) }()
	base, _ := strconv.ParseInt(os.Getenv("RAMPART_OUTBOX_CHILD_BASE"), 10, 64)
	deadline := time.Now().Add(time.Minute)
	for id := base; time.Now().Before(deadline); id++ {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO biz (id, org) VALUES ($1, 'acme')`, id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO biz_order (id) VALUES ($1)`, id); err != nil {
				return err
			}
			return pgstore.RecordTx(ctx, tx, l, auditlog.Entry{Org: "acme", Actor: "user:1", Action: "test.created", Target: fmt.Sprintf("biz:%d", id)})
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	os.Exit(0)
}
