package auditlog_test

import (
	"encoding/json"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/stretchr/testify/require"
)

func TestCanonicalJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`{"b":2,"a":1}`, `{"a":1,"b":2}`},
		{"{\n\t\"a\" : [ 1 , 2 ] }", `{"a":[1,2]}`},
		{`{"x":1.50}`, `{"x":1.5}`},
		{`{"x":-9007199254740992}`, `{"x":-9007199254740992}`},
		{`{"x":"\u0041\u00e9"}`, `{"x":"Aé"}`},
	} {
		got, err := auditlog.CanonicalJSON([]byte(tc.in))
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, string(got), tc.in)
	}
	for _, bad := range []string{
		"", `null`, `[]`, `{"a":1,"a":1}`, `{"a":{"b":1,"b":2}}`, `{"n":9007199254740993}`, `{"n":-9007199254740993}`,
		`{"n":99999999999999999999}`, `{"n":1e999}`, `{"n":1e-999}`, `{"n":.5}`, `{"n":+1}`, `{"n":NaN}`,
		"{\"s\":\"\xff\"}", `{"s":"\udc00"}`, `{"s":"\ud800x"}`, "{\"s\":\"\x01\"}", `{"a":1}{}`, `{"a" 1}`, `{'a':1}`,
	} {
		_, err := auditlog.CanonicalJSON([]byte(bad))
		require.ErrorIs(t, err, auditlog.ErrBadPayload, "%q", bad)
	}
	deep := ""
	for range 100 {
		deep += `{"a":`
	}
	_, err := auditlog.CanonicalJSON([]byte(deep + "1" + string(make([]byte, 0))))
	require.ErrorIs(t, err, auditlog.ErrBadPayload)
}

func TestCanonicalPayloadKeyOrderIndependent(t *testing.T) {
	t.Parallel()
	a, err := auditlog.CanonicalJSON([]byte(`{"z":{"y":1,"x":[true]},"a":"é"}`))
	require.NoError(t, err)
	b, err := auditlog.CanonicalPayload(map[string]any{"a": "é", "z": map[string]any{"x": []any{true}, "y": 1}})
	require.NoError(t, err)
	require.Equal(t, a, b)
	require.Equal(t, auditlog.PayloadDigest(a), auditlog.PayloadDigest(b))
}

// FuzzCanonicalJSON: the canonical form is valid JSON, is its own canonical
// form, and means the same as the input.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"b":1,"a":[1,2.5,"x"]}`, `{"s":"\ud83d\ude00\n"}`, `{"n":1e-7}`, `{"a":{"b":{"c":null}}}`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := auditlog.CanonicalJSON(data)
		if err != nil {
			return
		}
		require.True(t, json.Valid(out), "%q", out)
		again, err := auditlog.CanonicalJSON(out)
		require.NoError(t, err)
		require.Equal(t, string(out), string(again))
		var x, y any
		require.NoError(t, json.Unmarshal(data, &x))
		require.NoError(t, json.Unmarshal(out, &y))
		require.Equal(t, x, y)
	})
}

// FuzzCanonicalNumber: a number the canonicaliser accepts keeps its value as
// a double, and an accepted integer literal keeps its exact decimal value
// (the canonical text denotes the same number, not only the same double).
func FuzzCanonicalNumber(f *testing.F) {
	for _, s := range []string{"1", "-0", "9007199254740993", "100000000000000000000", "1152921504606847000",
		"1152921504606846976", "1e20", "0.1", "123456789.125", "1e-400"} {
		f.Add(s)
	}
	number := regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)
	f.Fuzz(func(t *testing.T, lit string) {
		if !number.MatchString(lit) {
			return
		}
		out, err := auditlog.CanonicalJSON([]byte(`{"n":` + lit + `}`))
		if err != nil {
			return
		}
		canon := strings.TrimSuffix(strings.TrimPrefix(string(out), `{"n":`), `}`)
		v, err := strconv.ParseFloat(lit, 64)
		require.NoError(t, err)
		w, err := strconv.ParseFloat(canon, 64)
		require.NoError(t, err)
		require.Equal(t, v, w, "%s -> %s", lit, canon)
		if !strings.ContainsAny(lit, ".eE") {
			a, ok := new(big.Rat).SetString(lit)
			require.True(t, ok)
			b, ok := new(big.Rat).SetString(canon)
			require.True(t, ok)
			require.Zero(t, a.Cmp(b), "integer %s became %s", lit, canon)
		}
	})
}
