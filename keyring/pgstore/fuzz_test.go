package pgstore

import (
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
)

// FuzzHeaderKeyID feeds arbitrary header bytes, as the guardrail query
// returns them, to the header decoder: it must never panic, and it may only
// report a key ID for a well-formed version-1 header.
func FuzzHeaderKeyID(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 7}, true, false)
	f.Add([]byte("rk1:AQAAAAfx"), true, true)
	f.Add([]byte{}, false, false)
	f.Add([]byte("rk1:"), true, true)
	f.Fuzz(func(t *testing.T, head []byte, long, text bool) {
		id := headerKeyID(head, long, text)
		if id == 0 {
			return
		}
		if !long {
			t.Fatal("key ID for a short value")
		}
		if !text && head[0] != keyring.VersionBinary {
			t.Fatalf("key ID %d for version %d", id, head[0])
		}
	})
}
