package nec1099

import "testing"

// TestUUIDV5Golden pins the IDs derived by uuidV5: stored filing and
// generation IDs derive from it, so they must never change. The values are
// what compliance's uuidV5 produced before this package was split from it
// (commit 4b89319), and they agree with RFC 4122's UUIDv5 under the URL
// namespace (Python's uuid.uuid5(uuid.NAMESPACE_URL, name)).
func TestUUIDV5Golden(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"filing/o/2026/p/1":                        "a0f0bf69-b07f-5aab-9320-d715388003d9",
		"filing/org1/2025/a/1":                     "c74773ca-3d08-5d6f-8690-ac0c5fe9ab89",
		"filing/org1/2025/a/2":                     "48763962-815b-542c-9add-3f9da0edbd7d",
		"generation/org1/2025/1740787200000000000": "68522676-f90e-5c97-bc38-1cdabd91188a",
	} {
		if got := uuidV5(name); got != want {
			t.Errorf("uuidV5(%q) = %s, want %s (stored IDs would change)", name, got, want)
		}
	}
}
