package pgstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// TestMigrateConcurrently: instances starting at the same moment all run
// Migrate with every role option (GRANT and REVOKE rewrite the same catalog
// rows, which PostgreSQL refuses with "tuple concurrently updated" when two
// sessions do it at once) and then Protect, 8 at once, round after round:
// every call succeeds, because each runs under the migration's advisory
// lock.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	app, _ := db.Role(t, "rampart_mig_app", 1, "")
	relay, _ := db.Role(t, "rampart_mig_relay", 1, "")
	record, _ := db.Role(t, "rampart_mig_record", 1, "")
	maint, _ := db.Role(t, "rampart_mig_maint", 1, "")
	opts := []pgstore.MigrateOption{pgstore.WithAppRole(app), pgstore.WithRelayRole(relay),
		pgstore.WithRecordRole(record), pgstore.WithMaintenanceRole(maint)}
	const rounds, instances = 5, 8
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, instances)
		for i := range instances {
			wg.Go(func() {
				if errs[i] = pgstore.Migrate(ctx, db.Pool, opts...); errs[i] == nil {
					errs[i] = pgstore.Protect(ctx, db.Pool, record)
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "round %d, instance %d", round, i)
		}
	}
	rep, err := pgstore.Posture(ctx, db.Pool, app)
	require.NoError(t, err)
	require.Empty(t, rep.Failed(), "the grants are what WithAppRole promises")
}
