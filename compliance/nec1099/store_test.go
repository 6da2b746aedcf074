package nec1099_test

import (
	"testing"

	"github.com/rampart-sdk/rampart/compliance/nec1099"
	"github.com/rampart-sdk/rampart/compliance/nec1099/nec1099test"
)

func TestMemoryStoreConformance(t *testing.T) {
	t.Parallel()
	newStore := func(*testing.T) nec1099.Store { return nec1099.NewMemoryStore() }
	nec1099test.TestStore(t, newStore)
	nec1099test.TestFiler(t, newStore)
}
