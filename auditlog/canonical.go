package auditlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits of a payload: an audit payload is a small JSON object, and a parser
// of stored bytes must bound its work.
const (
	MaxPayloadBytes = 1 << 20
	maxDepth        = 64
)

// CanonicalJSON returns the canonical form of a JSON object payload, the
// bytes whose SHA-256 an entry commits to. Two payloads that differ only in
// key order or insignificant whitespace have the same canonical form.
//
// The rule (ENCODING.md has it in full):
//   - the input is UTF-8 JSON (RFC 8259) whose top level is an object, at
//     most MaxPayloadBytes long and nested at most 64 deep;
//   - duplicate keys in an object (after unescaping) are rejected;
//   - object members are sorted by the UTF-8 bytes of their keys, and no
//     whitespace is written between tokens;
//   - strings are written with only '"', '\' and U+0000..U+001F escaped
//     (as \", \\ and \u00xx with lower-case hex); lone surrogates are rejected;
//   - a number is read as the nearest IEEE 754 double. Rejected, because
//     they do not survive a round trip through common JSON decoders:
//     literals that overflow, non-zero literals that round to zero, and
//     integer literals beyond ±2^53 other than a double's shortest decimal
//     written out in full (so 9007199254740993 is refused, while
//     100000000000000000000, which is how encoding/json and JavaScript
//     write 1e20, is accepted). An integral value of magnitude at most 2^53
//     is written as a decimal integer ("-0" as "0"); any other value as
//     Go's strconv.FormatFloat(v, 'g', -1, 64): the shortest decimal that
//     reads back as the same double, in exponent form (e+XX / e-XX, at
//     least two exponent digits) when its decimal exponent is < -4 or >= 6
//     whatever the number of digits (1.0000005e+06, 123456.5).
//
// Float-syntax literals are read as doubles even when that loses digits:
// 9007199254740993.0 is accepted and has the canonical form of
// 9007199254740992. No Unicode normalisation is applied to keys or strings.
func CanonicalJSON(data []byte) ([]byte, error) {
	if len(data) > MaxPayloadBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrBadPayload, MaxPayloadBytes)
	}
	p := &canonParser{in: data}
	p.skipSpace()
	if p.pos >= len(p.in) || p.in[p.pos] != '{' {
		return nil, fmt.Errorf("%w: top level must be an object", ErrBadPayload)
	}
	out, err := p.value(make([]byte, 0, len(data)), 0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.in) {
		return nil, p.errf("trailing data")
	}
	return out, nil
}

// CanonicalPayload marshals payload with encoding/json and returns its
// canonical form; a nil map is the empty object. Every finite float64 is
// accepted (encoding/json writes 1e20 as 100000000000000000000, which
// CanonicalJSON takes as the double it is); an integer beyond ±2^53 is
// accepted only if a double holds it in its shortest form, so an int64 ID
// that a double would change is refused: send such IDs as strings.
func CanonicalPayload(payload map[string]any) ([]byte, error) {
	if payload == nil {
		return []byte("{}"), nil
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	return CanonicalJSON(b)
}

// canonParser writes the canonical form of its input as it parses it,
// appending to the buffer it is given. An appender is called once per
// audit entry, so the parser allocates per payload, not per token: object
// members are collected in one scratch buffer per nesting depth (a nested
// object's members go to the next depth's, so a value being written never
// aliases the buffer being collected), and string values are unescaped
// into one reused buffer.
type canonParser struct {
	in      []byte
	pos     int
	scratch [][]byte // by depth: keys and values of the object being read
	members []member // a stack: each object's members sit above its parent's
	str     []byte   // the string value being written
}

func (p *canonParser) errf(format string, a ...any) error {
	return fmt.Errorf("%w: offset %d: %s", ErrBadPayload, p.pos, fmt.Sprintf(format, a...))
}

func (p *canonParser) skipSpace() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value appends the canonical form of the value at p.pos to out.
func (p *canonParser) value(out []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return out, p.errf("nested deeper than %d", maxDepth)
	}
	p.skipSpace()
	if p.pos >= len(p.in) {
		return out, p.errf("unexpected end")
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(out, depth)
	case c == '[':
		return p.array(out, depth)
	case c == '"':
		var err error
		if p.str, err = p.unquote(p.str[:0]); err != nil {
			return out, err
		}
		return appendCanonString(out, p.str), nil
	case c == 't':
		return p.literal(out, "true")
	case c == 'f':
		return p.literal(out, "false")
	case c == 'n':
		return p.literal(out, "null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number(out)
	default:
		return out, p.unexpected()
	}
}

// unexpected reports the character at p.pos that cannot start a value: as
// a character, not as its first byte (which %q would print as another
// character: 'Ã' for the first byte of "ü").
func (p *canonParser) unexpected() error {
	r, size := utf8.DecodeRune(p.in[p.pos:])
	if r == utf8.RuneError && size <= 1 {
		return p.errf("invalid UTF-8 byte 0x%02x", p.in[p.pos])
	}
	return p.errf("unexpected character %q", r)
}

func (p *canonParser) literal(out []byte, lit string) ([]byte, error) {
	if !bytes.HasPrefix(p.in[p.pos:], []byte(lit)) {
		return out, p.errf("bad literal")
	}
	p.pos += len(lit)
	return append(out, lit...), nil
}

// A member is an object member read into its depth's scratch buffer: the
// unescaped key at [key, val), the canonical value at [val, end).
type member struct{ key, val, end int }

func (p *canonParser) object(out []byte, depth int) ([]byte, error) {
	p.pos++ // {
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		return append(out, "{}"...), nil
	}
	for len(p.scratch) <= depth {
		p.scratch = append(p.scratch, make([]byte, 0, min(len(p.in), 512)))
	}
	if p.members == nil {
		p.members = make([]member, 0, 16)
	}
	buf := p.scratch[depth][:0]
	base := len(p.members)
	defer func() { p.members = p.members[:base] }()
	var err error
	for {
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return out, p.errf("expected a key")
		}
		m := member{key: len(buf)}
		if buf, err = p.unquote(buf); err != nil {
			return out, err
		}
		m.val = len(buf)
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return out, p.errf("expected ':'")
		}
		p.pos++
		if buf, err = p.value(buf, depth+1); err != nil {
			return out, err
		}
		m.end = len(buf)
		p.members = append(p.members, m)
		p.skipSpace()
		if p.pos >= len(p.in) {
			return out, p.errf("unexpected end")
		}
		if p.in[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.in[p.pos] == '}' {
			p.pos++
			break
		}
		return out, p.errf("expected ',' or '}'")
	}
	p.scratch[depth] = buf // keep its capacity for the next object at this depth
	members := p.members[base:]
	key := func(m member) []byte { return buf[m.key:m.val] }
	slices.SortFunc(members, func(a, b member) int { return bytes.Compare(key(a), key(b)) })
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			if bytes.Equal(key(members[i-1]), key(m)) {
				return out, p.errf("duplicate key %q", key(m))
			}
			out = append(out, ',')
		}
		out = appendCanonString(out, key(m))
		out = append(out, ':')
		out = append(out, buf[m.val:m.end]...)
	}
	return append(out, '}'), nil
}

func (p *canonParser) array(out []byte, depth int) ([]byte, error) {
	p.pos++ // [
	out = append(out, '[')
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		return append(out, ']'), nil
	}
	var err error
	for i := 0; ; i++ {
		if i > 0 {
			out = append(out, ',')
		}
		if out, err = p.value(out, depth+1); err != nil {
			return out, err
		}
		p.skipSpace()
		if p.pos >= len(p.in) {
			return out, p.errf("unexpected end")
		}
		if p.in[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.in[p.pos] == ']' {
			p.pos++
			return append(out, ']'), nil
		}
		return out, p.errf("expected ',' or ']'")
	}
}

// unquote reads the JSON string at p.pos and appends its value to b.
func (p *canonParser) unquote(b []byte) ([]byte, error) {
	p.pos++ // "
	for {
		if p.pos >= len(p.in) {
			return b, p.errf("unterminated string")
		}
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b, nil
		case c == '\\':
			if p.pos+1 >= len(p.in) {
				return b, p.errf("unterminated escape")
			}
			e := p.in[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return b, err
				}
				if utf16.IsSurrogate(r) {
					if r >= 0xdc00 || p.pos+1 >= len(p.in) || p.in[p.pos] != '\\' || p.in[p.pos+1] != 'u' {
						return b, p.errf("lone surrogate")
					}
					p.pos += 2
					r2, err := p.hex4()
					if err != nil {
						return b, err
					}
					r = utf16.DecodeRune(r, r2)
					if r == utf8.RuneError {
						return b, p.errf("lone surrogate")
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				return b, p.errf("bad escape")
			}
		case c < 0x20:
			return b, p.errf("control character in string")
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.in[p.pos:])
			if r == utf8.RuneError && size <= 1 {
				return b, p.errf("invalid UTF-8")
			}
			b = append(b, p.in[p.pos:p.pos+size]...)
			p.pos += size
		}
	}
}

func (p *canonParser) hex4() (rune, error) {
	if p.pos+4 > len(p.in) {
		return 0, p.errf("short \\u escape")
	}
	var r rune
	for _, c := range p.in[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, p.errf("bad \\u escape")
		}
	}
	p.pos += 4
	return r, nil
}

func (p *canonParser) number(out []byte) ([]byte, error) {
	start := p.pos
	integer := true
	if p.in[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.in) && p.in[p.pos] >= '0' && p.in[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.pos < len(p.in) && p.in[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return out, p.errf("bad number")
	}
	if p.pos < len(p.in) && p.in[p.pos] == '.' {
		integer = false
		p.pos++
		if digits() == 0 {
			return out, p.errf("bad number")
		}
	}
	if p.pos < len(p.in) && (p.in[p.pos] == 'e' || p.in[p.pos] == 'E') {
		integer = false
		p.pos++
		if p.pos < len(p.in) && (p.in[p.pos] == '+' || p.in[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return out, p.errf("bad number")
		}
	}
	if lit := bytes.TrimPrefix(p.in[start:p.pos], []byte("-")); integer && len(lit) <= 15 {
		// At most 15 digits: exact in an int64 and in a double, so the
		// canonical form is the integer itself (the common case, and
		// without the string conversion that strconv's parsers need).
		var n int64
		for _, c := range lit {
			n = n*10 + int64(c-'0')
		}
		if p.in[start] == '-' {
			n = -n
		}
		return strconv.AppendInt(out, n, 10), nil
	}
	lit := string(p.in[start:p.pos])
	v, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(v, 0) {
		return out, p.errf("number %s is out of range", lit)
	}
	if integer && !exactInteger(lit, v) {
		return out, p.errf("integer %s cannot round-trip (beyond ±2^53 and not a double's shortest form)", lit)
	}
	if v == 0 && !zeroLiteral(lit) {
		return out, p.errf("number %s underflows to zero", lit)
	}
	return appendCanonNumber(out, v), nil
}

// exactInteger reports whether the integer literal lit, read as v, has a
// canonical form that denotes the same number: any integer of magnitude at
// most 2^53, and beyond that only the literal that is v's shortest
// round-trip decimal written out in full ("100000000000000000000" for 1e20,
// "1152921504606847000" for 2^60), which is how encoding/json and
// JavaScript write a double below 1e21. Such a literal's canonical form
// (1e+20, 1.152921504606847e+18) has the same digits and value, so no
// information is lost; any other integer beyond 2^53 (9007199254740993, or
// 2^60 written exactly as 1152921504606846976) would be rewritten to a
// different number, and is refused.
func exactInteger(lit string, v float64) bool {
	const maxExact = 1 << 53
	if n, err := strconv.ParseInt(lit, 10, 64); err == nil && n <= maxExact && n >= -maxExact {
		return true
	}
	return lit == strconv.FormatFloat(v, 'f', -1, 64)
}

func zeroLiteral(lit string) bool {
	for _, c := range lit {
		if c == 'e' || c == 'E' {
			break
		}
		if c >= '1' && c <= '9' {
			return false
		}
	}
	return true
}

func appendCanonNumber(out []byte, v float64) []byte {
	if v == math.Trunc(v) && math.Abs(v) <= 1<<53 {
		return strconv.AppendInt(out, int64(v), 10) // -0 is 0 here
	}
	return strconv.AppendFloat(out, v, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

func appendCanonString(out, s []byte) []byte {
	out = append(out, '"')
	for _, c := range s {
		switch {
		case c == '"':
			out = append(out, `\"`...)
		case c == '\\':
			out = append(out, `\\`...)
		case c < 0x20:
			out = append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}
