package pgstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

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
	const rounds, instances = 5, 8
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, instances)
		for i := range instances {
			wg.Go(func() {
				if errs[i] = pgstore.Migrate(ctx, db.Pool); errs[i] == nil {
					errs[i] = pgstore.Protect(ctx, db.Pool, app)
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "round %d, instance %d", round, i)
		}
	}
}
