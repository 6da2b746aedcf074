package auditlog_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
)

// Go values that encoding/json writes as integer literals beyond 2^53 are
// doubles all the same: Record accepts them and stores their canonical form.
func TestRecordFloats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type inner struct {
		F float64 `json:"f"`
	}
	for _, c := range []struct {
		name    string
		payload map[string]any
		want    string
	}{
		{"1e20", map[string]any{"n": 1e20}, `{"n":1e+20}`},
		{"-1e20", map[string]any{"n": -1e20}, `{"n":-1e+20}`},
		{"2^60", map[string]any{"n": float64(1 << 60)}, `{"n":1.152921504606847e+18}`},
		{"2^53+2", map[string]any{"n": float64(1<<53 + 2)}, `{"n":9.007199254740994e+15}`},
		{"max float64", map[string]any{"n": math.MaxFloat64}, `{"n":1.7976931348623157e+308}`},
		{"float32", map[string]any{"n": float32(1 << 60)}, `{"n":1.1529215e+18}`},
		{"in a slice", map[string]any{"a": []any{1e20, 0.5}}, `{"a":[1e+20,0.5]}`},
		{"in a struct", map[string]any{"s": inner{F: 1e20}}, `{"s":{"f":1e+20}}`},
		{"an int64 a double holds in its shortest form", map[string]any{"n": int64(1e18)}, `{"n":1e+18}`},
		{"exponent switch at 1e6", map[string]any{"a": 123456.5, "b": 1000000.5}, `{"a":123456.5,"b":1.0000005e+06}`},
	} {
		s := auditlog.NewMemoryStore()
		l, _ := auditlogtest.NewLog(t, s)
		require.NoError(t, l.Record(ctx, "acme", "user:1", "test.created", "", c.payload), c.name)
		es := auditlogtest.Entries(t, s, "org:acme")
		require.Len(t, es, 1)
		require.Equal(t, c.want, string(es[0].Payload), c.name)
	}
	// An integer a double would change is refused, not rounded.
	for _, n := range []any{int64(1<<60 + 1), int64(1 << 60), uint64(math.MaxUint64), int64(1<<53 + 1)} {
		_, err := auditlog.CanonicalPayload(map[string]any{"n": n})
		require.ErrorIs(t, err, auditlog.ErrBadPayload, "%v", n)
	}
}

// Every finite float64, through encoding/json, has a canonical form that
// reads back as the same double, and the canonical form of that is itself.
func TestEveryFloatCanonicalises(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	check := func(v float64) {
		canon, err := auditlog.CanonicalPayload(map[string]any{"n": v})
		require.NoError(t, err, "%v", v)
		var got struct{ N float64 }
		require.NoError(t, json.Unmarshal(canon, &got))
		require.Equal(t, v, got.N, "%s", canon)
		again, err := auditlog.CanonicalJSON(canon)
		require.NoError(t, err)
		require.Equal(t, string(canon), string(again))
	}
	for _, v := range []float64{0, 1, -1, 1 << 53, -(1 << 53), 1<<53 + 2, 1e15, 1e16, 1e20, 1e21, 1e22,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 5e-324, 1e-7, 0.1} {
		check(v)
		check(-v)
	}
	for range 20000 {
		v := math.Float64frombits(r.Uint64())
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		check(v)
	}
	for range 20000 { // integral doubles beyond 2^53, which encoding/json writes as integers below 1e21
		v := math.Ldexp(float64(r.Uint64()>>11|1<<52), r.IntN(17)+1)
		check(v)
	}
}

// An integer literal beyond 2^53 is accepted exactly when its canonical
// form denotes the same number.
func TestIntegerLiteralsBeyond2p53(t *testing.T) {
	t.Parallel()
	for lit, want := range map[string]string{
		"9007199254740992":       "9007199254740992",
		"9007199254740994":       "9.007199254740994e+15",
		"100000000000000000000":  "1e+20",
		"-100000000000000000000": "-1e+20",
		"1152921504606847000":    "1.152921504606847e+18",
		"9007199254740993":       "",
		"1152921504606846976":    "", // 2^60 exactly: its canonical form would denote 1152921504606847000
		"100000000000000000001":  "",
		"18446744073709551615":   "",
	} {
		got, err := auditlog.CanonicalJSON([]byte(`{"n":` + lit + `}`))
		if want == "" {
			require.ErrorIs(t, err, auditlog.ErrBadPayload, lit)
			continue
		}
		require.NoError(t, err, lit)
		require.Equal(t, `{"n":`+want+`}`, string(got), lit)
	}
}

func TestTimeRange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	minT, maxT := time.UnixMicro(auditlog.MinTimeMicros).UTC(), time.UnixMicro(auditlog.MaxTimeMicros).UTC()
	require.Equal(t, "0000-01-01T00:00:00Z", minT.Format(time.RFC3339Nano))
	require.Equal(t, "9999-12-31T23:59:59.999999Z", maxT.Format(time.RFC3339Nano))
	for _, c := range []struct {
		name string
		in   time.Time
		want time.Time // zero: refused
	}{
		{"first instant", minT, minT},
		{"last microsecond", maxT, maxT},
		{"last nanosecond truncates to the last microsecond", maxT.Add(999 * time.Nanosecond), maxT},
		{"sub-microsecond before 1970 truncates towards the past", time.Date(1969, 12, 31, 23, 59, 59, 999999500, time.UTC),
			time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{"sub-microsecond after 1970 truncates", time.Date(2026, 1, 2, 3, 4, 5, 678901999, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)},
		{"other zone is stored as UTC", time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), time.Date(2026, 1, 2, 2, 4, 5, 0, time.UTC)},
		{"one nanosecond before", minT.Add(-time.Nanosecond), time.Time{}},
		{"one microsecond after", maxT.Add(time.Microsecond), time.Time{}},
	} {
		s := auditlog.NewMemoryStore()
		l, _ := auditlogtest.NewLog(t, s)
		_, err := l.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:1", Action: "test.created", Time: c.in})
		if c.want.IsZero() {
			require.ErrorIs(t, err, auditlog.ErrBadEntry, c.name)
			continue
		}
		require.NoError(t, err, c.name)
		es := auditlogtest.Entries(t, s, "org:acme")
		require.Equal(t, c.want, es[0].Time, c.name)
		require.Equal(t, c.want.UnixMicro(), c.in.UnixMicro(), c.name)
	}
}

func TestSchemaVersionFitsPostgres(t *testing.T) {
	t.Parallel()
	l, err := auditlog.New(auditlog.NewMemoryStore())
	require.NoError(t, err)
	require.NoError(t, l.Register(auditlog.ActionType{Name: "a.max", Category: auditlog.CategoryData, SchemaVersion: auditlog.MaxSchemaVersion}))
	for _, v := range []uint32{auditlog.MaxSchemaVersion + 1, math.MaxUint32} {
		err := l.Register(auditlog.ActionType{Name: "a.big", Category: auditlog.CategoryData, SchemaVersion: v})
		require.ErrorIs(t, err, auditlog.ErrBadActionType)
		require.ErrorContains(t, err, strconv.FormatUint(uint64(v), 10))
	}
	require.ErrorIs(t, l.Register(auditlog.ActionType{Name: "bad name", Category: auditlog.CategoryData}), auditlog.ErrBadActionType)
	require.ErrorIs(t, l.Register(auditlog.ActionType{Name: "a.nocat"}), auditlog.ErrBadActionType)
}

// A refused character is named as the character it is, not as its first
// byte printed as a rune ('Ã' for "ü").
func TestRefusedCharacterNamedCorrectly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := auditlogtest.NewLog(t, auditlog.NewMemoryStore())
	for org, want := range map[string]string{
		"zürich":   `character 'ü' (U+00FC) is not allowed`,
		"東京":       `character '東' (U+6771) is not allowed`,
		"a\xffb":   `byte 0xff at offset 1 is not valid UTF-8`,
		"acme inc": `character ' ' (U+0020) is not allowed`,
	} {
		_, err := l.Append(ctx, auditlog.Entry{Org: org, Actor: "user:1", Action: "test.created"})
		require.ErrorIs(t, err, auditlog.ErrBadEntry)
		require.ErrorContains(t, err, want)
		require.ErrorContains(t, err, "A-Z a-z 0-9 . _ : / @ -")
		require.NotContains(t, err.Error(), "Ã")
	}
	_, err := auditlog.CanonicalJSON([]byte(`{"a":ü}`))
	require.ErrorIs(t, err, auditlog.ErrBadPayload)
	require.ErrorContains(t, err, `unexpected character 'ü'`)
	_, err = auditlog.CanonicalJSON([]byte("{\"a\":\xff}"))
	require.ErrorContains(t, err, `invalid UTF-8 byte 0xff`)
}

// The root of an empty chain's tree is SHA-256 of no bytes, in the signed
// checkpoint and in Verify alike, and a checkpoint of the empty chain is
// matched (it was reported as a truncation).
func TestEmptyTreeRoot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	empty := tlog.Hash(sha256.Sum256(nil))
	signer, _ := auditlogtest.NewSigner(t, "test")
	s := auditlog.NewMemoryStore()
	l, _ := auditlogtest.NewLog(t, s, auditlog.WithCheckpoints(signer, nil, 0, 0))
	cp, _, err := l.Checkpoint(ctx, "org:acme")
	require.NoError(t, err)
	require.Zero(t, cp.Size)
	require.Equal(t, empty, cp.Root)
	res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{Checkpoints: []auditlog.Checkpoint{cp}})
	require.NoError(t, err)
	require.Equal(t, empty, res.Root)
	require.Equal(t, 1, res.Checkpoints)

	bad := cp
	bad.Root = tlog.Hash{}
	_, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{Checkpoints: []auditlog.Checkpoint{bad}})
	var ve *auditlog.VerifyError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, auditlog.ReasonCheckpointMismatch, ve.Reason)

	require.NoError(t, l.Record(ctx, "acme", "user:1", "test.created", "", nil))
	res, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{Checkpoints: []auditlog.Checkpoint{cp}})
	require.NoError(t, err)
	require.Equal(t, 1, res.Checkpoints)
	_, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{Checkpoints: []auditlog.Checkpoint{bad}})
	require.ErrorAs(t, err, &ve)
}
