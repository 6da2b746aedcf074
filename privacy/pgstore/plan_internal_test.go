package pgstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// TestSweepStatementPlans: with 100,000 due subjects and fresh statistics
// (no subject leased, so the sweep's owner is in none), the claim locks
// its batch through the due index and updates it by TID, never reading the
// table through; the release of a claimed batch joins on the primary key
// without comparing each row of the batch with each other one (a nested
// loop over the batch rescanned, which cost 1.3 s per batch of 1,000 at
// 100,000 subjects). Plans, not times: custom and generic both.
func TestSweepStatementPlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, Migrate(ctx, db.Pool))
	_, err := db.Pool.Exec(ctx, `INSERT INTO privacy_subjects (org, subject_id, state, deletion_requested_at, erase_after, next_due)
		SELECT 'acme', 'u' || g, 'deletion_requested', $1::timestamptz, $1::timestamptz, $1::timestamptz FROM generate_series(1, 100000) g`,
		time.Unix(1_700_000_000, 0))
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `ANALYZE privacy_subjects`)
	require.NoError(t, err)
	now := time.Unix(1_800_000_000, 0)

	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		t.Run(mode, func(t *testing.T) {
			tx, err := db.Pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(ctx) }()
			_, err = tx.Exec(ctx, `SET LOCAL plan_cache_mode = `+mode)
			require.NoError(t, err)
			// Prepared and executed in SQL, so that plan_cache_mode
			// decides the plan; the arguments are literals.
			explain := func(name, sql, args string) string {
				name += "_" + mode
				_, err := tx.Exec(ctx, `PREPARE `+name+` AS `+sql)
				require.NoError(t, err)
				defer func() { _, _ = tx.Exec(ctx, `DEALLOCATE `+name) }()
				rows, err := tx.Query(ctx, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE `+name+`(`+args+`)`)
				require.NoError(t, err)
				var lines []string
				for rows.Next() {
					var l string
					require.NoError(t, rows.Scan(&l))
					lines = append(lines, l)
				}
				require.NoError(t, rows.Err())
				return strings.Join(lines, "\n")
			}
			stamp := func(t time.Time) string { return "'" + t.UTC().Format(time.RFC3339) + "'::timestamptz" }
			claim := explain("claim", claimDueSQL, fmt.Sprintf("'run-1', %s, %s, 1000", stamp(now.Add(time.Hour)), stamp(now)))
			require.Contains(t, claim, "Tid Scan on privacy_subjects s", claim)
			require.NotContains(t, claim, "Seq Scan", claim)

			org, sub, state, at := make([]string, 1000), make([]string, 1000), make([]string, 1000), make([]string, 1000)
			for i := range sub {
				org[i], sub[i], state[i], at[i] = "acme", fmt.Sprint("u", i+1), "erased", now.UTC().Format(time.RFC3339)
			}
			arr := func(xs []string, typ string) string { return "'{" + strings.Join(xs, ",") + "}'::" + typ }
			_, err = tx.Exec(ctx, `UPDATE privacy_subjects SET lease_owner = 'run-1' WHERE subject_id = ANY($1)`, sub)
			require.NoError(t, err)
			release := explain("release", releaseSQL, "'run-1', "+arr(org, "text[]")+", "+arr(sub, "text[]")+", "+arr(state, "text[]")+", "+
				arr(at, "timestamptz[]")+", "+arr(at, "timestamptz[]"))
			require.NotContains(t, release, "Join Filter", release)
			require.Contains(t, release, "actual rows=1000 loops=1)", release)
		})
	}
}
