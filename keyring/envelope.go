package keyring

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// Envelope layout, format version 1 (see doc.go for the byte-by-byte table):
//
//	[0]      version = 0x01
//	[1:5]    key ID, big-endian uint32
//	[5:17]   nonce, 12 random bytes
//	[17:]    AES-256-GCM ciphertext followed by the 16-byte tag
const (
	// VersionBinary is the first byte of every version-1 envelope.
	VersionBinary byte = 0x01
	// TextPrefix starts the text form of an envelope, for TEXT columns: the
	// prefix followed by the binary envelope in unpadded base64url.
	TextPrefix = "rk1:"

	nonceSize = 12
	tagSize   = 16
	// HeaderSize is the number of bytes before the ciphertext.
	HeaderSize = 1 + 4 + nonceSize
	// Overhead is what sealing adds to a plaintext, in bytes.
	Overhead = HeaderSize + tagSize
)

// Header is the clear part of an envelope: enough to pick the key and to let
// operators count ciphertexts per key without decrypting anything.
type Header struct {
	Version byte
	KeyID   uint32
}

// ParseHeader reads the header of an envelope, binary or text form, and
// checks its length. It does not authenticate anything: a header tells which
// key to try, never that the data is genuine.
func ParseHeader(ct []byte) (Header, error) {
	b, err := decodeEnvelope(ct)
	if err != nil {
		return Header{}, err
	}
	return Header{Version: b[0], KeyID: binary.BigEndian.Uint32(b[1:5])}, nil
}

// decodeEnvelope turns the text form into the binary one and checks the
// fixed part of the layout.
func decodeEnvelope(ct []byte) ([]byte, error) {
	if len(ct) >= len(TextPrefix) && string(ct[:len(TextPrefix)]) == TextPrefix {
		enc := ct[len(TextPrefix):]
		b := make([]byte, base64.RawURLEncoding.DecodedLen(len(enc)))
		n, err := base64.RawURLEncoding.Strict().Decode(b, enc)
		if err != nil {
			return nil, fmt.Errorf("%w: text form is not base64url", ErrMalformed)
		}
		ct = b[:n]
	}
	if len(ct) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte minimum", ErrMalformed, len(ct), Overhead)
	}
	if ct[0] != VersionBinary {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrMalformed, ct[0])
	}
	if binary.BigEndian.Uint32(ct[1:5]) == 0 {
		return nil, fmt.Errorf("%w: key ID 0 is reserved", ErrMalformed)
	}
	return ct, nil
}

// toText returns the text form of a binary envelope.
func toText(envelope []byte) string {
	return TextPrefix + base64.RawURLEncoding.EncodeToString(envelope)
}

// appendLP appends a 4-byte big-endian length then s: length prefixes make
// the associated data unambiguous ("ab"+"c" differs from "a"+"bc").
func appendLP(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// adPrefix builds the associated data up to (not including) the row:
//
//	version(1) | len(scope)(4) scope | keyID(4) | len(table)(4) table | len(column)(4) column
//
// and Seal/Open append len(rowID)(4) rowID.
func adPrefix(scope string, keyID uint32, table, column string) []byte {
	b := make([]byte, 0, 1+4+len(scope)+4+4+len(table)+4+len(column))
	b = append(b, VersionBinary)
	b = appendLP(b, scope)
	b = binary.BigEndian.AppendUint32(b, keyID)
	b = appendLP(b, table)
	return appendLP(b, column)
}
