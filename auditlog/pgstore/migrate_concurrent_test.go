package pgstore_test

import (
	"context"
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
	pgtest.Concurrently(t, 5, 8, func() error {
		if err := pgstore.Migrate(ctx, db.Pool, opts...); err != nil {
			return err
		}
		return pgstore.Protect(ctx, db.Pool, record)
	})
	rep, err := pgstore.Posture(ctx, db.Pool, app)
	require.NoError(t, err)
	require.Empty(t, rep.Failed(), "the grants are what WithAppRole promises")
}
