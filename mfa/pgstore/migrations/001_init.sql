-- +goose Up
-- TOTP enrolments: one row per (organisation, user). The secret is sealed by
-- the application (keyring field); this table never sees it in plain text.
-- last_step is the replay guard: it only ever moves forward, through a
-- conditional UPDATE (last_step < new step), so each step is accepted once.
CREATE TABLE mfa_enrollments (
    org            text        NOT NULL,
    user_id        text        NOT NULL,
    id             text        NOT NULL,
    sealed_secret  bytea       NOT NULL,
    algorithm      text        NOT NULL CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
    digits         integer     NOT NULL CHECK (digits IN (6, 8)),
    confirmed      boolean     NOT NULL DEFAULT false,
    last_step      bigint      NOT NULL DEFAULT -1,
    created_at     timestamptz NOT NULL,
    confirmed_at   timestamptz,
    PRIMARY KEY (org, user_id)
);

-- Recovery codes, stored as SHA-256 hashes bound to org and user; using one
-- is a DELETE whose row count decides, so it is single-use under concurrency.
CREATE TABLE mfa_recovery_codes (
    org        text  NOT NULL,
    user_id    text  NOT NULL,
    code_hash  bytea NOT NULL,
    PRIMARY KEY (org, user_id, code_hash),
    FOREIGN KEY (org, user_id) REFERENCES mfa_enrollments (org, user_id) ON DELETE CASCADE
);

-- Verification attempts within the limiting window (failures, and successes
-- until they clear them). Rows older than the window are pruned on access.
CREATE TABLE mfa_attempts (
    org      text        NOT NULL,
    user_id  text        NOT NULL,
    at       timestamptz NOT NULL
);
CREATE INDEX mfa_attempts_account ON mfa_attempts (org, user_id, at);

-- Organisation policy: whether every member must enrol.
CREATE TABLE mfa_org_policies (
    org          text        PRIMARY KEY,
    require_all  boolean     NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE mfa_org_policies;
DROP TABLE mfa_attempts;
DROP TABLE mfa_recovery_codes;
DROP TABLE mfa_enrollments;
