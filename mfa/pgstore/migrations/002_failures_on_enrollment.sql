-- +goose Up
-- The attempt state moves onto the enrolment row, so that a verification is
-- one read (secret, replay guard, failures) and one conditional UPDATE of
-- that row: the row lock serialises the replay guard and the attempt limit
-- together, without an explicit transaction or an advisory lock. failures
-- holds the failed attempts since the last success; each failure prunes
-- those older than the window. Attempts recorded in mfa_attempts before the
-- upgrade are dropped with it (at worst an account gets a fresh window).
ALTER TABLE mfa_enrollments ADD COLUMN failures timestamptz[] NOT NULL DEFAULT '{}';
DROP TABLE mfa_attempts;

-- +goose Down
CREATE TABLE mfa_attempts (
    org      text        NOT NULL,
    user_id  text        NOT NULL,
    at       timestamptz NOT NULL
);
CREATE INDEX mfa_attempts_account ON mfa_attempts (org, user_id, at);
ALTER TABLE mfa_enrollments DROP COLUMN failures;
