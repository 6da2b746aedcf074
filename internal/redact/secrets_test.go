package redact_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/compliance/monitor"
	"github.com/rampart-sdk/rampart/internal/redact"
	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/mfa/mfatest"
)

// verbs is every fmt verb a log line might use, with the flags that change
// how fmt walks a value. Each is a separate path: where fmt cannot call a
// value's methods it picks a printer by kind and verb, and a verb that does
// not suit a pointer makes it print the pointer's target.
var verbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d",
	"% x", "%#x", "%+q", "%#q", "%t", "%p", "%b", "%o", "%c", "%U", "%e", "%g", "%8.3v", "%-10s", "%w"}

// Host structs: how an application keeps a secret it was handed. fmt calls
// methods of exported fields, never of unexported ones (it walks those).
type (
	exported[T any]   struct{ V T }
	unexported[T any] struct{ v T }
	unexportedAny     struct{ v any }
)

// heldError is an error that prints what it holds, as a careless host
// error type would.
type heldError struct{ held any }

func (e heldError) Error() string { return fmt.Sprintf("operation on %v failed", e.held) }

// positions returns v in every place a host may hold it: directly, by
// pointer, in exported and unexported fields (by value and by pointer, of
// its own type and of type any, in a host held by value and by pointer),
// in a slice and a map, and in errors wrapped with %w and errors.Join.
func positions[T any](v T) map[string]any {
	p := &v
	wrapped := fmt.Errorf("request: %w", heldError{v})
	return map[string]any{
		"value":                          v,
		"pointer":                        p,
		"exported field":                 exported[T]{v},
		"*host, exported field":          &exported[T]{v},
		"exported pointer field":         exported[*T]{p},
		"unexported field":               unexported[T]{v},
		"*host, unexported field":        &unexported[T]{v},
		"unexported pointer field":       unexported[*T]{p},
		"*host, unexported pointer":      &unexported[*T]{p},
		"unexported field of type any":   unexportedAny{v},
		"unexported any holding pointer": unexportedAny{p},
		"slice":                          []any{v, p},
		"map":                            map[string]any{"k": v, "p": p},
		"error wrapped with %w":          wrapped,
		"errors.Join":                    errors.Join(errors.New("x"), wrapped),
	}
}

// renderings prints h every way a host might: every verb, Sprint and
// Sprintln, an error's Error, json.Marshal, and slog's text and JSON
// handlers (which resolve LogValuers, and print a []byte without fmt).
func renderings(h any) []string {
	var out []string
	for _, verb := range verbs {
		out = append(out, fmt.Sprintf(verb, h))
	}
	out = append(out, fmt.Sprint(h), fmt.Sprintln(h))
	if err, ok := h.(error); ok {
		out = append(out, err.Error(), fmt.Errorf("outer: %w", err).Error())
	}
	if j, err := json.Marshal(h); err == nil {
		out = append(out, string(j))
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "v", h)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "v", h)
	return append(out, logs.String())
}

// forms returns what must never appear in output for secret bytes b: the
// bytes, their hex and base64 forms, and fmt's byte-slice and
// decimal forms. secret parts of a credential whose redacted form shows a
// public part (an API key's prefix and ID) are passed alone.
func forms(b []byte) []string {
	return []string{string(b), fmt.Sprintf("%x", b), fmt.Sprintf("%X", b),
		base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		strings.Trim(fmt.Sprint(b), "[]"), strings.Trim(fmt.Sprintf("%d", b), "[]")}
}

// subject is one secret type with its value in every position.
type subject struct {
	name      string
	positions map[string]any
	forbidden []string
}

func newSubject[T any](name string, v T, secrets ...[]byte) subject {
	s := subject{name: name, positions: positions(v)}
	for _, b := range secrets {
		s.forbidden = append(s.forbidden, forms(b)...)
	}
	return s
}

// TestNoSecretTypePrintsItsSecret is the one table over every secret type
// of the SDK: each held in every position, rendered every way, must show
// none of its secret bytes in any form.
func TestNoSecretTypePrintsItsSecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var subjects []subject

	// internal/redact itself.
	keyBytes := []byte("0123456789abcdef0123456789abcdef")
	subjects = append(subjects,
		newSubject("redact.Secret[string]", redact.New("correct horse battery staple", ""), []byte("correct horse battery staple")),
		newSubject("redact.Secret[[]byte]", redact.New(bytes.Clone(keyBytes), ""), keyBytes))

	// authn: the three one-time credentials, a parsed key, the pepper.
	pepperKey := bytes.Repeat([]byte{0xAB, 0x17}, 16)
	pepper, err := authn.NewStaticPepper(pepperKey)
	require.NoError(t, err)
	keys, err := authn.NewAPIKeys(authn.NewMemoryStore(), "atl_live", pepper)
	require.NoError(t, err)
	raw, _, err := keys.Create(ctx, authn.NewAPIKey{Org: "o", Owner: "u"})
	require.NoError(t, err)
	parsed, err := authn.ParseAPIKey(raw.Reveal())
	require.NoError(t, err)
	sessions, err := authn.NewSessions(authn.NewMemoryStore())
	require.NoError(t, err)
	tok, _, err := sessions.Create(ctx, authn.NewSession{Org: "o", UserID: "u"})
	require.NoError(t, err)
	links, err := authn.NewMagicLinks(authn.NewMemoryStore())
	require.NoError(t, err)
	ml, err := links.Issue(ctx, authn.MagicLinkRequest{Email: "a@example.com", Purpose: "login"})
	require.NoError(t, err)
	// The redacted forms show a key's prefix and public ID and a token's
	// prefix: forbid what follows them.
	apiSecret := []byte(raw.Reveal()[len(raw.Reveal())-authn.APIKeySecretLength-authn.APIKeyChecksumLength:])
	tail := func(s string) []byte { return []byte(s[len(s)-24:]) }
	subjects = append(subjects,
		newSubject("authn.RawAPIKey", raw, apiSecret),
		newSubject("authn.ParsedAPIKey", parsed, apiSecret),
		newSubject("authn.SessionToken", tok, tail(tok.Reveal())),
		newSubject("authn.MagicToken", ml, tail(ml.Reveal())),
		newSubject("authn.StaticPepper", *pepper, pepperKey),
		newSubject("*authn.APIKeys", keys, pepperKey))

	// keyring: key material, a KEK, decrypted data, and what holds keys.
	doc, err := keyring.Init([]string{"users.email", "users.email.idx"})
	require.NoError(t, err)
	encoded, err := doc.Encode()
	require.NoError(t, err)
	var wire struct {
		Keys []struct{ Key string } `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(encoded, &wire))
	var docKeys [][]byte
	for _, k := range wire.Keys {
		b, err := base64.StdEncoding.DecodeString(k.Key)
		require.NoError(t, err)
		require.Len(t, b, keyring.KeySize)
		docKeys = append(docKeys, b)
	}
	ring, err := keyring.New(doc,
		keyring.Column{Table: "users", Column: "email", Scope: "users.email"},
		keyring.Column{Table: "users", Column: "email_idx", Scope: "users.email.idx", Kind: keyring.KindBlindIndex})
	require.NoError(t, err)
	bidx, err := ring.BlindIndex("users", "email_idx")
	require.NoError(t, err)
	kekBytes := bytes.Repeat([]byte{0x5A, 0xC3}, keyring.KeySize/2)
	kek, err := keyring.NewLocalKEK(keyring.NewSecret(kekBytes))
	require.NoError(t, err)
	email := []byte("alice@example.com")
	subjects = append(subjects,
		newSubject("keyring.Secret", doc.Keys[0].Key, docKeys...),
		newSubject("keyring.KeyEntry", doc.Keys[0], docKeys...),
		newSubject("keyring.Document", *doc, docKeys...),
		newSubject("keyring.Plaintext", keyring.NewPlaintext(bytes.Clone(email)), email),
		newSubject("keyring.LocalKEK", *kek, kekBytes),
		newSubject("*keyring.Ring", ring, docKeys...),
		newSubject("*keyring.Field", ring.Field("users", "email"), docKeys...),
		newSubject("*keyring.BlindIndex", bidx, docKeys...))

	// mfa: the setup secret and URI, the recovery codes.
	m, err := mfa.New("Acme", mfa.NewMemoryStore(), mfatest.NewSealer())
	require.NoError(t, err)
	acct := mfa.Account{Org: "o", User: "u", Kind: mfa.KindMember}
	setup, err := m.Begin(ctx, acct, "ada@example.com")
	require.NoError(t, err)
	totpKey := mfatest.SecretOf(t, setup)
	code, err := mfa.TOTP(totpKey, time.Now(), mfa.SHA1, 6)
	require.NoError(t, err)
	codes, err := m.Confirm(ctx, acct, code)
	require.NoError(t, err)
	codeForms := [][]byte{[]byte(setup.Secret()), totpKey}
	for _, c := range codes.Codes() {
		codeForms = append(codeForms, []byte(c), []byte(strings.ReplaceAll(c, "-", "")))
	}
	subjects = append(subjects,
		newSubject("mfa.Setup", *setup, []byte(setup.Secret()), totpKey,
			[]byte(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(totpKey))),
		newSubject("mfa.RecoveryCodes", *codes, codeForms...))

	// compliance/monitor: a ping URL, alone and in the JobSpec a host registers.
	pingSecret := []byte("0b6e3a1c-5f0e-4d7b-9c55-ping-check")
	ping := monitor.NewSecretURL("https://hc.example/" + string(pingSecret))
	spec := monitor.JobSpec{Name: "sweeper", Period: time.Hour, PingURL: ping}
	subjects = append(subjects,
		newSubject("monitor.SecretURL", ping, pingSecret),
		newSubject("monitor.JobSpec", spec, pingSecret),
		newSubject("monitor.JobRecord", monitor.JobRecord{JobSpec: spec}, pingSecret))

	for _, s := range subjects {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			require.NotEmpty(t, s.forbidden)
			for pos, h := range s.positions {
				for i, out := range renderings(h) {
					for _, f := range s.forbidden {
						require.NotContainsf(t, out, f, "%s, %s, rendering %d", s.name, pos, i)
					}
				}
			}
		})
	}
}
