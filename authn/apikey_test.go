package authn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func newTestKeys(t *testing.T, store APIKeyStore, opts ...APIKeysOption) *APIKeys {
	t.Helper()
	k, err := NewAPIKeys(store, "atl_live", testPepper(t), opts...)
	require.NoError(t, err)
	return k
}

func TestAPIKeyCreateVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := NewMemoryStore()
	keys := newTestKeys(t, store)
	raw, meta, err := keys.Create(ctx, NewAPIKey{Org: "org1", Owner: "u1", Name: "ci", Scopes: []string{"invoices.read"}})
	require.NoError(t, err)

	s := raw.Reveal()
	require.Regexp(t, `^`+APIKeyPattern+`$`, s)
	require.True(t, strings.HasPrefix(s, "atl_live_"+meta.ID+"_"))
	require.Len(t, s, len("atl_live_")+12+1+38)
	require.Equal(t, meta.Redacted(), raw.String())

	got, err := keys.Verify(ctx, s)
	require.NoError(t, err)
	require.Equal(t, meta.ID, got.ID)
	require.Equal(t, "org1", got.Org)
	require.Equal(t, []string{"invoices.read"}, got.Scopes)

	// The store holds a hash, never the key or its secret.
	rec, err := store.APIKeyByID(ctx, meta.ID)
	require.NoError(t, err)
	require.Equal(t, APIKeyHashHMAC, rec.HashAlg)
	require.Len(t, rec.Hash, 32)
	require.False(t, bytes.Contains(rec.Hash, []byte(s[len(s)-38:len(s)-6])))

	// A different secret with a valid checksum is rejected after lookup.
	forged := formatAPIKey("atl_live", meta.ID, randomBase62(APIKeySecretLength))
	_, err = keys.Verify(ctx, forged)
	require.ErrorIs(t, err, ErrInvalidAPIKey)
	// Unknown ID.
	_, err = keys.Verify(ctx, formatAPIKey("atl_live", randomBase62(12), randomBase62(32)))
	require.ErrorIs(t, err, ErrInvalidAPIKey)
	// Another prefix.
	_, err = keys.Verify(ctx, formatAPIKey("atl_test", meta.ID, s[len(s)-38:len(s)-6]))
	require.ErrorIs(t, err, ErrInvalidAPIKey)
}

func TestAPIKeySecretEntropy(t *testing.T) {
	t.Parallel()
	// 32 base62 characters carry at least 190 bits.
	bits := float64(APIKeySecretLength) * 5.954196310386876 // log2(62)
	require.GreaterOrEqual(t, bits, 190.0)
	seen := map[string]bool{}
	for range 1000 {
		s := randomBase62(APIKeySecretLength)
		require.Len(t, s, APIKeySecretLength)
		require.True(t, isBase62(s))
		require.False(t, seen[s])
		seen[s] = true
	}
}

// TestAPIKeyMalformedNeverReachesStore uses a store that fails the test if
// called: checksum-invalid and malformed keys are rejected before any access.
func TestAPIKeyMalformedNeverReachesStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	good := formatAPIKey("atl_live", randomBase62(12), randomBase62(32))
	flipped := []byte(good)
	// Change one secret character: the checksum no longer matches.
	if flipped[20] == 'a' {
		flipped[20] = 'b'
	} else {
		flipped[20] = 'a'
	}
	var obs counter
	keys := newTestKeys(t, failingStore{t: t}, withHashObserver(obs.observe))
	for _, s := range []string{
		"", "atl_live", string(flipped), good[:len(good)-1], good + "x",
		strings.ToUpper(good), "Bearer " + good, good[:len(good)-6] + "000000",
		strings.Replace(good, "_", "-", 1), strings.Repeat("a", 10000),
	} {
		_, err := keys.Verify(ctx, s)
		require.ErrorIs(t, err, ErrMalformedAPIKey, s)
	}
	// Every single-character typo, anywhere in the key, is caught by the
	// checksum (CRC32 detects every burst of up to 32 bits) or the layout.
	for i := range len(good) {
		for _, c := range []byte{'0', 'Z', 'z', '_'} {
			if good[i] == c {
				continue
			}
			typo := []byte(good)
			typo[i] = c
			_, err := keys.Verify(ctx, string(typo))
			require.ErrorIs(t, err, ErrMalformedAPIKey, "position %d -> %c", i, c)
		}
	}
	require.Zero(t, obs.hmac.Load()+obs.bcrypt.Load(), "no hash computed for malformed keys")
}

func TestAPIKeyRevokedAndExpired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	store := NewMemoryStore()
	keys := newTestKeys(t, store, WithClock(clock.Now))

	raw, meta, err := keys.Create(ctx, NewAPIKey{Org: "org1", Owner: "u1"})
	require.NoError(t, err)
	// Another tenant cannot revoke it.
	require.ErrorIs(t, keys.Revoke(ctx, "org2", meta.ID), ErrNotFound)
	_, err = keys.Verify(ctx, raw.Reveal())
	require.NoError(t, err)
	require.NoError(t, keys.Revoke(ctx, "org1", meta.ID))
	_, err = keys.Verify(ctx, raw.Reveal())
	require.ErrorIs(t, err, ErrAPIKeyRevoked)

	raw2, _, err := keys.Create(ctx, NewAPIKey{Org: "org1", Owner: "u1", ExpiresAt: clock.Now().Add(time.Hour)})
	require.NoError(t, err)
	_, err = keys.Verify(ctx, raw2.Reveal())
	require.NoError(t, err)
	clock.Advance(time.Hour)
	_, err = keys.Verify(ctx, raw2.Reveal())
	require.ErrorIs(t, err, ErrAPIKeyExpired)

	_, _, err = keys.Create(ctx, NewAPIKey{Org: "org1", Owner: "u1", ExpiresAt: clock.Now()})
	require.Error(t, err)
	_, _, err = keys.Create(ctx, NewAPIKey{Org: "", Owner: "u1"})
	require.Error(t, err)
}

// countingStore counts last-used writes.
type countingStore struct {
	Store
	touches int
}

func (c *countingStore) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	c.touches++
	return c.Store.TouchAPIKey(ctx, id, at)
}

func TestAPIKeyLastUsedCoalesced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	store := &countingStore{Store: NewMemoryStore()}
	keys := newTestKeys(t, store, WithClock(clock.Now), WithLastUsedInterval(time.Minute))
	raw, meta, err := keys.Create(ctx, NewAPIKey{Org: "o", Owner: "u"})
	require.NoError(t, err)
	for range 100 {
		_, err := keys.Verify(ctx, raw.Reveal())
		require.NoError(t, err)
		clock.Advance(100 * time.Millisecond)
	}
	require.Equal(t, 1, store.touches)
	clock.Advance(time.Minute)
	got, err := keys.Verify(ctx, raw.Reveal())
	require.NoError(t, err)
	require.Equal(t, 2, store.touches)
	require.Equal(t, clock.Now(), got.LastUsedAt)
	rec, err := store.APIKeyByID(ctx, meta.ID)
	require.NoError(t, err)
	require.Equal(t, clock.Now(), rec.LastUsedAt)
}

func TestAPIKeyPepperRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := NewMemoryStore()
	old := testPepper(t, "old-pepper-0123456789abcdef0123456789")
	k1, err := NewAPIKeys(store, "atl_live", old)
	require.NoError(t, err)
	raw, _, err := k1.Create(ctx, NewAPIKey{Org: "o", Owner: "u"})
	require.NoError(t, err)

	rotated := testPepper(t, "new-pepper-0123456789abcdef0123456789", "old-pepper-0123456789abcdef0123456789")
	k2, err := NewAPIKeys(store, "atl_live", rotated)
	require.NoError(t, err)
	_, err = k2.Verify(ctx, raw.Reveal())
	require.NoError(t, err, "keys hashed under the previous pepper still verify")

	retired := testPepper(t, "new-pepper-0123456789abcdef0123456789")
	k3, err := NewAPIKeys(store, "atl_live", retired)
	require.NoError(t, err)
	_, err = k3.Verify(ctx, raw.Reveal())
	require.ErrorIs(t, err, ErrInvalidAPIKey)
}

func TestAPIKeyBcryptWithCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	var obs counter
	store := NewMemoryStore()
	cfg, err := configure("api keys", []APIKeysOption{WithAPIKeyBcrypt(time.Minute, 2)}, APIKeysOption.applyAPIKeys)
	require.NoError(t, err)
	require.Equal(t, defaultBcryptCost, cfg.keyBcryptCost, "cost 12 outside tests")
	keys, err := NewAPIKeys(store, "atl_live", nil, WithAPIKeyBcrypt(time.Minute, 2), WithClock(clock.Now), withHashObserver(obs.observe), withFastBcrypt())
	require.NoError(t, err)
	raw, meta, err := keys.Create(ctx, NewAPIKey{Org: "o", Owner: "u"})
	require.NoError(t, err)
	rec, err := store.APIKeyByID(ctx, meta.ID)
	require.NoError(t, err)
	require.Equal(t, APIKeyHashBcrypt, rec.HashAlg)
	require.True(t, strings.HasPrefix(string(rec.Hash), "$2a$"))

	for range 3 {
		_, err = keys.Verify(ctx, raw.Reveal())
		require.NoError(t, err)
	}
	require.Equal(t, int64(1), obs.bcrypt.Load(), "cached after the first verification")

	// A wrong secret is never served from the cache.
	_, err = keys.Verify(ctx, formatAPIKey("atl_live", meta.ID, randomBase62(32)))
	require.ErrorIs(t, err, ErrInvalidAPIKey)

	// Revocation is honoured despite the cache.
	clock.Advance(2 * time.Minute)
	_, err = keys.Verify(ctx, raw.Reveal())
	require.NoError(t, err)
	require.Equal(t, int64(3), obs.bcrypt.Load(), "cache entry expired")
	require.NoError(t, keys.Revoke(ctx, "o", meta.ID))
	_, err = keys.Verify(ctx, raw.Reveal())
	require.ErrorIs(t, err, ErrAPIKeyRevoked)

	// Bounded.
	for range 5 {
		r, _, err := keys.Create(ctx, NewAPIKey{Org: "o", Owner: "u"})
		require.NoError(t, err)
		_, err = keys.Verify(ctx, r.Reveal())
		require.NoError(t, err)
	}
	keys.cacheMu.Lock()
	require.LessOrEqual(t, len(keys.cache), 2)
	keys.cacheMu.Unlock()
}

func TestAPIKeyListNeverShowsSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys := newTestKeys(t, NewMemoryStore())
	raw, _, err := keys.Create(ctx, NewAPIKey{Org: "o", Owner: "u", Name: "a"})
	require.NoError(t, err)
	_, _, err = keys.Create(ctx, NewAPIKey{Org: "other", Owner: "u", Name: "b"})
	require.NoError(t, err)
	list, next, err := keys.List(ctx, "o", "", 0)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Empty(t, next)
	js, err := json.Marshal(list)
	require.NoError(t, err)
	sec := raw.Reveal()[len(raw.Reveal())-38:]
	require.NotContains(t, string(js), sec)
	require.NotContains(t, fmt.Sprintf("%+v %#v", list, list), sec)
}

// TestSecretsNeverPrinted checks every way a credential could reach a log.
func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys := newTestKeys(t, NewMemoryStore())
	raw, _, err := keys.Create(ctx, NewAPIKey{Org: "o", Owner: "u"})
	require.NoError(t, err)
	sessions, err := NewSessions(NewMemoryStore())
	require.NoError(t, err)
	tok, _, err := sessions.Create(ctx, NewSession{Org: "o", UserID: "u"})
	require.NoError(t, err)
	links, err := NewMagicLinks(NewMemoryStore())
	require.NoError(t, err)
	ml, err := links.Issue(ctx, MagicLinkRequest{Email: "a@example.com", Purpose: "login"})
	require.NoError(t, err)

	for _, s := range []interface {
		Reveal() string
		String() string
	}{raw, tok, ml} {
		secretValue := s.Reveal()
		require.NotEmpty(t, secretValue)
		var buf bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&buf, nil))
		logger.Info("issued", "credential", s)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("issued", "credential", s)
		js, err := json.Marshal(map[string]any{"v": s})
		require.NoError(t, err)
		wrapped := fmt.Errorf("failed with %v", s)
		for _, out := range []string{
			fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %X", s, s, s, s, s, s, s),
			fmt.Sprintf("%v %+v %#v", &s, []any{s}, struct{ K any }{s}),
			string(js), buf.String(), wrapped.Error(), s.String(),
		} {
			require.NotContains(t, out, secretValue)
			// Not even the secret half alone.
			require.NotContains(t, out, secretValue[len(secretValue)-20:])
		}
	}
	// Errors from parsing never echo the input.
	bad := "atl_live_" + strings.Repeat("A", 12) + "_" + strings.Repeat("B", 38)
	_, err = keys.Verify(ctx, bad)
	require.NotContains(t, err.Error(), strings.Repeat("B", 10))
	_, err = sessions.Lookup(ctx, "ses_"+strings.Repeat("C", 43))
	require.NotContains(t, err.Error(), strings.Repeat("C", 10))
}

// apiKeyRegexp is APIKeyPattern compiled, as a secret scanner does.
var apiKeyRegexp = regexp.MustCompile(APIKeyPattern)

func TestAPIKeyPatternFindsLeakedKeys(t *testing.T) {
	t.Parallel()
	keys := newTestKeys(t, NewMemoryStore())
	raw, _, err := keys.Create(context.Background(), NewAPIKey{Org: "o", Owner: "u"})
	require.NoError(t, err)
	text := "config: token=" + raw.Reveal() + "\nother stuff"
	m := apiKeyRegexp.FindString(text)
	require.Equal(t, raw.Reveal(), m)
	_, err = ParseAPIKey(m)
	require.NoError(t, err)
}

func FuzzParseAPIKey(f *testing.F) {
	f.Add(formatAPIKey("atl_live", "AbCdEf123456", "0123456789abcdefghijABCDEFGHIJkl"))
	f.Add(formatAPIKey("k", "000000000000", "00000000000000000000000000000000"))
	f.Add("atl_live__")
	f.Add("a__" + strings.Repeat("_", 50))
	f.Add("atl_live_AbCdEf123456_0123456789abcdefghijABCDEFGHIJkl000000")
	f.Fuzz(func(t *testing.T, s string) {
		pk, err := ParseAPIKey(s)
		if err != nil {
			if strings.Contains(err.Error(), s) && len(s) > 3 {
				t.Fatalf("error echoes input")
			}
			return
		}
		// Everything accepted round-trips and matches the published pattern.
		if formatAPIKey(pk.Prefix, pk.ID, pk.sec.Reveal()) != s {
			t.Fatalf("round trip mismatch")
		}
		if !apiKeyRegexp.MatchString(s) {
			t.Fatalf("accepted key does not match APIKeyPattern")
		}
		if len(pk.sec.Reveal()) != APIKeySecretLength || !validPrefix(pk.Prefix) {
			t.Fatalf("bad parts")
		}
	})
}

// TestDocumentedKeyParses keeps the example key in doc.go honest.
func TestDocumentedKeyParses(t *testing.T) {
	t.Parallel()
	pk, err := ParseAPIKey("atl_live_3xKq9ZbV1mPw_Yb7Jr0a9XfQmT2sLk4NcVw8HdE6uGiRz3g6OLG")
	require.NoError(t, err)
	require.Equal(t, "atl_live", pk.Prefix)
	require.Equal(t, "3xKq9ZbV1mPw", pk.ID)
}

// TestSecretsNeverPrintedThroughUnexportedFields covers what the redacting
// methods cannot: fmt never calls methods of unexported struct fields, so a
// host that keeps a credential in one and logs the struct must still not
// print it. It also covers the parsed key and the pepper under every verb.
func TestSecretsNeverPrintedThroughUnexportedFields(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pepperKey := bytes.Repeat([]byte{0xAB}, 32)
	pepper, err := NewStaticPepper(pepperKey)
	require.NoError(t, err)
	keys, err := NewAPIKeys(NewMemoryStore(), "atl_live", pepper)
	require.NoError(t, err)
	raw, _, err := keys.Create(ctx, NewAPIKey{Org: "o", Owner: "u"})
	require.NoError(t, err)
	parsed, err := ParseAPIKey(raw.Reveal())
	require.NoError(t, err)
	sessions, err := NewSessions(NewMemoryStore())
	require.NoError(t, err)
	tok, _, err := sessions.Create(ctx, NewSession{Org: "o", UserID: "u"})
	require.NoError(t, err)

	type hostState struct {
		key    RawAPIKey
		parsed ParsedAPIKey
		token  SessionToken
		pepper StaticPepper
	}
	st := hostState{key: raw, parsed: parsed, token: tok, pepper: *pepper}
	secretOf := func(s string) string { return s[len(s)-20:] }
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "parsed", parsed, "state", st)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "parsed", parsed)
	for _, out := range []string{
		everyVerb(st), everyVerb(&st),
		fmt.Sprintf("%v %+v %#v %s %q %x %d", parsed, parsed, parsed, parsed, parsed, parsed, parsed),
		fmt.Sprintf("%v %+v %#v %x %d", pepper, pepper, pepper, pepper, pepper),
		fmt.Sprintf("%v %+v %#v %x %d", *pepper, *pepper, *pepper, *pepper, *pepper),
		fmt.Sprintf("%v %+v %#v", keys, keys, keys),
		buf.String(),
	} {
		require.NotContains(t, out, secretOf(raw.Reveal()))
		require.NotContains(t, out, secretOf(tok.Reveal()))
		require.NotContains(t, out, "171 171 171", "pepper bytes in decimal")
		require.NotContains(t, out, "abababab", "pepper bytes in hex")
	}
	require.Equal(t, "atl_live_"+parsed.ID+"_********", parsed.String())
}

// everyVerb prints v under every verb a careless log line might use; the
// format is a variable so that vet lets %d and %s through on structs.
func everyVerb(v any) string {
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		out = append(out, fmt.Sprintf(verb, v))
	}
	return strings.Join(out, " ")
}

// TestAPIKeyOtherPrefixRefused: a test-mode key re-prefixed as a live key
// (the checksum is public, so an attacker can recompute it) must not verify
// under the live manager, even when both share one store and one pepper.
func TestAPIKeyOtherPrefixRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := NewMemoryStore()
	pepper, err := NewStaticPepper(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	for _, opts := range [][]APIKeysOption{nil, {WithAPIKeyBcrypt(time.Minute, 10), withFastBcrypt()}} {
		test, err := NewAPIKeys(store, "atl_test", pepper, opts...)
		require.NoError(t, err)
		live, err := NewAPIKeys(store, "atl_live", pepper, opts...)
		require.NoError(t, err)
		raw, _, err := test.Create(ctx, NewAPIKey{Org: "o", Owner: "u"})
		require.NoError(t, err)
		_, err = test.Verify(ctx, raw.Reveal())
		require.NoError(t, err)

		pk, err := ParseAPIKey(raw.Reveal())
		require.NoError(t, err)
		forged := formatAPIKey("atl_live", pk.ID, pk.sec.Reveal())
		_, err = ParseAPIKey(forged)
		require.NoError(t, err, "the forged key is well-formed")
		_, err = live.Verify(ctx, forged)
		require.ErrorIs(t, err, ErrInvalidAPIKey)
	}
}

// TestStoredTextIsValid: client-controlled metadata with invalid UTF-8 or
// NUL bytes (which PostgreSQL's text type rejects) is cleaned for sessions
// and refused for identifiers, instead of failing in the store.
func TestStoredTextIsValid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sessions, err := NewSessions(NewMemoryStore())
	require.NoError(t, err)
	ua := strings.Repeat("é", 300) + "\xff\x00"
	_, sess, err := sessions.Create(ctx, NewSession{Org: "o", UserID: "u", UserAgent: ua, IP: "1.2.3.4\x00", Method: "pass\xc3"})
	require.NoError(t, err)
	for _, s := range []string{sess.UserAgent, sess.IP, sess.Method} {
		require.True(t, utf8.ValidString(s), "%q", s)
		require.NotContains(t, s, "\x00")
	}
	require.LessOrEqual(t, len(sess.UserAgent), 512)
	require.Equal(t, strings.Repeat("é", 256), sess.UserAgent, "cut on a rune boundary")

	_, _, err = sessions.Create(ctx, NewSession{Org: "o", UserID: "u\x00"})
	require.ErrorIs(t, err, ErrInvalidArgument)
	keys := newTestKeys(t, NewMemoryStore())
	_, _, err = keys.Create(ctx, NewAPIKey{Org: "o", Owner: "u", Scopes: []string{"ok", "bad\xff"}})
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, _, err = keys.Create(ctx, NewAPIKey{Org: "o", Owner: "u", Scopes: []string{"ok"}, Name: "n"})
	require.NoError(t, err)
	links, err := NewMagicLinks(NewMemoryStore())
	require.NoError(t, err)
	_, err = links.Issue(ctx, MagicLinkRequest{Email: "a\xff@example.com", Purpose: "login"})
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = links.Issue(ctx, MagicLinkRequest{Email: "a@example.com", Purpose: "login\x00"})
	require.ErrorIs(t, err, ErrInvalidArgument)
}

// TestAPIKeyBcryptCostBounded: a stored bcrypt hash whose cost was raised to
// bcrypt's maximum (a tampered row) is refused without hashing.
func TestAPIKeyBcryptCostBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newMemoryStore()
	var obs counter
	keys := newTestKeys(t, store, WithAPIKeyBcrypt(time.Minute, 10), withFastBcrypt(), withHashObserver(obs.observe))
	raw, meta, err := keys.Create(ctx, NewAPIKey{Org: "o", Owner: "u"})
	require.NoError(t, err)
	store.mu.Lock()
	rec := store.keys[meta.ID]
	rec.Hash = []byte("$2a$31$" + string(rec.Hash[7:]))
	store.keys[meta.ID] = rec
	store.mu.Unlock()
	_, err = keys.Verify(ctx, raw.Reveal())
	require.ErrorIs(t, err, ErrInvalidAPIKey)
	require.Zero(t, obs.bcrypt.Load())
}

// TestListPages walks an organisation's keys a page at a time: every key
// once, in creation order, and bad limits and cursors refused.
func TestListPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys := newTestKeys(t, NewMemoryStore())
	var want []string
	for range 7 {
		_, k, err := keys.Create(ctx, NewAPIKey{Org: "o", Owner: "u"})
		require.NoError(t, err)
		want = append(want, k.ID)
	}
	var got []string
	var sizes []int
	cursor := ""
	for {
		page, next, err := keys.List(ctx, "o", cursor, 3)
		require.NoError(t, err)
		sizes = append(sizes, len(page))
		for _, k := range page {
			got = append(got, k.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.Equal(t, []int{3, 3, 1}, sizes)
	require.ElementsMatch(t, want, got)
	for _, bad := range []struct {
		cursor string
		limit  int
	}{{"", -1}, {"", MaxListLimit + 1}, {"%%%", 1}, {"bm9waXBl", 1}} {
		_, _, err := keys.List(ctx, "o", bad.cursor, bad.limit)
		require.ErrorIs(t, err, ErrInvalidArgument, "%+v", bad)
	}
}
