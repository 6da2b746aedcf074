package keyring_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/stretchr/testify/require"
)

// allVerbs is every fmt verb, with the flags that change how fmt walks a
// value: fmt follows pointers of values it cannot call methods on (an
// unexported field) when a verb does not suit their kind, so each verb is
// a separate path to the bytes.
var allVerbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "% x", "%#x", "%d", "%t", "%T", "%p",
	"%b", "%o", "%O", "%c", "%U", "%e", "%E", "%f", "%F", "%g", "%G", "%8.3v", "%-10s", "%+q", "%#q", "%w", "%z"}

// keyForms returns every way a 32-byte key could show in output: base64,
// hex (whole and per 4-byte word, as an AES key schedule prints it), the
// byte slice as fmt prints it, each word in decimal, the raw bytes.
func keyForms(k []byte) []string {
	out := []string{base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k),
		fmt.Sprintf("%x", k), fmt.Sprintf("%X", k), fmt.Sprintf("%v", k), fmt.Sprintf("%d", k), string(k),
		fmt.Sprintf("%q", k), strconv.Quote(string(k))}
	for i := 0; i+4 <= len(k); i += 4 {
		w := binary.BigEndian.Uint32(k[i:])
		out = append(out, fmt.Sprintf("%08x", w), strconv.FormatUint(uint64(w), 10))
	}
	return out
}

// TestNoVerbReachesKeyBytes prints every exported type that holds or handles
// key material, as a value and as a pointer, alone and in exported and
// unexported fields of a host's struct (by value and by pointer), with every
// fmt verb, through encoding/json and through slog's text and JSON handlers,
// and looks for the key bytes in every form.
func TestNoVerbReachesKeyBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testDoc(t)
	r := testRing(t, d)
	kek, err := keyring.NewLocalKEK(keyring.GenerateSecret())
	require.NoError(t, err)
	bidx, err := r.BlindIndex("users", "email_idx")
	require.NoError(t, err)
	sk, err := r.SubjectKeys("subjects", keyring.NewMemoryStore())
	require.NoError(t, err)
	_, err = sk.Seal(ctx, "u1", "users.email:1", []byte("x"))
	require.NoError(t, err)
	field := r.Field("users", "email")
	_, err = field.Seal("1", []byte("x")) // warm any lazily built state
	require.NoError(t, err)
	_ = bidx.Sum([]byte("x"))
	pt := keyring.NewPlaintext([]byte("alice@example.com"))

	var forbidden []string
	raw, err := d.Encode()
	require.NoError(t, err)
	var w struct {
		Keys []struct{ Key string } `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(raw, &w))
	for _, k := range w.Keys {
		b, err := base64.StdEncoding.DecodeString(k.Key)
		require.NoError(t, err)
		require.Len(t, b, keyring.KeySize)
		forbidden = append(forbidden, keyForms(b)...)
	}
	forbidden = append(forbidden, "alice@example.com", fmt.Sprintf("%x", "alice@example.com"))

	type subject struct {
		name string
		v    any
	}
	subjects := []subject{
		{"Document", *d}, {"*Document", d},
		{"KeyEntry", d.Keys[0]}, {"*KeyEntry", &d.Keys[0]},
		{"Secret", d.Keys[0].Key}, {"*Secret", &d.Keys[0].Key},
		{"Ring", *r}, {"*Ring", r},
		{"Field", *field}, {"*Field", field},
		{"BlindIndex", *bidx}, {"*BlindIndex", bidx},
		{"SubjectKeys", *sk}, {"*SubjectKeys", sk},
		{"LocalKEK", *kek}, {"*LocalKEK", kek},
		{"Plaintext", pt}, {"*Plaintext", &pt},
	}
	for _, s := range subjects {
		// Hosts keep these in structs of their own and log the struct.
		type exported struct{ V any }
		type unexported struct{ v any }
		hosts := []subject{s,
			{"exported field " + s.name, exported{s.v}}, {"*exported field " + s.name, &exported{s.v}},
			{"unexported field " + s.name, unexported{s.v}}, {"*unexported field " + s.name, &unexported{s.v}},
			{"slice of " + s.name, []any{s.v}}, {"map of " + s.name, map[string]any{"k": s.v}},
		}
		for _, h := range hosts {
			var outs []string
			for _, verb := range allVerbs {
				outs = append(outs, fmt.Sprintf(verb, h.v))
			}
			outs = append(outs, fmt.Sprint(h.v), fmt.Sprintln(h.v))
			if j, err := json.Marshal(h.v); err == nil {
				outs = append(outs, string(j))
			}
			var logs bytes.Buffer
			slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "v", h.v)
			slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "v", h.v)
			outs = append(outs, logs.String())
			for i, o := range outs {
				for _, f := range forbidden {
					if bytes.Contains([]byte(o), []byte(f)) {
						t.Errorf("%s: output %d leaks key material: %.300s", h.name, i, o)
					}
				}
			}
		}
	}
}
