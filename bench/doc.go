// Package bench holds side-by-side benchmarks of rampart against the peers a
// user would otherwise reach for: Casbin for rbac, tink-go and raw
// crypto/cipher for keyring, raw crypto/sha256 for the audit chain,
// pquerna/otp for TOTP, and naive baselines for the Postgres paths.
//
// It is a module of its own so that the library never depends on what it is
// compared against. Run it from this folder:
//
//	go test -run '^$' -bench . -benchmem -count 6 | tee new.txt
//
// Benchmarks that need PostgreSQL read RAMPART_TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable) and skip when no
// server answers. Differential tests (same policy, same answers as the peer)
// are ordinary tests here and run with go test.
package bench
