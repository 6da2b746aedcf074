package keyring_test

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/stretchr/testify/require"
)

// TestEnvelopeLayoutMatchesDoc opens an envelope with nothing but
// crypto/cipher and the byte layout documented in doc.go, so the
// documentation and the implementation cannot drift apart.
func TestEnvelopeLayoutMatchesDoc(t *testing.T) {
	t.Parallel()
	d := testDoc(t)
	r := testRing(t, d)
	ct, err := r.Field("users", "email").Seal("row-7", []byte("alice@example.com"))
	require.NoError(t, err)

	raw, err := d.Encode()
	require.NoError(t, err)
	var w struct {
		Keys []struct {
			ID    uint32 `json:"id"`
			Scope string `json:"scope"`
			Key   string `json:"key"`
		} `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(raw, &w))
	require.Equal(t, byte(0x01), ct[0])
	id := binary.BigEndian.Uint32(ct[1:5])
	var key []byte
	for _, k := range w.Keys {
		if k.ID == id {
			require.Equal(t, "users.email", k.Scope)
			key, _ = base64.StdEncoding.DecodeString(k.Key)
		}
	}
	require.Len(t, key, 32)
	lp := func(b []byte, s string) []byte {
		return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...)
	}
	ad := []byte{0x01}
	ad = lp(ad, "users.email")
	ad = binary.BigEndian.AppendUint32(ad, id)
	ad = lp(ad, "users")
	ad = lp(ad, "email")
	ad = lp(ad, "row-7")
	blk, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(blk)
	pt, err := g.Open(nil, ct[5:17], ct[17:], ad)
	require.NoError(t, err)
	require.Equal(t, "alice@example.com", string(pt))

	txt := keyring.ToText(ct)
	require.Equal(t, "rk1:", txt[:4])
	b, err := base64.RawURLEncoding.DecodeString(txt[4:])
	require.NoError(t, err)
	require.Equal(t, ct, b)
}
