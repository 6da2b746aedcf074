package auditlog_test

import (
	"testing"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
)

func TestMemoryStoreConformance(t *testing.T) {
	auditlogtest.TestStore(t, func(*testing.T) auditlog.Store { return auditlog.NewMemoryStore() })
}

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
