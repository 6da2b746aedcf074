// Package pgstore is keyring's PostgreSQL adapter: the per-subject key store
// for crypto-shredding, re-encryption checkpoints, the key check value of
// every key ID used against the database (RecordKeyCheckValues), and the row
// sources, header scanners and sampler that drive re-encryption, blind-index
// reindexing and the guardrail over any (table, id column, column) of the
// host's schema.
//
// # Inside the host's transaction
//
// store.WithTx(tx) returns the Store bound to a pgx.Tx of the host's, so a
// subject's data key commits with the data it seals: create the key in the
// transaction that inserts the first ciphertext (a rollback leaves neither
// an orphan key nor a ciphertext without one), or destroy it in the
// transaction that deletes the subject's account (crypto-shredding happens
// if and only if the deletion commits). Re-encryption checkpoints and key
// check values can join the same way.
//
// What does not join a caller's transaction, by design: the re-encryption,
// reindexing and guardrail jobs (Column, IndexColumn and Counter, with its
// sampler). They run over whole tables in batches that each commit on
// their own, so that the application keeps writing meanwhile and a crash
// resumes from the last checkpoint; in one host transaction they would hold
// a lock on every row they touched until the end. They take the pool.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rampart-sdk/rampart/internal/pgmigrate"
	"github.com/rampart-sdk/rampart/internal/pgq"
	"github.com/rampart-sdk/rampart/keyring"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the schema as goose-compatible SQL files, for hosts that
// apply migrations with their own tool.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sub
}

// Migrate creates keyring's tables in the schema of the pool's search_path.
// It is idempotent and safe to call from every instance at startup.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Apply(ctx, pool, "keyring", Migrations())
}

// Store keeps subject data keys (keyring.SubjectKeyStore), re-encryption
// checkpoints and key check values in PostgreSQL. New returns it; the
// concrete type is unexported. A Store from New runs on its pool; WithTx
// returns one bound to a transaction of the caller's.
//
// Destroy sets the wrapped key to NULL and keeps the tombstone, so the
// subject never gets a new key under the same ID. PostgreSQL keeps the old
// row version until VACUUM reclaims it, and backups taken before hold the
// wrapped key: see SECURITY.md.
type Store interface {
	keyring.SubjectKeyStore

	// WithTx returns a store bound to tx: every operation runs in the
	// caller's transaction and commits or rolls back with it. Each is one
	// statement that reports its refusals (keyring.ErrKeyDestroyed,
	// keyring.ErrSubjectNotFound) without failing it, so a refusal leaves
	// tx usable.
	//
	// Like tx itself, the returned store is for one goroutine at a time.
	// Once tx has committed or rolled back, every operation returns an
	// error that matches pgx.ErrTxClosed; a nil tx gives the same.
	WithTx(tx pgx.Tx) Store

	// LoadCheckpoint returns where a re-encryption of table.column
	// stopped: the cursor after the last row it completed, or the zero
	// Cursor (the start) if none is recorded. A recorded checkpoint is
	// always started, even after a row whose ID is "".
	LoadCheckpoint(ctx context.Context, table, column string) (keyring.Cursor, error)

	// SaveCheckpoint records that table.column is done up to and including
	// row lastID; call it from keyring.ReencryptOptions.Checkpoint (via a
	// closure, with the cursor's ID).
	SaveCheckpoint(ctx context.Context, table, column, lastID string) error

	// ClearCheckpoint forgets table.column's checkpoint once a run
	// completed.
	ClearCheckpoint(ctx context.Context, table, column string) error

	// RecordKeyCheckValues records, in keyring_key_check_values, the check
	// value and scope of every key of d whose ID the database has not seen,
	// and refuses (keyring.ErrKeyCheckValue, in a *keyring.ScopeError
	// naming the key ID and scope) a key whose ID the database recorded
	// with another check value or scope: under that ID the registry holds
	// another key than the one that sealed the data. Call it at startup,
	// after Migrate and before sealing anything; it is idempotent and safe
	// from every instance at once.
	RecordKeyCheckValues(ctx context.Context, d *keyring.Document) error
}

// store is the Store that New returns.
type store struct {
	q pgq.Querier // the pool, or the caller's transaction (WithTx)
}

var _ Store = (*store)(nil)

// New returns a Store on pool; call Migrate first.
func New(pool *pgxpool.Pool) Store { return &store{q: pool} }

// WithTx implements Store.
func (s *store) WithTx(tx pgx.Tx) Store { return &store{q: pgq.Tx(tx)} }

// Create implements keyring.SubjectKeyStore. Concurrent callers race on the
// primary key; the first insert wins and everyone reads it back.
func (s *store) Create(ctx context.Context, subjectID string, wrapped []byte) ([]byte, error) {
	if _, err := s.q.Exec(ctx, `INSERT INTO keyring_subject_keys (subject_id, wrapped) VALUES ($1, $2)
		ON CONFLICT (subject_id) DO NOTHING`, subjectID, wrapped); err != nil {
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	}
	return s.Get(ctx, subjectID)
}

// Get implements keyring.SubjectKeyStore.
func (s *store) Get(ctx context.Context, subjectID string) ([]byte, error) {
	var wrapped []byte
	err := s.q.QueryRow(ctx, `SELECT wrapped FROM keyring_subject_keys WHERE subject_id = $1`, subjectID).Scan(&wrapped)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, keyring.ErrSubjectNotFound
	case err != nil:
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	case wrapped == nil:
		return nil, keyring.ErrKeyDestroyed
	}
	return wrapped, nil
}

// Destroy implements keyring.SubjectKeyStore: the wrapped key is set to NULL
// and the tombstone stays (see Store).
func (s *store) Destroy(ctx context.Context, subjectID string) error {
	_, err := s.q.Exec(ctx, `INSERT INTO keyring_subject_keys (subject_id, wrapped, destroyed_at) VALUES ($1, NULL, now())
		ON CONFLICT (subject_id) DO UPDATE SET wrapped = NULL,
			destroyed_at = COALESCE(keyring_subject_keys.destroyed_at, now())`, subjectID)
	if err != nil {
		return fmt.Errorf("keyring/pgstore: %w", err)
	}
	return nil
}

// LoadCheckpoint implements Store.
func (s *store) LoadCheckpoint(ctx context.Context, table, column string) (keyring.Cursor, error) {
	var id string
	err := s.q.QueryRow(ctx, `SELECT last_id FROM keyring_reencrypt_checkpoints WHERE table_name = $1 AND column_name = $2`,
		table, column).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return keyring.Cursor{}, nil
	}
	if err != nil {
		return keyring.Cursor{}, fmt.Errorf("keyring/pgstore: %w", err)
	}
	return keyring.After(id), nil
}

// SaveCheckpoint implements Store.
func (s *store) SaveCheckpoint(ctx context.Context, table, column, lastID string) error {
	_, err := s.q.Exec(ctx, `INSERT INTO keyring_reencrypt_checkpoints (table_name, column_name, last_id) VALUES ($1, $2, $3)
		ON CONFLICT (table_name, column_name) DO UPDATE SET last_id = EXCLUDED.last_id, updated_at = now()`, table, column, lastID)
	if err != nil {
		return fmt.Errorf("keyring/pgstore: %w", err)
	}
	return nil
}

// ClearCheckpoint implements Store.
func (s *store) ClearCheckpoint(ctx context.Context, table, column string) error {
	_, err := s.q.Exec(ctx, `DELETE FROM keyring_reencrypt_checkpoints WHERE table_name = $1 AND column_name = $2`, table, column)
	if err != nil {
		return fmt.Errorf("keyring/pgstore: %w", err)
	}
	return nil
}
