package keyring_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/rampart-sdk/rampart/keyring"
)

func Example() {
	// At boot: load the registry (here made in memory; in production
	// keyring.Load(ctx, keyring.FileSource("/etc/app/keys.json"))).
	doc, _ := keyring.Init([]string{"users.email", "users.email.idx"})
	ring, err := keyring.New(doc,
		keyring.Column{Table: "users", Column: "email", Scope: "users.email"},
		keyring.Column{Table: "users", Column: "email_idx", Scope: "users.email.idx", Kind: keyring.KindBlindIndex},
	)
	if err != nil {
		panic(err)
	}
	email := ring.Field("users", "email")
	idx, _ := ring.BlindIndex("users", "email_idx", keyring.WithNormalizer(bytes.ToLower))

	// Writing row 42: the ciphertext and its blind index.
	ct, _ := email.Seal("42", []byte("alice@example.com"))
	token := idx.Sum([]byte("Alice@Example.com"))

	// Reading it back.
	pt, _ := email.Open("42", ct)
	fmt.Println(string(pt))
	fmt.Println(keyring.NewPlaintext(pt))

	// The same ciphertext pasted into row 43 does not open.
	_, err = email.Open("43", ct)
	fmt.Println(errors.Is(err, keyring.ErrDecrypt))

	// A lookup by email finds the token.
	fmt.Println(bytes.Equal(idx.Sums([]byte("alice@example.com"))[0], token))
	// Output:
	// alice@example.com
	// [redacted]
	// true
	// true
}

func ExampleSubjectKeys() {
	ctx := context.Background()
	doc, _ := keyring.Init([]string{"subjects"})
	ring, _ := keyring.New(doc)
	// keyring.NewMemoryStore() in tests; pgstore.New(pool) in production.
	sk, _ := ring.SubjectKeys("subjects", keyring.NewMemoryStore())

	ct, _ := sk.Seal(ctx, "user-7", "users.email:7", []byte("alice@example.com"))
	backup := bytes.Clone(ct)

	// The user asks to be forgotten: destroy the key, not every copy.
	_ = sk.Destroy(ctx, "user-7")
	_, err := sk.Open(ctx, "user-7", "users.email:7", backup)
	fmt.Println(errors.Is(err, keyring.ErrKeyDestroyed))
	// Output: true
}
