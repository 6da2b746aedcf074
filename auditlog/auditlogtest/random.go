package auditlogtest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/rampart-sdk/rampart/auditlog"
)

// awkward are runes that encoders treat specially: every JSON escape,
// control characters, what HTML-escaping encoders rewrite, JavaScript's
// line terminators, a byte-order mark, the replacement character, the ends
// of the planes, a CSV separator and the spreadsheet formula prefixes.
var awkward = []rune{'"', '\\', '/', '\b', '\f', '\n', '\r', '\t', 0, 0x1f, 0x7f, 0x80, 0x9f, '&', '<', '>', '\'', '=', '+',
	'-', '@', ',', ' ', 0x2028, 0x2029, 0xfeff, 0xfffd, 0xfffe, 0xffff, 0xd7ff, 0xe000, 0x10000, 0x1f600, 0x10ffff}

// randomRune draws a Unicode scalar value (never a surrogate): often an
// awkward one, else ASCII, the BMP or the astral planes.
func randomRune(r *rand.Rand) rune {
	switch r.IntN(4) {
	case 0:
		return awkward[r.IntN(len(awkward))]
	case 1:
		return rune(r.IntN(0x80))
	case 2:
		c := rune(r.IntN(0x10000 - 0x800))
		if c >= 0xd800 {
			c += 0x800 // skip the surrogates
		}
		return c
	}
	return 0x10000 + rune(r.IntN(0x100000))
}

// randomString returns up to n random runes (randomRune), control
// characters included.
func randomString(r *rand.Rand, n int) string {
	var b strings.Builder
	for range r.IntN(n + 1) {
		b.WriteRune(randomRune(r))
	}
	return b.String()
}

// randomText is randomString without the control characters that header
// fields refuse (U+0000..U+001F and U+007F).
func randomText(r *rand.Rand, n int) string {
	var b strings.Builder
	for range r.IntN(n + 1) {
		c := randomRune(r)
		if c < 0x20 || c == 0x7f {
			c = '?'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// randomPayload returns a payload of random keys and values nested up to
// depth levels: strings of randomString, integers up to ±2^53, binary
// fractions, booleans, nulls, arrays and objects.
func randomPayload(r *rand.Rand, depth int) map[string]any {
	m := map[string]any{}
	for range r.IntN(5) {
		m[randomString(r, 8)] = randomValue(r, depth)
	}
	return m
}

func randomValue(r *rand.Rand, depth int) any {
	k := r.IntN(8)
	if depth <= 0 && k >= 6 {
		k = r.IntN(6)
	}
	switch k {
	case 0, 1:
		return randomString(r, 24)
	case 2:
		return r.Int64N(1<<54) - 1<<53
	case 3:
		return float64(r.Int64N(1<<24)-1<<23) / 64
	case 4:
		return r.IntN(2) == 0
	case 5:
		return nil
	case 6:
		a := make([]any, r.IntN(4))
		for i := range a {
			a[i] = randomValue(r, depth-1)
		}
		return a
	}
	return randomPayload(r, depth-1)
}

// RandomEntry returns an entry for Log.Append of one of orgs ("" is the
// global chain) and actions, with random actor and target IDs, request
// metadata (randomText: formula prefixes, quotes, U+2028 and astral
// characters included), a time between 1900 and 2200 with nanoseconds
// (the log keeps microseconds), and a randomPayload.
func RandomEntry(r *rand.Rand, orgs, actions []string) (auditlog.Entry, error) {
	payload, err := auditlog.CanonicalPayload(randomPayload(r, 4))
	if err != nil {
		return auditlog.Entry{}, err
	}
	id := func() string {
		s := randomText(r, 12)
		if s == "" {
			s = "x"
		}
		return s
	}
	e := auditlog.Entry{
		Org:     orgs[r.IntN(len(orgs))],
		Actor:   []string{"user:", "apikey:", "system:"}[r.IntN(3)] + id(),
		Action:  actions[r.IntN(len(actions))],
		Request: auditlog.Request{IP: randomText(r, 6), UserAgent: randomText(r, 20), RequestID: randomText(r, 6)},
		Payload: payload,
		Time:    time.Unix(r.Int64N(300*365*86400)-70*365*86400, r.Int64N(1e9)).UTC(),
	}
	if r.IntN(4) > 0 {
		e.Target = fmt.Sprintf("%s:%s", strings.ReplaceAll(id(), ":", ";"), id())
	}
	return e, nil
}
