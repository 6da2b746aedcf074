package mfa_test

import "encoding/base32"

func mustSecret(b32 string) []byte {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b32)
	if err != nil {
		panic(err)
	}
	return raw
}
