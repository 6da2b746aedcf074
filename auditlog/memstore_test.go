package auditlog_test

import (
	"testing"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
)

func TestMemoryStoreConformance(t *testing.T) {
	auditlogtest.TestStore(t, func(*testing.T) auditlog.Store { return auditlog.NewMemoryStore() })
}
