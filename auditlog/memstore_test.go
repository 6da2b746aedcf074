package auditlog_test

import (
	"testing"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
	"github.com/stretchr/testify/require"
)

func TestMemoryStoreConformance(t *testing.T) {
	auditlogtest.TestStore(t, func(*testing.T) auditlog.Store { return auditlog.NewMemoryStore() })
}

// TestMemoryStoreOptionalInterfaces: NewMemoryStore returns a Store, and
// the value behind it still offers the optional interfaces a Log and Query
// look for with type assertions.
func TestMemoryStoreOptionalInterfaces(t *testing.T) {
	t.Parallel()
	s := auditlog.NewMemoryStore()
	for name, ok := range map[string]bool{
		"SealedAppender":    implements[auditlog.SealedAppender](s),
		"PipelinedAppender": implements[auditlog.PipelinedAppender](s),
		"EntryQuerier":      implements[auditlog.EntryQuerier](s),
	} {
		require.True(t, ok, name)
	}
}

func implements[I any](v any) bool { _, ok := v.(I); return ok }

// memStore is the memory store with the optional interfaces it implements
// besides Store. Test doubles embed it, so they keep the fast paths a Log
// looks for (SealedAppender, PipelinedAppender) and EntryQuerier.
type memStore interface {
	auditlog.Store
	auditlog.PipelinedAppender
	auditlog.EntryQuerier
}

// newMemStore returns auditlog.NewMemoryStore as a memStore.
func newMemStore() memStore { return auditlog.NewMemoryStore().(memStore) }
