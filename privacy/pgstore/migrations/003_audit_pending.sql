-- +goose Up
-- privacy: an erasure is released together with the promise to audit it. A
-- row here is written in the same transaction as the released subject's
-- lifecycle event and removed once its audit entry is recorded; a sweep that
-- died (or an audit log that failed) in between leaves the row for the next
-- sweep to record.
CREATE TABLE privacy_audit_pending (
    id          text        PRIMARY KEY,
    org         text        NOT NULL,
    subject_id  text        NOT NULL,
    at          timestamptz NOT NULL,
    action      text        NOT NULL,
    from_state  text        NOT NULL,
    to_state    text        NOT NULL,
    actor       text        NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    lease_owner text,
    lease_until timestamptz
);
CREATE INDEX privacy_audit_pending_at ON privacy_audit_pending (at, id);

-- +goose Down
DROP TABLE privacy_audit_pending;
