package authn

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-sdk/rampart/internal/testclock"
)

// hashTestOption is a test-only option of NewPasswords and NewAPIKeys.
type hashTestOption func(*config)

func (f hashTestOption) applyPasswords(c *config) { f(c) }
func (f hashTestOption) applyAPIKeys(c *config)   { f(c) }

// withHashObserver lets tests count hash computations per algorithm.
func withHashObserver(f func(alg string)) hashTestOption {
	return func(c *config) { c.hashObserver = f; c.keyHashObserver = f }
}

// withFastBcrypt lowers bcrypt's cost to the minimum after validation, for
// tests whose point is not the cost itself.
func withFastBcrypt() hashTestOption { return func(c *config) { c.testBcryptCost = 4 } }

// lookTool finds an interop tool; without it the test skips, unless CI is set.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if v := strings.ToLower(os.Getenv("CI")); v != "" && v != "0" && v != "false" {
			t.Fatalf("%s not installed (required in CI): %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

type counter struct{ argon, bcrypt, hmac atomic.Int64 }

func (c *counter) observe(alg string) {
	switch alg {
	case algArgon2id:
		c.argon.Add(1)
	case algBcrypt:
		c.bcrypt.Add(1)
	default:
		c.hmac.Add(1)
	}
}

// failingStore fails the test on any call: it proves a code path never
// reaches the store.
type failingStore struct {
	Store
	t *testing.T
}

func (f failingStore) APIKeyByID(context.Context, string) (APIKeyRecord, error) {
	f.t.Fatalf("store accessed")
	return APIKeyRecord{}, nil
}

func (f failingStore) SessionByTokenHash(context.Context, []byte) (SessionRecord, error) {
	f.t.Fatalf("store accessed")
	return SessionRecord{}, nil
}

func (f failingStore) ConsumeMagicLink(context.Context, []byte, time.Time) (MagicLinkRecord, error) {
	f.t.Fatalf("store accessed")
	return MagicLinkRecord{}, nil
}

// fakeClock is a settable clock for expiry tests.
type fakeClock = testclock.Clock

func newFakeClock() *fakeClock {
	return testclock.New(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
}

func testPepper(t testing.TB, keys ...string) *StaticPepper {
	t.Helper()
	if len(keys) == 0 {
		keys = []string{"pepper-primary-0123456789abcdef0123"}
	}
	var bs [][]byte
	for _, k := range keys {
		bs = append(bs, []byte(k))
	}
	p, err := NewStaticPepper(bs...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
