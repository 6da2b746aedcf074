-- +goose Up
-- rampart privacy: subject lifecycle, erasure progress, legal holds, data
-- subject requests and consent history. Every row carries the organisation.

CREATE TABLE privacy_subjects (
    org                   text        NOT NULL,
    subject_id            text        NOT NULL,
    state                 text        NOT NULL CHECK (state IN ('active', 'deletion_requested', 'erased')),
    deletion_requested_at timestamptz,
    erase_after           timestamptz,
    erased_at             timestamptz,
    next_due              timestamptz,
    lease_owner           text,
    lease_until           timestamptz,
    last_run              text,
    PRIMARY KEY (org, subject_id)
);
CREATE INDEX privacy_subjects_due ON privacy_subjects (next_due, org, subject_id) WHERE next_due IS NOT NULL;

CREATE TABLE privacy_events (
    seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org        text        NOT NULL,
    subject_id text        NOT NULL,
    at         timestamptz NOT NULL,
    action     text        NOT NULL,
    from_state text        NOT NULL,
    to_state   text        NOT NULL,
    actor      text        NOT NULL,
    reason     text        NOT NULL DEFAULT ''
);
CREATE INDEX privacy_events_subject ON privacy_events (org, subject_id, seq);

CREATE TABLE privacy_progress (
    org          text        NOT NULL,
    subject_id   text        NOT NULL,
    domain       text        NOT NULL,
    phase        text        NOT NULL CHECK (phase IN ('minimised', 'erased')),
    at           timestamptz NOT NULL,
    retain_until timestamptz,
    PRIMARY KEY (org, subject_id, domain)
);

CREATE TABLE privacy_holds (
    org        text        NOT NULL,
    id         text        NOT NULL,
    subject_id text        NOT NULL DEFAULT '',
    domain     text        NOT NULL DEFAULT '',
    reason     text        NOT NULL,
    owner      text        NOT NULL,
    placed_at  timestamptz NOT NULL,
    placed_by  text        NOT NULL,
    until      timestamptz,
    lifted_at  timestamptz,
    lifted_by  text        NOT NULL DEFAULT '',
    PRIMARY KEY (org, id)
);

CREATE TABLE privacy_requests (
    org               text        NOT NULL,
    id                text        NOT NULL,
    subject_id        text        NOT NULL,
    kind              text        NOT NULL,
    received_at       timestamptz NOT NULL,
    identity_verified boolean     NOT NULL,
    due_at            timestamptz NOT NULL,
    extended_reason   text        NOT NULL DEFAULT '',
    status            text        NOT NULL,
    closed_at         timestamptz,
    resolution        text        NOT NULL DEFAULT '',
    PRIMARY KEY (org, id)
);
CREATE INDEX privacy_requests_subject ON privacy_requests (org, subject_id, received_at);
CREATE INDEX privacy_requests_open_due ON privacy_requests (due_at) WHERE status = 'open';

CREATE TABLE privacy_consent (
    seq     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org     text        NOT NULL,
    who     text        NOT NULL,
    purpose text        NOT NULL,
    granted boolean     NOT NULL,
    version integer     NOT NULL,
    at      timestamptz NOT NULL,
    source  text        NOT NULL DEFAULT ''
);
CREATE INDEX privacy_consent_who ON privacy_consent (org, who, purpose, seq);

-- Consent and lifecycle history are append-only: they are the evidence.
-- +goose StatementBegin
CREATE FUNCTION privacy_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'privacy: % is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER privacy_consent_append_only BEFORE UPDATE OR DELETE ON privacy_consent
    FOR EACH ROW EXECUTE FUNCTION privacy_append_only();
CREATE TRIGGER privacy_events_append_only BEFORE UPDATE OR DELETE ON privacy_events
    FOR EACH ROW EXECUTE FUNCTION privacy_append_only();

-- +goose Down
DROP TABLE privacy_consent, privacy_requests, privacy_holds, privacy_progress, privacy_events, privacy_subjects;
DROP FUNCTION privacy_append_only();
