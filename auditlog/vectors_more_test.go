package auditlog_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rampart-sdk/rampart/auditlog"
)

// nested returns n objects {"a": ... } around inner.
func nested(n int, inner string) string {
	return strings.Repeat(`{"a":`, n) + inner + strings.Repeat("}", n)
}

// moreCanonInputs are the vectors of ENCODING.md's exact rules: number
// layout (rule 7), integers beyond 2^53, nesting depth, Unicode.
var moreCanonInputs = []string{
	// Rule 7: exponent form from a decimal exponent of 6 up, whatever the digit count.
	`{"n":123456.5}`, `{"n":1000000.5}`, `{"n":1234567.25}`, `{"n":0.0001}`, `{"n":0.00001}`, `{"n":-0.00012}`,
	`{"n":1e21}`, `{"n":1.7976931348623157e308}`, `{"n":5e-324}`,
	// Integer literals beyond 2^53: a double's shortest decimal written out is accepted.
	`{"n":100000000000000000000}`, `{"n":-100000000000000000000}`, `{"n":1152921504606847000}`, `{"n":9007199254740994}`,
	`{"n":1152921504606846976}`, `{"n":100000000000000000001}`,
	// Float literals that lose precision are accepted and collide (rule 7).
	`{"n":9007199254740993.0}`, `{"n":9007199254740993e0}`, `{"n":0.30000000000000000001}`,
	// Nesting depth (rule 1): a value inside at most 64 containers.
	nested(64, `{}`), nested(64, `1`), nested(64, `[]`), nested(65, `{}`), nested(65, `1`), nested(63, `[[]]`), nested(63, `[[1]]`), nested(64, `[1]`),
	// Unicode: no normalisation; keys equal after NFC are distinct (rule 3).
	`{"\u00e9":1,"e\u0301":2}`, `{"s":"\u212b"}`,
	// Beyond the BMP: bytewise UTF-8 (= code point) order, not UTF-16 (rule 4).
	`{"\uff61":1,"\ud83d\ude00":2}`,
	// Byte-order mark: refused before the object, an ordinary character inside a string (rule 1).
	"\ufeff{}", `{"\ufeff":1}`,
}

type limitVector struct {
	Input     string `json:"input"`
	PadTo     int    `json:"padded_with_spaces_to"`
	Canonical string `json:"canonical,omitempty"`
	Error     bool   `json:"error,omitempty"`
}

type timeVector struct {
	UnixSeconds int64  `json:"unix_seconds"`
	Nanos       int64  `json:"nanoseconds"`
	RFC3339     string `json:"rfc3339,omitempty"`
	Micros      *int64 `json:"time_us,omitempty"`
	Error       bool   `json:"error,omitempty"`
}

type checkpointVector struct {
	Text         string `json:"text"`
	SignedNote   string `json:"signed_note"`
	SignatureHex string `json:"ed25519_signature_hex"`
}

type checkpointVectors struct {
	Comment      string             `json:"comment"`
	KeyName      string             `json:"key_name"`
	SeedHex      string             `json:"ed25519_seed_hex"`
	PublicKeyHex string             `json:"ed25519_public_key_hex"`
	KeyHashHex   string             `json:"key_hash_hex"`
	SignerKey    string             `json:"signer_key"`
	VerifierKey  string             `json:"verifier_key"`
	Notes        []checkpointVector `json:"notes"`
}

// moreVectors are the vectors added for ENCODING.md's exact rules.
type moreVectors struct {
	Padded      []limitVector     `json:"canonical_json_padded"`
	Times       []timeVector      `json:"times"`
	EmptyRoot   string            `json:"empty_tree_root_hex"`
	StoredTree  []string          `json:"stored_tree_hex_by_seq"`
	Checkpoints checkpointVectors `json:"checkpoints"`
}

// vectorSeed is the Ed25519 seed of the checkpoint vectors' key: bytes
// 0x00..0x1f. A published test key: never sign anything real with it.
func vectorSeed() []byte {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	return seed
}

func buildMoreVectors(t *testing.T, entries []entryVector, hashes []tlog.Hash) moreVectors {
	var mv moreVectors
	// The 1 MiB limit counts the input as given, whitespace included.
	for _, c := range []struct {
		in  string
		pad int
	}{{`{}`, auditlog.MaxPayloadBytes}, {`{}`, auditlog.MaxPayloadBytes + 1}, {` {"a" : 1} `, auditlog.MaxPayloadBytes}} {
		in := c.in + strings.Repeat(" ", c.pad-len(c.in))
		out, err := auditlog.CanonicalJSON([]byte(in))
		v := limitVector{Input: c.in, PadTo: c.pad, Canonical: string(out), Error: err != nil}
		mv.Padded = append(mv.Padded, v)
	}

	// Entry times: microseconds, truncated towards the past, in range.
	for _, at := range []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 678901999, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999500, time.UTC),
		time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC),
		time.UnixMicro(auditlog.MinTimeMicros),
		time.UnixMicro(auditlog.MaxTimeMicros).Add(999 * time.Nanosecond),
		time.UnixMicro(auditlog.MinTimeMicros).Add(-time.Nanosecond),
		time.UnixMicro(auditlog.MaxTimeMicros + 1),
	} {
		at = at.UTC()
		v := timeVector{UnixSeconds: at.Unix(), Nanos: int64(at.Nanosecond())}
		if y := at.Year(); y >= 0 && y <= 9999 {
			v.RFC3339 = at.Format(time.RFC3339Nano)
		}
		s := auditlog.NewMemoryStore()
		l, err := auditlog.New(s)
		require.NoError(t, err)
		if _, err := l.Append(t.Context(), auditlog.Entry{Org: "acme", Actor: "user:1", Action: auditlog.ActionPruned, Time: at}); err != nil {
			require.ErrorIs(t, err, auditlog.ErrBadEntry)
			v.Error = true
		} else {
			us := at.UnixMicro()
			v.Micros = &us
		}
		mv.Times = append(mv.Times, v)
	}

	cp, err := auditlog.CurrentCheckpoint(t.Context(), auditlog.NewMemoryStore(), "org:acme", time.Time{})
	require.NoError(t, err)
	mv.EmptyRoot = hex.EncodeToString(cp.Root[:])

	// The tree column of each vector entry's row (auditlog/pgstore).
	var es []auditlog.Entry
	for _, v := range entries {
		canon := []byte(v.Canonical)
		es = append(es, auditlog.Entry{Org: v.Org, Actor: v.Actor, Action: v.Action, SchemaVersion: v.SchemaVersion,
			Target: v.Target, Time: time.UnixMicro(v.TimeMicros).UTC(),
			Request: auditlog.Request{IP: v.IP, UserAgent: v.UserAgent, RequestID: v.RequestID},
			Payload: canon, PayloadDigest: auditlog.PayloadDigest(canon)})
	}
	b, _, _, err := auditlog.Seal(auditlog.Head{Chain: entries[0].Chain}, nil, es)
	require.NoError(t, err)
	tree := b.Tree
	for i, e := range b.Entries {
		require.Equal(t, hashes[i], e.Hash)
		k := int(tlog.StoredHashCount(int64(e.Seq)+1) - tlog.StoredHashCount(int64(e.Seq)))
		var row []byte
		for _, th := range tree[:k] {
			row = append(row, th.Hash[:]...)
		}
		tree = tree[k:]
		mv.StoredTree = append(mv.StoredTree, hex.EncodeToString(row))
	}

	// Signed checkpoints with a fixed key: Ed25519 signatures are
	// deterministic, so the notes are too.
	const name = "rampart-test-vectors"
	skey, vkey, err := note.GenerateKey(bytes.NewReader(vectorSeed()), name)
	require.NoError(t, err)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	pub := ed25519.NewKeyFromSeed(vectorSeed()).Public().(ed25519.PublicKey)
	var keyHash [4]byte
	binary.BigEndian.PutUint32(keyHash[:], signer.KeyHash())
	mv.Checkpoints = checkpointVectors{
		Comment:     "A published test key (seed 0x00..0x1f): never sign anything real with it.",
		KeyName:     name,
		SeedHex:     hex.EncodeToString(vectorSeed()),
		SignerKey:   skey,
		VerifierKey: vkey, PublicKeyHex: hex.EncodeToString(pub), KeyHashHex: hex.EncodeToString(keyHash[:]),
	}
	root3 := rootOf(hashes)
	for _, c := range []auditlog.Checkpoint{
		{Chain: "org:acme", Size: 0, Root: cp.Root, Time: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)},
		{Chain: "org:acme", Size: 3, Root: root3, Time: time.Date(2026, 1, 2, 3, 4, 8, 678901999, time.UTC)},
		{Chain: "org:acme", Size: 1, Root: rootOf(hashes[:1]), Time: time.Date(1969, 12, 31, 23, 59, 59, 999999500, time.UTC)},
	} {
		msg, err := auditlog.SignCheckpoint(signer, c)
		require.NoError(t, err)
		sig := signatureOf(t, msg)
		mv.Checkpoints.Notes = append(mv.Checkpoints.Notes, checkpointVector{Text: c.Text(), SignedNote: string(msg),
			SignatureHex: hex.EncodeToString(sig)})
	}
	return mv
}

// signatureOf returns the Ed25519 signature of a note with one signature
// line "— <name> <base64(key hash || signature)>".
func signatureOf(t *testing.T, msg []byte) []byte {
	_, sigs, ok := strings.Cut(string(msg), "\n\n")
	require.True(t, ok)
	f := strings.Fields(strings.TrimPrefix(strings.TrimSuffix(sigs, "\n"), "— "))
	require.Len(t, f, 2)
	raw, err := base64.StdEncoding.DecodeString(f[1])
	require.NoError(t, err)
	require.Len(t, raw, 4+ed25519.SignatureSize)
	return raw[4:]
}

// TestVectorsAgainstSpec checks testdata/vectors.json against ENCODING.md
// as a re-implementer would read it, without the package's code.
func TestVectorsAgainstSpec(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/vectors.json")
	require.NoError(t, err)
	var vf vectorFile
	require.NoError(t, json.Unmarshal(b, &vf))

	// Rule 7, as the text states it, against every number vector.
	for _, v := range vf.Canonical {
		lit, ok := strings.CutPrefix(v.Input, `{"n":`)
		if !ok || v.Error {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSuffix(lit, "}"), 64)
		require.NoError(t, err)
		require.Equal(t, `{"n":`+specNumber(f)+`}`, v.Canonical, v.Input)
	}
	// And against the package for doubles of every magnitude.
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		in := strconv.FormatFloat(f, 'e', -1, 64)
		out, err := auditlog.CanonicalJSON([]byte(`{"n":` + in + `}`))
		require.NoError(t, err, in)
		require.Equal(t, `{"n":`+specNumber(f)+`}`, string(out), in)
	}

	// Times: floor to microseconds, years 0000..9999.
	for _, v := range vf.Times {
		at := time.Unix(v.UnixSeconds, v.Nanos).UTC()
		if v.Error {
			require.Nil(t, v.Micros)
			require.True(t, at.Year() < 0 || at.Year() > 9999, at)
			continue
		}
		us := v.UnixSeconds*1e6 + v.Nanos/1e3 // Nanos is in [0, 1e9): floor for either sign of seconds
		require.Equal(t, us, *v.Micros, at)
	}

	empty := sha256.Sum256(nil)
	require.Equal(t, hex.EncodeToString(empty[:]), vf.EmptyRoot)

	// Stored tree rows: the leaf, then one hash per subtree the entry completes.
	var leaves []tlog.Hash
	for _, e := range vf.Entries {
		h, _ := hex.DecodeString(e.Hash)
		leaves = append(leaves, tlog.Hash(h))
	}
	for n, rowHex := range vf.StoredTree {
		row, _ := hex.DecodeString(rowHex)
		levels := 1
		for (n+1)%(1<<levels) == 0 {
			levels++
		}
		require.Len(t, row, 32*levels, "row %d", n)
		for l := range levels {
			sub := rootOf(leaves[n+1-(1<<l) : n+1])
			require.Equal(t, sub[:], row[32*l:32*(l+1)], "row %d level %d", n, l)
		}
	}

	// Checkpoints: the text, the key and the signature, by hand.
	cv := vf.Checkpoints
	seed, _ := hex.DecodeString(cv.SeedHex)
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	require.Equal(t, cv.PublicKeyHex, hex.EncodeToString(pub))
	kh := sha256.Sum256(append([]byte(cv.KeyName+"\n\x01"), pub...))
	require.Equal(t, cv.KeyHashHex, hex.EncodeToString(kh[:4]))
	require.Equal(t, cv.KeyName+"+"+cv.KeyHashHex+"+"+base64.StdEncoding.EncodeToString(append([]byte{1}, pub...)), cv.VerifierKey)
	require.Equal(t, "PRIVATE+KEY+"+cv.KeyName+"+"+cv.KeyHashHex+"+"+base64.StdEncoding.EncodeToString(append([]byte{1}, seed...)), cv.SignerKey)
	verifier, err := note.NewVerifier(cv.VerifierKey)
	require.NoError(t, err)
	for _, n := range cv.Notes {
		sig, _ := hex.DecodeString(n.SignatureHex)
		require.True(t, ed25519.Verify(pub, []byte(n.Text), sig))
		line := "— " + cv.KeyName + " " + base64.StdEncoding.EncodeToString(append(kh[:4:4], sig...)) + "\n"
		require.Equal(t, n.Text+"\n"+line, n.SignedNote)
		cp, err := auditlog.OpenCheckpoint([]byte(n.SignedNote), note.VerifierList(verifier))
		require.NoError(t, err)
		require.Equal(t, n.Text, cp.Text())
	}
	require.Equal(t, "rampart.auditlog/org:acme\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\ntime 2026-01-02T03:04:00.000000Z\n", cv.Notes[0].Text)
	require.Contains(t, cv.Notes[1].Text, "time 2026-01-02T03:04:08.678901Z\n") // truncated, not rounded
	require.Contains(t, cv.Notes[2].Text, "time 1969-12-31T23:59:59.999999Z\n") // towards the past before 1970 too
}

// specNumber writes a non-integral or large double as ENCODING.md rule 7
// says: the shortest round-trip digits d1 d2 ... dn and decimal exponent x
// (v = d1.d2...dn × 10^x), in exponent form when x < -4 or x >= 6.
func specNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) <= 1<<53 {
		return strconv.FormatInt(int64(v), 10)
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(v, 'e', -1, 64), "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	switch {
	case x < -4 || x >= 6:
		s := sign + digits[:1]
		if len(digits) > 1 {
			s += "." + digits[1:]
		}
		e := strconv.Itoa(max(x, -x))
		if len(e) < 2 {
			e = "0" + e
		}
		if x < 0 {
			return s + "e-" + e
		}
		return s + "e+" + e
	case x < 0:
		return sign + "0." + strings.Repeat("0", -x-1) + digits
	case len(digits) > x+1:
		return sign + digits[:x+1] + "." + digits[x+1:]
	default:
		return sign + digits + strings.Repeat("0", x+1-len(digits))
	}
}
