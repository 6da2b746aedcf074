package keyring

// Internal identifiers exported for tests.

// KCVSize is the length in bytes of a key check value.
const KCVSize = kcvSize

// ToText returns the text form of a binary envelope.
var ToText = toText

// KeyCheckValue returns the check value of key id as the ring computed it.
func (r *Ring) KeyCheckValue(id uint32) (string, bool) { return r.keyCheckValue(id) }
