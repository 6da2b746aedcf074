package auditlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
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
//   - a number is read as the nearest IEEE 754 double. Integer literals
//     beyond ±2^53 and non-zero literals that round to zero or overflow are
//     rejected, because they do not survive a round trip through common
//     JSON decoders. An integral value of magnitude at most 2^53 is written
//     as a decimal integer ("-0" as "0"); any other value as Go's
//     strconv.FormatFloat(v, 'g', -1, 64): the shortest decimal that reads
//     back as the same double, in exponent form (e+XX / e-XX, at least two
//     exponent digits) when the exponent is < -4 or >= the digit count.
func CanonicalJSON(data []byte) ([]byte, error) {
	if len(data) > MaxPayloadBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrBadPayload, MaxPayloadBytes)
	}
	p := &canonParser{in: data}
	p.skipSpace()
	if p.pos >= len(p.in) || p.in[p.pos] != '{' {
		return nil, fmt.Errorf("%w: top level must be an object", ErrBadPayload)
	}
	var out bytes.Buffer
	out.Grow(len(data))
	if err := p.value(&out, 0); err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.in) {
		return nil, p.errf("trailing data")
	}
	return out.Bytes(), nil
}

// CanonicalPayload marshals payload with encoding/json and returns its
// canonical form; a nil map is the empty object.
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

type canonParser struct {
	in  []byte
	pos int
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

func (p *canonParser) value(out *bytes.Buffer, depth int) error {
	if depth > maxDepth {
		return p.errf("nested deeper than %d", maxDepth)
	}
	p.skipSpace()
	if p.pos >= len(p.in) {
		return p.errf("unexpected end")
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(out, depth)
	case c == '[':
		return p.array(out, depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return err
		}
		writeCanonString(out, s)
		return nil
	case c == 't':
		return p.literal(out, "true")
	case c == 'f':
		return p.literal(out, "false")
	case c == 'n':
		return p.literal(out, "null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number(out)
	default:
		return p.errf("unexpected byte %q", c)
	}
}

func (p *canonParser) literal(out *bytes.Buffer, lit string) error {
	if !bytes.HasPrefix(p.in[p.pos:], []byte(lit)) {
		return p.errf("bad literal")
	}
	p.pos += len(lit)
	out.WriteString(lit)
	return nil
}

type member struct {
	key string
	val []byte
}

func (p *canonParser) object(out *bytes.Buffer, depth int) error {
	p.pos++ // {
	var members []member
	seen := map[string]struct{}{}
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		out.WriteString("{}")
		return nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return p.errf("expected a key")
		}
		key, err := p.str()
		if err != nil {
			return err
		}
		if _, dup := seen[key]; dup {
			return p.errf("duplicate key %q", key)
		}
		seen[key] = struct{}{}
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return p.errf("expected ':'")
		}
		p.pos++
		var v bytes.Buffer
		if err := p.value(&v, depth+1); err != nil {
			return err
		}
		members = append(members, member{key, v.Bytes()})
		p.skipSpace()
		if p.pos >= len(p.in) {
			return p.errf("unexpected end")
		}
		if p.in[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.in[p.pos] == '}' {
			p.pos++
			break
		}
		return p.errf("expected ',' or '}'")
	}
	sort.Slice(members, func(i, j int) bool { return members[i].key < members[j].key })
	out.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			out.WriteByte(',')
		}
		writeCanonString(out, m.key)
		out.WriteByte(':')
		out.Write(m.val)
	}
	out.WriteByte('}')
	return nil
}

func (p *canonParser) array(out *bytes.Buffer, depth int) error {
	p.pos++ // [
	out.WriteByte('[')
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		out.WriteByte(']')
		return nil
	}
	for i := 0; ; i++ {
		if i > 0 {
			out.WriteByte(',')
		}
		if err := p.value(out, depth+1); err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(p.in) {
			return p.errf("unexpected end")
		}
		if p.in[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.in[p.pos] == ']' {
			p.pos++
			out.WriteByte(']')
			return nil
		}
		return p.errf("expected ',' or ']'")
	}
}

// str reads a JSON string at p.pos and returns its value.
func (p *canonParser) str() (string, error) {
	p.pos++ // "
	var b []byte
	for {
		if p.pos >= len(p.in) {
			return "", p.errf("unterminated string")
		}
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(b), nil
		case c == '\\':
			if p.pos+1 >= len(p.in) {
				return "", p.errf("unterminated escape")
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
					return "", err
				}
				if utf16.IsSurrogate(r) {
					if r >= 0xdc00 || p.pos+1 >= len(p.in) || p.in[p.pos] != '\\' || p.in[p.pos+1] != 'u' {
						return "", p.errf("lone surrogate")
					}
					p.pos += 2
					r2, err := p.hex4()
					if err != nil {
						return "", err
					}
					r = utf16.DecodeRune(r, r2)
					if r == utf8.RuneError {
						return "", p.errf("lone surrogate")
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", p.errf("bad escape")
			}
		case c < 0x20:
			return "", p.errf("control character in string")
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.in[p.pos:])
			if r == utf8.RuneError && size <= 1 {
				return "", p.errf("invalid UTF-8")
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

func (p *canonParser) number(out *bytes.Buffer) error {
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
		return p.errf("bad number")
	}
	if p.pos < len(p.in) && p.in[p.pos] == '.' {
		integer = false
		p.pos++
		if digits() == 0 {
			return p.errf("bad number")
		}
	}
	if p.pos < len(p.in) && (p.in[p.pos] == 'e' || p.in[p.pos] == 'E') {
		integer = false
		p.pos++
		if p.pos < len(p.in) && (p.in[p.pos] == '+' || p.in[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return p.errf("bad number")
		}
	}
	lit := string(p.in[start:p.pos])
	v, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(v, 0) {
		return p.errf("number %s is out of range", lit)
	}
	const maxExact = 1 << 53
	if integer {
		n, err := strconv.ParseInt(lit, 10, 64)
		if err != nil || n > maxExact || n < -maxExact {
			return p.errf("integer %s cannot round-trip (beyond ±2^53)", lit)
		}
	}
	if v == 0 && !zeroLiteral(lit) {
		return p.errf("number %s underflows to zero", lit)
	}
	out.WriteString(formatCanonNumber(v))
	return nil
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

func formatCanonNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) <= 1<<53 {
		if v == 0 {
			return "0"
		}
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

func writeCanonString(out *bytes.Buffer, s string) {
	out.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			out.WriteString(`\"`)
		case c == '\\':
			out.WriteString(`\\`)
		case c < 0x20:
			out.WriteString(`\u00`)
			out.WriteByte(hexDigits[c>>4])
			out.WriteByte(hexDigits[c&0xf])
		default:
			out.WriteByte(c)
		}
	}
	out.WriteByte('"')
}
