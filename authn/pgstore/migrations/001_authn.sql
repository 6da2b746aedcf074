-- +goose Up
-- authn: API keys, magic links, sessions and organisation policies.
-- Secrets are never stored: only hashes of API key secrets (HMAC-SHA-256 or
-- bcrypt), of magic-link tokens and of session tokens (SHA-256).

CREATE TABLE authn_api_keys (
    id           text        PRIMARY KEY,          -- public ID from the key
    prefix       text        NOT NULL,
    org          text        NOT NULL,
    owner        text        NOT NULL,
    name         text        NOT NULL DEFAULT '',
    scopes       text[]      NOT NULL DEFAULT '{}',
    hash_alg     text        NOT NULL CHECK (hash_alg IN ('hmac-sha256', 'bcrypt')),
    hash         bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX authn_api_keys_org ON authn_api_keys (org, created_at, id);

CREATE TABLE authn_magic_links (
    token_hash  bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    org         text        NOT NULL DEFAULT '',
    email       text        NOT NULL,
    purpose     text        NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    consumed_at timestamptz
);
CREATE INDEX authn_magic_links_email ON authn_magic_links (email, created_at);
CREATE INDEX authn_magic_links_expires ON authn_magic_links (expires_at);

CREATE TABLE authn_sessions (
    id              text        PRIMARY KEY,
    token_hash      bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    org             text        NOT NULL DEFAULT '',
    user_id         text        NOT NULL,
    method          text        NOT NULL DEFAULT '',
    ip              text        NOT NULL DEFAULT '',
    user_agent      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    mfa_verified_at timestamptz
);
CREATE INDEX authn_sessions_user ON authn_sessions (user_id, created_at, id);
CREATE INDEX authn_sessions_expires ON authn_sessions (expires_at);

CREATE TABLE authn_org_policies (
    org                     text    PRIMARY KEY,
    password_login_disabled boolean NOT NULL DEFAULT false
);

-- +goose Down
DROP TABLE authn_org_policies;
DROP TABLE authn_sessions;
DROP TABLE authn_magic_links;
DROP TABLE authn_api_keys;
