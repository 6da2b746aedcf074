-- +goose Up
-- The key check value (keyring.KeyCheckValue) of every key ID used against
-- this database, recorded by the first instance that loads the key. Another
-- key under a recorded ID (a regenerated or mixed-up registry, which would
-- open none of the data sealed under the real one) is refused at startup
-- and reported by the guardrail. Check values are public: they reveal
-- nothing about the keys.
CREATE TABLE IF NOT EXISTS keyring_key_check_values (
    key_id      bigint      PRIMARY KEY CHECK (key_id BETWEEN 1 AND 4294967295),
    scope       text        NOT NULL,
    kcv         text        NOT NULL CHECK (kcv ~ '^[0-9a-f]{16}$'),
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE IF EXISTS keyring_key_check_values;
