// Package keyring keeps a registry of disjoint AES-256-GCM keys, one scope per
// data type, and encrypts individual database fields under them.
//
// # Threat addressed
//
// A leaked database dump, backup or replica, or an attacker who can read (and
// perhaps write) rows through SQL injection or a stolen read-only credential.
// Sensitive columns hold only ciphertext. Each ciphertext is bound to its
// scope, key, table, column and row, so it cannot be moved to a row or column
// whose reader would reveal it, nor relabelled with another key. Each scope's
// key protects one kind of data only, so one compromised key exposes one
// column's data, never the whole database. keyring does not protect against
// an attacker who controls the running application (it holds the keys) or
// who reads the registry document.
//
// # Registry
//
// A scope ("users.email", "payouts.iban", ...) has numbered key versions:
// exactly one primary (encrypts), any number active (decrypt only) and
// retired (refused). Key IDs are unique across the registry and every key is
// 32 random bytes of its own: New refuses the same material under two IDs or
// scopes. Columns are declared as (table, column) → scope, in code or in the
// document; using an undeclared column is an error. The registry document is
// versioned JSON:
//
//	{"version": 1,
//	 "keys": [{"id": 1, "scope": "users.email", "status": "primary", "key": "<base64 32 bytes>"}],
//	 "columns": [{"table": "users", "column": "email", "scope": "users.email"},
//	             {"table": "users", "column": "email_idx", "scope": "users.email.idx", "kind": "blind_index"}]}
//
// A member given twice in one object, at any level (and in any letter case,
// which encoding/json would also match), is refused with its path, e.g.
// `duplicate member "key" at $.keys[3]`: encoding/json would silently keep
// the last one, so the key a reviewer reads could differ from the key in use.
//
// Load it with FileSource (which refuses a file readable by group or
// others), EnvSource, or your own Source; EnvelopeSource unwraps keys stored
// under a key-encryption key held by a KMS (implement Unwrapper) or by
// LocalKEK. Nothing is read at package init. Key material is redacted from
// String, every fmt verb, JSON, slog and errors, on a value or a pointer of
// every exported type, alone or in an exported or unexported field of a
// host's struct (where fmt cannot call methods, the bytes sit behind
// pointers it prints as addresses); only Document.Encode writes it.
// Decrypted data wrapped in a Plaintext redacts itself the same way.
//
// # Key check values
//
// Each key has a public check value (KeyCheckValue: the first 8 bytes of
// HMAC-SHA-256(key, "rampart keyring key check value v1"), in hex), like
// the KCV of a payment HSM: it tells whether two parties hold the same key
// under an ID and reveals nothing about it. Document.Encode records it per
// key ("kcv"), and New refuses material that does not match a recorded one.
// pgstore.Store.RecordKeyCheckValues records it in the database at startup
// and refuses a registry holding another key under a known ID; Check, with
// pgstore.Counter, compares the registry with the database and opens a
// sample of the stored values per key ID ("rampart keys check --dsn",
// "rampart doctor --keys"), so a key replaced under the same ID fails
// before deploy instead of leaving every value under it unreadable.
//
// # Envelope layout (format version 1)
//
// Binary form, for BYTEA columns:
//
//	offset  size  field
//	0       1     format version, 0x01
//	1       4     key ID, big-endian uint32 (0 is reserved, never valid)
//	5       12    nonce, random per seal
//	17      n     AES-256-GCM ciphertext of the n-byte plaintext
//	17+n    16    GCM tag
//
// Nonces are 96 random bits, so one key may seal at most 2^32 values before
// the chance of a repeated nonce (which would break GCM for that key) passes
// 2^-32, NIST SP 800-38D's bound: rotate a busy scope well before that.
//
// The overhead is 33 bytes. Text form, for TEXT columns: "rk1:" followed by
// the binary envelope in unpadded base64url (RFC 4648 §5); its first 12
// characters always encode the version and key ID, which is what the
// guardrail reads in SQL. Open accepts either form.
//
// The associated data authenticated with every field is
//
//	0x01 | len(scope) | scope | keyID | len(table) | table | len(column) | column | len(rowID) | rowID
//
// with every length and the key ID as 4-byte big-endian integers. A
// ciphertext copied to another row or column, or whose key ID byte is
// changed, fails to open with ErrDecrypt.
//
// # Row identity
//
// rowID is the canonical text of the row's primary key: strconv.FormatInt
// for integers, the lower-case hyphenated form for UUIDs (what id::text
// returns in PostgreSQL, which the re-encryption engine uses). For rows whose
// ID the database would assign on insert, generate the ID in the client
// (a UUID or ULID) before the INSERT, seal for it, and insert both. With a
// serial ID, insert the row with the column NULL in a transaction, read the
// returned ID, seal, and UPDATE before commit.
//
// # Blind index
//
// BlindIndex gives equality search on an encrypted column: HMAC-SHA-256 under
// a scope of its own, with an optional normaliser and truncation. Store Sum;
// search WHERE idx = ANY(Sums(v)), which covers the primary and active keys so
// rows indexed before a rotation are still found. A stored value is
//
//	offset  size  field
//	0       1     VersionIndex, 0x03
//	1       4     key ID, big-endian uint32
//	5       n     HMAC-SHA-256 token truncated to n bytes (8..32, default 32)
//
// so the guardrail counts index values per key from their first 5 bytes.
// Values written before the key ID was recorded are the bare token: Sums
// still matches them, the guardrail counts them as untagged (their key is
// unknown, so no key of the scope may be retired), and Reindex tags them.
//
// # Crypto-shredding
//
// SubjectKeys seals fields under a data key per subject, wrapped by a scope
// key and kept in a SubjectKeyStore (NewMemoryStore, or pgstore.New).
// Destroy erases it: every copy of that subject's ciphertext, including those
// in backups of the data tables, then fails with ErrKeyDestroyed.
//
// # Rotation and guardrail
//
// Rotate a scope (Document.Rotate or "rampart keys rotate"), deploy, then
// re-encrypt each of its columns with Field.Reencrypt over a RowSource
// (pgstore.NewColumn, or "rampart keys reencrypt"): batches, compare-and-swap
// writes, resumable from a checkpoint. A blind index is recomputed instead,
// with BlindIndex.Reindex over an IndexRowSource (pgstore.NewIndexColumn, or
// "rampart keys reindex") and the same batches, compare-and-swap and
// checkpoints; its source is the decrypted field it indexes (FieldValues) or
// values the host supplies (IndexValues), and every recomputed value is
// checked against the stored one first, so a wrong source or normaliser
// writes nothing. Then retire the old key: KeyInUse (and "rampart keys
// retire") refuses while a field value or index value is still under it. A
// pepper whose inputs are never stored (API-key secrets) cannot be
// recomputed: its old key stays active until every value hashed under it has
// expired or been reissued. Check is the guardrail a host calls from its own
// tests (and "rampart keys check" in CI); with a counter it reports stored
// values per key for fields and blind indexes alike.
package keyring
