package authn

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestInvalidArgumentsAreTyped: every refusal of bad input or wiring wraps
// ErrInvalidArgument (options outside their range: ErrInvalidConfig, in
// options_test.go), so a host can answer 400 without matching messages,
// and every message carries the package prefix.
func TestInvalidArgumentsAreTyped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := NewMemoryStore()
	keys := newTestKeys(t, store)
	links, err := NewMagicLinks(store)
	require.NoError(t, err)
	sessions, err := NewSessions(store)
	require.NoError(t, err)
	for name, call := range map[string]func() error{
		"api keys nil store": func() error { _, err := NewAPIKeys(nil, "atl", nil); return err },
		"api keys no pepper": func() error { _, err := NewAPIKeys(store, "atl", nil); return err },
		"api key no org":     func() error { _, _, err := keys.Create(ctx, NewAPIKey{Owner: "u"}); return err },
		"api key past expiry": func() error {
			_, _, err := keys.Create(ctx, NewAPIKey{Org: "o", Owner: "u", ExpiresAt: time.Unix(1, 0)})
			return err
		},
		"pepper without keys": func() error { _, err := NewStaticPepper(); return err },
		"pepper short key":    func() error { _, err := NewStaticPepper(make([]byte, 31)); return err },
		"api key bad prefix":  func() error { _, err := NewAPIKeys(store, "Bad-Prefix", nil); return err },
		"magic links nil":     func() error { _, err := NewMagicLinks(nil); return err },
		"magic link email": func() error {
			_, err := links.Issue(ctx, MagicLinkRequest{Email: "nobody", Purpose: "login"})
			return err
		},
		"magic link purpose":  func() error { _, err := links.Issue(ctx, MagicLinkRequest{Email: "a@example.com"}); return err },
		"sessions nil store":  func() error { _, err := NewSessions(nil); return err },
		"session no user":     func() error { _, _, err := sessions.Create(ctx, NewSession{Org: "o"}); return err },
		"mfa zero time":       func() error { return sessions.MarkMFAVerified(ctx, "sid", time.Time{}) },
		"revoke others empty": func() error { _, err := sessions.RevokeOthers(ctx, "o", "u", ""); return err },
		"login nil":           func() error { _, err := NewPasswordLogin(nil, nil); return err },
	} {
		err := call()
		require.ErrorIs(t, err, ErrInvalidArgument, name)
		require.True(t, strings.HasPrefix(err.Error(), "authn: "), name)
	}
}
