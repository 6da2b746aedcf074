package keyring_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/stretchr/testify/require"
)

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	r := testRing(t, testDoc(t))
	email := r.Field("users", "email")
	require.NoError(t, email.Err())
	require.Same(t, email, r.Field("users", "email"), "handles are built once at load")
	for _, pt := range [][]byte{nil, {}, []byte("a"), []byte("alice@example.com"), make([]byte, 70000)} {
		ct, err := email.Seal("42", pt)
		require.NoError(t, err)
		require.Len(t, ct, keyring.Overhead+len(pt))
		got, err := email.Open("42", ct)
		require.NoError(t, err)
		require.Equal(t, string(pt), string(got))

		txt, err := email.SealText("42", pt)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(txt, keyring.TextPrefix))
		got, err = email.OpenText("42", txt)
		require.NoError(t, err)
		require.Equal(t, string(pt), string(got))
	}
	// Two seals of the same value differ (random nonce).
	a, _ := email.Seal("1", []byte("x"))
	b, _ := email.Seal("1", []byte("x"))
	require.NotEqual(t, a, b)
}

func TestMovedCiphertextFails(t *testing.T) {
	t.Parallel()
	r := testRing(t, testDoc(t))
	email, backup, phone := r.Field("users", "email"), r.Field("users", "email_backup"), r.Field("users", "phone")
	ct, err := email.Seal("1", []byte("alice@example.com"))
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		open func() ([]byte, error)
		want error
	}{
		{"other row", func() ([]byte, error) { return email.Open("2", ct) }, keyring.ErrDecrypt},
		{"row id prefix", func() ([]byte, error) { return email.Open("", ct) }, keyring.ErrDecrypt},
		{"row id longer", func() ([]byte, error) { return email.Open("10", ct) }, keyring.ErrDecrypt},
		{"other column same scope", func() ([]byte, error) { return backup.Open("1", ct) }, keyring.ErrDecrypt},
		{"other column other scope", func() ([]byte, error) { return phone.Open("1", ct) }, keyring.ErrUndeclaredKey},
		{"undeclared column", func() ([]byte, error) { return r.Field("users", "ssn").Open("1", ct) }, keyring.ErrUndeclaredColumn},
		{"blind index column", func() ([]byte, error) { return r.Field("users", "email_idx").Open("1", ct) }, keyring.ErrUndeclaredColumn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := tc.open()
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, pt)
		})
	}
	// Swap two rows' ciphertexts: neither opens.
	ct2, _ := email.Seal("2", []byte("bob@example.com"))
	_, err = email.Open("1", ct2)
	require.ErrorIs(t, err, keyring.ErrDecrypt)
	_, err = email.Open("2", ct)
	require.ErrorIs(t, err, keyring.ErrDecrypt)
	_, err = r.Field("users", "nope").Seal("1", nil)
	require.ErrorIs(t, err, keyring.ErrUndeclaredColumn)
}

func TestEveryBitFlipFails(t *testing.T) {
	t.Parallel()
	r := testRing(t, testDoc(t))
	email := r.Field("users", "email")
	ct, err := email.Seal("7", []byte("a 64-byte field ............................................"))
	require.NoError(t, err)
	for i := range ct {
		for bit := range 8 {
			c := append([]byte(nil), ct...)
			c[i] ^= 1 << bit
			_, err := email.Open("7", c)
			require.Error(t, err, "byte %d bit %d", i, bit)
		}
	}
	txt := keyring.ToText(ct)
	for i := range txt {
		c := []byte(txt)
		c[i] ^= 1
		_, err := email.Open("7", c)
		require.Error(t, err, "text byte %d", i)
	}
}

func TestEveryTruncationFails(t *testing.T) {
	t.Parallel()
	r := testRing(t, testDoc(t))
	email := r.Field("users", "email")
	ct, _ := email.Seal("7", []byte("alice@example.com"))
	for n := range len(ct) {
		_, err := email.Open("7", ct[:n])
		require.Error(t, err, "length %d", n)
		if n < keyring.Overhead {
			require.ErrorIs(t, err, keyring.ErrMalformed)
		}
	}
	txt := keyring.ToText(ct)
	for n := range len(txt) {
		_, err := email.Open("7", []byte(txt[:n]))
		require.Error(t, err, "text length %d", n)
	}
	// Extension fails too.
	_, err := email.Open("7", append(ct, 0))
	require.Error(t, err)
}

func relabel(ct []byte, id uint32) []byte {
	c := append([]byte(nil), ct...)
	binary.BigEndian.PutUint32(c[1:5], id)
	return c
}

func TestRelabelledAndRetiredKeys(t *testing.T) {
	t.Parallel()
	d := testDoc(t)
	oldID, err := keyring.New(d)
	require.NoError(t, err)
	old, _ := oldID.Primary("users.email")
	r1 := testRing(t, d)
	ctOld, _ := r1.Field("users", "email").Seal("1", []byte("v"))

	newID, err := d.Rotate("users.email")
	require.NoError(t, err)
	r2 := testRing(t, d)
	email := r2.Field("users", "email")
	// Old ciphertexts still open under the active key.
	pt, err := email.Open("1", ctOld)
	require.NoError(t, err)
	require.Equal(t, "v", string(pt))
	ctNew, _ := email.Seal("1", []byte("v"))
	h, _ := keyring.ParseHeader(ctNew)
	require.Equal(t, newID, h.KeyID)

	phoneID, _ := r2.Primary("users.phone")
	// Relabel to the other key of the same scope: authentication fails.
	_, err = email.Open("1", relabel(ctOld, newID))
	require.ErrorIs(t, err, keyring.ErrDecrypt)
	_, err = email.Open("1", relabel(ctNew, old))
	require.ErrorIs(t, err, keyring.ErrDecrypt)
	// Relabel to another scope's key or an unknown ID: undeclared.
	_, err = email.Open("1", relabel(ctNew, phoneID))
	require.ErrorIs(t, err, keyring.ErrUndeclaredKey)
	_, err = email.Open("1", relabel(ctNew, 999))
	require.ErrorIs(t, err, keyring.ErrUndeclaredKey)
	require.Contains(t, err.Error(), `scope "users.email": key 999 is not declared`)

	_, err = d.Retire(newID)
	require.Error(t, err, "primary cannot be retired")
	_, err = d.Retire(old)
	require.NoError(t, err)
	r3 := testRing(t, d)
	_, err = r3.Field("users", "email").Open("1", ctOld)
	require.ErrorIs(t, err, keyring.ErrKeyRetired)
	pt, err = r3.Field("users", "email").Open("1", ctNew)
	require.NoError(t, err)
	require.Equal(t, "v", string(pt))
}

func TestRegistryRefusals(t *testing.T) {
	t.Parallel()
	shared := keyring.GenerateSecret()
	for _, tc := range []struct {
		name string
		doc  keyring.Document
		want error
	}{
		{"same key under two scopes", keyring.Document{Version: 1, Keys: []keyring.KeyEntry{
			{ID: 1, Scope: "a", Status: keyring.Primary, Key: shared},
			{ID: 2, Scope: "b", Status: keyring.Primary, Key: shared}}}, keyring.ErrSharedKey},
		{"same key under two IDs", keyring.Document{Version: 1, Keys: []keyring.KeyEntry{
			{ID: 1, Scope: "a", Status: keyring.Primary, Key: shared},
			{ID: 2, Scope: "a", Status: keyring.Active, Key: shared}}}, keyring.ErrSharedKey},
		{"no primary", keyring.Document{Version: 1, Keys: []keyring.KeyEntry{
			{ID: 1, Scope: "a", Status: keyring.Active, Key: keyring.GenerateSecret()}}}, keyring.ErrInvalidDocument},
		{"two primaries", keyring.Document{Version: 1, Keys: []keyring.KeyEntry{
			{ID: 1, Scope: "a", Status: keyring.Primary, Key: keyring.GenerateSecret()},
			{ID: 2, Scope: "a", Status: keyring.Primary, Key: keyring.GenerateSecret()}}}, keyring.ErrInvalidDocument},
		{"duplicate ID", keyring.Document{Version: 1, Keys: []keyring.KeyEntry{
			{ID: 1, Scope: "a", Status: keyring.Primary, Key: keyring.GenerateSecret()},
			{ID: 1, Scope: "b", Status: keyring.Primary, Key: keyring.GenerateSecret()}}}, keyring.ErrInvalidDocument},
		{"ID zero", keyring.Document{Version: 1, Keys: []keyring.KeyEntry{
			{ID: 0, Scope: "a", Status: keyring.Primary, Key: keyring.GenerateSecret()}}}, keyring.ErrInvalidDocument},
		{"short key", keyring.Document{Version: 1, Keys: []keyring.KeyEntry{
			{ID: 1, Scope: "a", Status: keyring.Primary, Key: keyring.NewSecret(make([]byte, 16))}}}, keyring.ErrInvalidDocument},
		{"column of unknown scope", keyring.Document{Version: 1, Keys: []keyring.KeyEntry{
			{ID: 1, Scope: "a", Status: keyring.Primary, Key: keyring.GenerateSecret()}},
			Columns: []keyring.Column{{Table: "t", Column: "c", Scope: "nope"}}}, keyring.ErrUnknownScope},
		{"column declared twice", keyring.Document{Version: 1, Keys: []keyring.KeyEntry{
			{ID: 1, Scope: "a", Status: keyring.Primary, Key: keyring.GenerateSecret()}},
			Columns: []keyring.Column{{Table: "t", Column: "c", Scope: "a"}, {Table: "t", Column: "c", Scope: "a"}}}, keyring.ErrInvalidDocument},
		{"one scope for a field and a blind index", keyring.Document{Version: 1, Keys: []keyring.KeyEntry{
			{ID: 1, Scope: "a", Status: keyring.Primary, Key: keyring.GenerateSecret()}},
			Columns: []keyring.Column{{Table: "t", Column: "c", Scope: "a"},
				{Table: "t", Column: "c_idx", Scope: "a", Kind: keyring.KindBlindIndex}}}, keyring.ErrInvalidDocument},
		{"bad version", keyring.Document{Version: 2}, keyring.ErrInvalidDocument},
		{"wrapped without KEK", keyring.Document{Version: 1, Keys: []keyring.KeyEntry{
			{ID: 1, Scope: "a", Status: keyring.Primary, Wrapped: []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")}}}, keyring.ErrWrappedKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keyring.New(&tc.doc)
			require.ErrorIs(t, err, tc.want)
		})
	}
	// A column declared in code must name a known scope too.
	_, err := keyring.New(testDoc(t), keyring.Column{Table: "x", Column: "y", Scope: "ghost"})
	require.ErrorIs(t, err, keyring.ErrUnknownScope)
}

func TestDocumentFileAndEnv(t *testing.T) {
	t.Parallel()
	d := testDoc(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	require.NoError(t, keyring.WriteFile(path, d))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	ctx := context.Background()
	r, err := keyring.Load(ctx, keyring.FileSource(path))
	require.NoError(t, err)
	ct, _ := testRing(t, d).Field("users", "email").Seal("1", []byte("x"))
	pt, err := r.Field("users", "email").Open("1", ct)
	require.NoError(t, err)
	require.Equal(t, "x", string(pt))

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606} {
		require.NoError(t, os.Chmod(path, mode))
		_, err := keyring.Load(ctx, keyring.FileSource(path))
		require.ErrorIs(t, err, keyring.ErrInsecureFile, "mode %v", mode)
	}
	require.NoError(t, os.Chmod(path, 0o400))
	_, err = keyring.Load(ctx, keyring.FileSource(path))
	require.NoError(t, err)

	raw, err := d.Encode()
	require.NoError(t, err)
	env := map[string]string{"RAMPART_KEYS": string(raw)}
	_, err = keyring.Load(ctx, keyring.EnvSource(func(k string) string { return env[k] }, "RAMPART_KEYS"))
	require.NoError(t, err)
	_, err = keyring.Load(ctx, keyring.EnvSource(func(k string) string { return env[k] }, "MISSING"))
	require.ErrorIs(t, err, keyring.ErrInvalidDocument)
}

// TestWriteFileReplacesAtomically: rewriting a registry (rotate, retire)
// never leaves a file others can read, never writes through a symlink, and
// leaves no temporary file behind.
func TestWriteFileReplacesAtomically(t *testing.T) {
	t.Parallel()
	d := testDoc(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
	require.NoError(t, keyring.WriteFile(path, d))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	_, err = keyring.ReadFile(path)
	require.NoError(t, err)

	// A symlink at the path is replaced, not followed: its target (which
	// an attacker might have chosen) is left alone.
	target := filepath.Join(dir, "elsewhere")
	require.NoError(t, os.WriteFile(target, []byte("untouched"), 0o644))
	link := filepath.Join(dir, "link.json")
	require.NoError(t, os.Symlink(target, link))
	require.NoError(t, keyring.WriteFile(link, d))
	b, err := os.ReadFile(target)
	require.NoError(t, err)
	require.Equal(t, "untouched", string(b))
	fi, err = os.Lstat(link)
	require.NoError(t, err)
	require.True(t, fi.Mode().IsRegular())
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{"keys.json", "elsewhere", "link.json"}, names)

	// A directory (or FIFO) is refused before any read.
	_, err = keyring.ReadFile(dir)
	require.ErrorIs(t, err, keyring.ErrInvalidDocument)

	require.Error(t, keyring.WriteFile(filepath.Join(dir, "missing", "keys.json"), d))
}

func TestEnvelopeSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kek, err := keyring.NewLocalKEK(keyring.GenerateSecret())
	require.NoError(t, err)
	d := testDoc(t)
	wd, err := keyring.WrapDocument(ctx, d, kek.Wrap)
	require.NoError(t, err)
	raw, err := wd.Encode()
	require.NoError(t, err)
	// The stored document holds no plain key.
	require.NotContains(t, string(raw), `"key"`)
	parsed, err := keyring.ParseDocument(raw)
	require.NoError(t, err)
	_, err = keyring.New(parsed)
	require.ErrorIs(t, err, keyring.ErrWrappedKey)

	r, err := keyring.Load(ctx, keyring.EnvelopeSource(keyring.DocumentSource(parsed), kek))
	require.NoError(t, err)
	ct, _ := testRing(t, d).Field("users", "email").Seal("1", []byte("x"))
	pt, err := r.Field("users", "email").Open("1", ct)
	require.NoError(t, err)
	require.Equal(t, "x", string(pt))

	// A wrapped key copied onto another entry (another scope) is refused.
	swapped := *parsed
	swapped.Keys = append([]keyring.KeyEntry(nil), parsed.Keys...)
	swapped.Keys[0].Wrapped, swapped.Keys[1].Wrapped = swapped.Keys[1].Wrapped, swapped.Keys[0].Wrapped
	_, err = keyring.Load(ctx, keyring.EnvelopeSource(keyring.DocumentSource(&swapped), kek))
	require.ErrorIs(t, err, keyring.ErrInvalidDocument)
	require.Contains(t, err.Error(), "another entry")

	other, _ := keyring.NewLocalKEK(keyring.GenerateSecret())
	_, err = keyring.Load(ctx, keyring.EnvelopeSource(keyring.DocumentSource(parsed), other))
	require.ErrorIs(t, err, keyring.ErrDecrypt)
}

func TestParseDocumentRejects(t *testing.T) {
	t.Parallel()
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, in := range []string{
		``, `{}`, `[]`, `{"version":2,"keys":[]}`,
		`{"version":1,"keys":[],"extra":1}`,
		`{"version":1,"keys":[{"id":1,"scope":"a","status":"boss","key":"` + key + `"}]}`,
		`{"version":1,"keys":[{"id":1,"scope":"a","status":"primary","key":"!!"}]}`,
		`{"version":1,"keys":[{"id":1,"scope":"a","status":"primary","key":"AAAA"}]}`,
		`{"version":1,"keys":[{"id":1,"scope":"a","status":"primary"}]}`,
		`{"version":1,"keys":[]} {}`,
	} {
		_, err := keyring.ParseDocument([]byte(in))
		require.ErrorIs(t, err, keyring.ErrInvalidDocument, in)
	}
	d, err := keyring.ParseDocument([]byte(`{"version":1,"keys":[{"id":1,"scope":"a","status":"primary","key":"` + key + `"}]}`))
	require.NoError(t, err)
	require.Len(t, d.Keys, 1)
}

// TestSecretsNeverPrinted prints every type that holds or handles keys with
// every verb and through JSON and errors, and looks for the key bytes.
func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	d := testDoc(t)
	r := testRing(t, d)
	kek, _ := keyring.NewLocalKEK(keyring.GenerateSecret())
	bidx, err := r.BlindIndex("users", "email_idx")
	require.NoError(t, err)
	values := []any{d, *d, d.Keys[0], d.Keys[0].Key, r, r.Field("users", "email"), kek, bidx,
		keyring.NewPlaintext([]byte("alice@example.com"))}
	var forbidden []string
	raw, _ := d.Encode()
	parsed, _ := keyring.ParseDocument(raw)
	for _, k := range d.Keys {
		require.Equal(t, 32, k.Key.Len())
	}
	// The encoded document is the only place key material appears.
	var w struct {
		Keys []struct{ Key string } `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(raw, &w))
	for _, k := range w.Keys {
		b, _ := base64.StdEncoding.DecodeString(k.Key)
		forbidden = append(forbidden, k.Key, fmt.Sprintf("%x", b), fmt.Sprintf("%v", b), string(b))
	}
	forbidden = append(forbidden, "alice@example.com")
	values = append(values, parsed)
	// fmt never calls the methods of unexported fields: a host keeping keys
	// in one and logging the struct must still not print them.
	type hostState struct {
		doc   keyring.Document
		entry keyring.KeyEntry
		key   keyring.Secret
	}
	values = append(values, hostState{doc: *d, entry: d.Keys[0], key: d.Keys[0].Key},
		&hostState{doc: *d, entry: d.Keys[0], key: d.Keys[0].Key})
	for _, v := range values {
		var outs []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
		j, err := json.Marshal(v)
		if err == nil {
			outs = append(outs, string(j))
		}
		var logs bytes.Buffer
		slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "v", v)
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "v", v)
		outs = append(outs, logs.String())
		for _, o := range outs {
			for _, f := range forbidden {
				require.NotContains(t, o, f, "%T leaked", v)
			}
		}
	}
	require.Equal(t, "[redacted]", fmt.Sprint(d.Keys[0].Key))
	require.Equal(t, "[redacted]", keyring.NewPlaintext([]byte("x")).String())
	// Errors from a parse failure never quote the input.
	bad := strings.Replace(string(raw), `"primary"`, `"prim"`, 1)
	_, err = keyring.ParseDocument([]byte(bad))
	require.Error(t, err)
	for _, f := range forbidden {
		require.NotContains(t, err.Error(), f)
	}
}

func TestFieldJSONIsValid(t *testing.T) {
	t.Parallel()
	r := testRing(t, testDoc(t))
	for _, f := range []*keyring.Field{r.Field("users", "email"), r.Field("we\x00ird\u2028", "col\"umn")} {
		b, err := json.Marshal(f)
		require.NoError(t, err)
		require.True(t, json.Valid(b), "%s", b)
	}
}

func TestCiphertextValue(t *testing.T) {
	t.Parallel()
	r := testRing(t, testDoc(t))
	f := r.Field("users", "email")
	ct, _ := f.Seal("1", []byte("x"))
	id, _ := r.Primary("users.email")
	for _, src := range []any{ct, keyring.ToText(ct)} {
		var c keyring.Ciphertext
		require.NoError(t, c.Scan(src))
		got, err := c.KeyID()
		require.NoError(t, err)
		require.Equal(t, id, got)
		v, err := c.Value()
		require.NoError(t, err)
		pt, err := f.Open("1", v.([]byte))
		require.NoError(t, err)
		require.Equal(t, "x", string(pt))
	}
	var c keyring.Ciphertext
	require.NoError(t, c.Scan(nil))
	v, err := c.Value()
	require.NoError(t, err)
	require.Nil(t, v)
	require.Error(t, c.Scan(42))
	_, err = keyring.Ciphertext("junk").KeyID()
	require.ErrorIs(t, err, keyring.ErrMalformed)
}

func TestSealAllocations(t *testing.T) {
	r := testRing(t, testDoc(t))
	f := r.Field("users", "email")
	pt := make([]byte, 64)
	_, _ = f.Seal("123456", pt)
	allocs := testing.AllocsPerRun(200, func() { _, _ = f.Seal("123456", pt) })
	require.LessOrEqual(t, allocs, 2.0)
	require.Zero(t, testing.AllocsPerRun(10, func() { r.Field("users", "email") }), "Field is a map lookup")
}
