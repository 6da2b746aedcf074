package authn_test

import (
	"testing"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/authn/authntest"
)

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	authntest.TestStore(t, func(*testing.T) authn.Store { return authn.NewMemoryStore() })
}
