package pgstore_test

import (
	"context"
	"testing"

	"github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// TestProtectConcurrently: instances starting at the same moment all run
// Migrate then Protect, whose directory functions and their grants are
// catalog rows two sessions must not rewrite at once ("tuple concurrently
// updated"): 8 at once, round after round, every call succeeds.
func TestProtectConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	app, _ := db.Role(t, "rampart_authn_mig_app", 1, "")
	pgtest.Concurrently(t, 5, 8, func() error {
		if err := pgstore.Migrate(ctx, db.Pool); err != nil {
			return err
		}
		return pgstore.Protect(ctx, db.Pool, app)
	})
}
