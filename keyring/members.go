package keyring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// maxNesting bounds how deep checkMembers follows a document: a registry
// document is three levels deep, and a hostile one must not exhaust the stack.
const maxNesting = 32

// checkMembers walks data token by token and refuses an object that holds
// the same member twice, at any level. encoding/json keeps the last of two
// duplicates (and matches member names without regard to case), so the key
// a reviewer reads in a document could otherwise differ from the key in use.
// Names are compared as encoding/json matches them: case-insensitively.
func checkMembers(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return walkValue(dec, "$", 0)
}

func walkValue(dec *json.Decoder, path string, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("%w: nested deeper than %d levels at %s", ErrInvalidDocument, maxNesting, path)
	}
	tok, err := dec.Token()
	if err != nil {
		// The decoder's error may quote input, which can hold key
		// material: do not wrap it.
		return fmt.Errorf("%w: not a JSON registry document", ErrInvalidDocument)
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				return fmt.Errorf("%w: not a JSON registry document", ErrInvalidDocument)
			}
			name, ok := t.(string)
			if !ok {
				return fmt.Errorf("%w: not a JSON registry document", ErrInvalidDocument)
			}
			k := foldName(name)
			if seen[k] {
				return fmt.Errorf("%w: duplicate member %s at %s", ErrInvalidDocument, quoteName(name), path)
			}
			seen[k] = true
			if err := walkValue(dec, memberPath(path, name), depth+1); err != nil {
				return err
			}
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := walkValue(dec, path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
	default:
		return nil // a scalar
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return fmt.Errorf("%w: not a JSON registry document", ErrInvalidDocument)
	}
	return nil
}

// foldName maps a member name to a key equal for every pair of names that
// encoding/json would treat as the same field: each rune becomes the
// smallest rune of its Unicode simple-folding orbit (so "Key", "KEY" and
// "key", and the Kelvin sign K for k, all fold together).
func foldName(s string) string {
	b := make([]rune, 0, len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b = append(b, m)
	}
	return string(b)
}

// quoteName quotes a member name for an error, cut to a readable length.
func quoteName(s string) string {
	const limit = 64
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

// memberPath extends a JSONPath: $.keys for plain names, $["odd name"]
// otherwise.
func memberPath(path, name string) string {
	plain := name != ""
	for i, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return path + "." + name
	}
	return path + "[" + quoteName(name) + "]"
}
