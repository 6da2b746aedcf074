package nec1099

import (
	"crypto/sha1"
	"fmt"
)

// uuidNamespace is the namespace of the name-based UUIDs of generations and
// filing records: RFC 4122's URL namespace (6ba7b811-...). It must never
// change, since stored filing IDs derive from it (it is the one compliance
// used before this package was split from it); the names hashed under it
// carry the organisation, so IDs never collide across tenants. They are
// identifiers, not secrets.
var uuidNamespace = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// uuidV5 derives a name-based (version 5, SHA-1) UUID, so a re-run derives
// the same record ID for the same (org, tax year, payee, seq).
func uuidV5(name string) string {
	h := sha1.New()
	h.Write(uuidNamespace[:])
	h.Write([]byte(name))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
