package mfa_test

import (
	"testing"

	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/mfa/mfatest"
)

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	mfatest.TestStore(t, func(*testing.T) mfa.Store { return mfa.NewMemoryStore() })
}
