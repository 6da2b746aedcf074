-- +goose Up
-- Per-subject data keys (crypto-shredding). A destroyed subject keeps its row
-- with wrapped = NULL so it can never receive a new key under the same ID.
CREATE TABLE IF NOT EXISTS keyring_subject_keys (
    subject_id   text        PRIMARY KEY,
    wrapped      bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    destroyed_at timestamptz,
    CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL))
);

-- Where a re-encryption run stopped, so a crashed run resumes.
CREATE TABLE IF NOT EXISTS keyring_reencrypt_checkpoints (
    table_name  text        NOT NULL,
    column_name text        NOT NULL,
    last_id     text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_name, column_name)
);

-- +goose Down
DROP TABLE IF EXISTS keyring_reencrypt_checkpoints;
DROP TABLE IF EXISTS keyring_subject_keys;
