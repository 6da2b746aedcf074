package privacy_test

import (
	"testing"

	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/privacytest"
)

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	privacytest.TestStore(t, func(*testing.T) privacy.Store { return privacy.NewMemoryStore() })
}
