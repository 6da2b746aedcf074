package bench

import (
	"testing"

	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// TestHarnessReachable keeps the module's test run honest: the bench module
// shares the library's Postgres harness.
func TestHarnessReachable(t *testing.T) {
	_ = pgtest.New(t)
}
