package authn

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMagicLinkSingleUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	store := NewMemoryStore()
	links, err := NewMagicLinks(store, WithClock(clock.Now))
	require.NoError(t, err)
	tok, err := links.Issue(ctx, MagicLinkRequest{Org: "o", Email: " Ann@Example.com ", Purpose: "login"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(tok.Reveal(), "ml_"))
	require.Len(t, tok.Reveal(), 3+43)

	got, err := links.Consume(ctx, tok.Reveal(), "login")
	require.NoError(t, err)
	require.Equal(t, "ann@example.com", got.Email)
	require.Equal(t, "o", got.Org)
	require.Equal(t, clock.Now().Add(15*time.Minute), got.ExpiresAt, "15-minute default")

	_, err = links.Consume(ctx, tok.Reveal(), "login")
	require.ErrorIs(t, err, ErrMagicLinkUsed)
}

func TestMagicLinkExpiredAndWrongPurpose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	links, err := NewMagicLinks(NewMemoryStore(), WithClock(clock.Now))
	require.NoError(t, err)
	req := MagicLinkRequest{Email: "a@example.com", Purpose: "login"}

	expired, err := links.Issue(ctx, req)
	require.NoError(t, err)
	clock.Advance(15 * time.Minute)
	_, err = links.Consume(ctx, expired.Reveal(), "login")
	require.ErrorIs(t, err, ErrMagicLinkExpired)
	_, err = links.Consume(ctx, expired.Reveal(), "login")
	require.ErrorIs(t, err, ErrMagicLinkUsed, "an expired link is burned too")

	other, err := links.Issue(ctx, req)
	require.NoError(t, err)
	_, err = links.Consume(ctx, other.Reveal(), "verify_email")
	require.ErrorIs(t, err, ErrMagicLinkInvalid)
	_, err = links.Consume(ctx, other.Reveal(), "login")
	require.ErrorIs(t, err, ErrMagicLinkUsed, "a link tried for the wrong purpose is burned")

	unknown, _ := newToken(magicTokenPrefix)
	_, err = links.Consume(ctx, unknown, "login")
	require.ErrorIs(t, err, ErrMagicLinkInvalid)
}

func TestMagicLinkMalformedNeverReachesStore(t *testing.T) {
	t.Parallel()
	links, err := NewMagicLinks(failingStore{t: t})
	require.NoError(t, err)
	good, _ := newToken(magicTokenPrefix)
	for _, s := range []string{"", "ml_", good + "A", good[:len(good)-1], "ses_" + good[3:],
		strings.Replace(good, good[5:6], "+", 1), good[:len(good)-1] + "=", strings.Repeat("x", 5000)} {
		_, err := links.Consume(context.Background(), s, "login")
		require.ErrorIs(t, err, ErrMalformedToken)
	}
}

// TestMagicLinkConcurrentConsume: many goroutines click the same link at
// once; exactly one logs in.
func TestMagicLinkConcurrentConsume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	links, err := NewMagicLinks(NewMemoryStore(), WithMagicLinkRateLimit(100, time.Hour))
	require.NoError(t, err)
	for range 20 {
		tok, err := links.Issue(ctx, MagicLinkRequest{Email: "race@example.com", Purpose: "login"})
		require.NoError(t, err)
		var wins, used atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 16 {
			wg.Go(func() {
				<-start
				_, err := links.Consume(ctx, tok.Reveal(), "login")
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, ErrMagicLinkUsed):
					used.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, int64(1), wins.Load())
		require.Equal(t, int64(15), used.Load())
	}
}

func TestMagicLinkRateLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	links, err := NewMagicLinks(NewMemoryStore(), WithClock(clock.Now), WithMagicLinkRateLimit(3, time.Hour))
	require.NoError(t, err)
	for range 3 {
		_, err := links.Issue(ctx, MagicLinkRequest{Email: "a@example.com", Purpose: "login"})
		require.NoError(t, err)
	}
	_, err = links.Issue(ctx, MagicLinkRequest{Email: "A@EXAMPLE.com", Purpose: "login"})
	require.ErrorIs(t, err, ErrRateLimited, "normalised email shares the limit")
	var te *ThrottledError
	require.ErrorAs(t, err, &te, "carries the wait for a Retry-After header")
	require.Equal(t, time.Hour, te.RetryAfter)
	require.Equal(t, "authn: too many magic links requested for this email (authn: too many login attempts, retry after 3600s)", err.Error())
	_, err = links.Issue(ctx, MagicLinkRequest{Email: "b@example.com", Purpose: "login"})
	require.NoError(t, err, "per email")
	clock.Advance(time.Hour + time.Second)
	_, err = links.Issue(ctx, MagicLinkRequest{Email: "a@example.com", Purpose: "login"})
	require.NoError(t, err, "window slid")
}

// recordingStore records store calls, to compare what known and unknown
// emails cause.
type recordingStore struct {
	Store
	mu    sync.Mutex
	calls []string
}

func (r *recordingStore) InsertMagicLink(ctx context.Context, rec MagicLinkRecord, limit int, since time.Time) error {
	r.mu.Lock()
	r.calls = append(r.calls, "insert")
	r.mu.Unlock()
	return r.Store.InsertMagicLink(ctx, rec, limit, since)
}

func TestMagicLinkSendSameResponseForUnknownEmail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	run := func(email string) ([]string, int) {
		store := &recordingStore{Store: NewMemoryStore()}
		links, err := NewMagicLinks(store, WithMagicLinkRateLimit(2, time.Hour))
		require.NoError(t, err)
		known := func(_ context.Context, e string) (bool, error) { return e == "known@example.com", nil }
		delivered := 0
		deliver := func(context.Context, string, MagicToken) error { delivered++; return nil }
		var errs []string
		for range 3 {
			err := links.Send(ctx, MagicLinkRequest{Email: email, Purpose: "login"}, known, deliver)
			errs = append(errs, errString(err))
		}
		return append(errs, store.calls...), delivered
	}
	knownTrace, knownDelivered := run("known@example.com")
	unknownTrace, unknownDelivered := run("nobody@example.com")
	require.Equal(t, knownTrace, unknownTrace, "same results and store writes")
	require.Equal(t, 2, knownDelivered)
	require.Equal(t, 0, unknownDelivered)
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func FuzzParseToken(f *testing.F) {
	good, _ := newToken(magicTokenPrefix)
	f.Add(good)
	f.Add("ml_")
	f.Add("ml_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Add("ses_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("ml_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB")
	f.Fuzz(func(t *testing.T, s string) {
		for _, prefix := range []string{magicTokenPrefix, sessionTokenPrefix} {
			h, err := parseToken(prefix, s)
			if err != nil {
				if len(s) > 8 && strings.Contains(err.Error(), s) {
					t.Fatalf("error echoes input")
				}
				continue
			}
			if len(h) != 32 || len(s) != len(prefix)+tokenEncodedLen || !strings.HasPrefix(s, prefix) {
				t.Fatalf("accepted malformed token")
			}
		}
	})
}
