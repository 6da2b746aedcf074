-- +goose Up
-- compliance: escalation ladders, audit runs, job heartbeats, report
-- history and 1099 filing generations. Every tenant-scoped row carries org.

CREATE TABLE compliance_ladder_state (
    org         text        NOT NULL,
    audit       text        NOT NULL,
    member      text        NOT NULL,
    level       integer     NOT NULL DEFAULT 0 CHECK (level >= 0),
    fails       integer     NOT NULL DEFAULT 0,
    passes      integer     NOT NULL DEFAULT 0,
    last_period text        NOT NULL DEFAULT '',
    updated_at  timestamptz,
    PRIMARY KEY (org, audit, member)
);

-- One verdict per (audit, member, period): the primary key is what makes
-- re-running a period idempotent across every application instance.
CREATE TABLE compliance_ladder_judgements (
    org        text        NOT NULL,
    audit      text        NOT NULL,
    member     text        NOT NULL,
    period     text        NOT NULL,
    pass       boolean     NOT NULL,
    reason     text        NOT NULL DEFAULT '',
    from_level integer     NOT NULL,
    to_level   integer     NOT NULL,
    judged_at  timestamptz NOT NULL,
    seq        bigserial,
    PRIMARY KEY (org, audit, member, period)
);

CREATE TABLE compliance_audit_runs (
    id             bigserial PRIMARY KEY,
    org            text        NOT NULL,
    audit          text        NOT NULL,
    period         text        NOT NULL,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL,
    members        integer     NOT NULL,
    passed         integer     NOT NULL,
    failed         integer     NOT NULL,
    escalated      integer     NOT NULL,
    deescalated    integer     NOT NULL,
    already_judged integer     NOT NULL,
    errors         integer     NOT NULL
);
CREATE INDEX compliance_audit_runs_by_audit ON compliance_audit_runs (org, audit, id);

-- Scheduled jobs are system-wide (not per tenant). Durations in nanoseconds.
CREATE TABLE compliance_jobs (
    name           text PRIMARY KEY,
    period_ns      bigint      NOT NULL CHECK (period_ns > 0),
    grace_ns       bigint      NOT NULL CHECK (grace_ns >= 0),
    max_runtime_ns bigint      NOT NULL CHECK (max_runtime_ns >= 0),
    registered_at  timestamptz NOT NULL,
    last_start     timestamptz,
    last_success   timestamptz,
    last_failure   timestamptz,
    last_cause     text        NOT NULL DEFAULT ''
);

CREATE TABLE compliance_reports (
    id           text PRIMARY KEY,
    org          text        NOT NULL,
    generated_at timestamptz NOT NULL,
    pass         boolean     NOT NULL,
    body         jsonb       NOT NULL
);
CREATE INDEX compliance_reports_by_org ON compliance_reports (org, generated_at DESC);

CREATE TABLE compliance_filing_generations (
    id               text PRIMARY KEY,
    org              text        NOT NULL,
    tax_year         integer     NOT NULL,
    generated_at     timestamptz NOT NULL,
    threshold_cents  bigint      NOT NULL,
    threshold_source text        NOT NULL,
    records          integer     NOT NULL,
    corrections      integer     NOT NULL,
    missing_tax_ids  integer     NOT NULL,
    seq              bigserial
);
CREATE INDEX compliance_filing_generations_by_year ON compliance_filing_generations (org, tax_year, seq);

-- Filed records are append-only: a correction is a new row (seq + 1) that
-- references the original. The unique key serialises racing generators.
CREATE TABLE compliance_filings (
    id             text PRIMARY KEY,
    org            text        NOT NULL,
    tax_year       integer     NOT NULL,
    payee_id       text        NOT NULL,
    seq            integer     NOT NULL CHECK (seq > 0),
    generation_id  text        NOT NULL REFERENCES compliance_filing_generations (id),
    amount_cents   bigint      NOT NULL CHECK (amount_cents >= 0),
    corrected      boolean     NOT NULL,
    original_id    text REFERENCES compliance_filings (id),
    tax_id_missing boolean     NOT NULL,
    created_at     timestamptz NOT NULL,
    UNIQUE (org, tax_year, payee_id, seq),
    CHECK (corrected = (original_id IS NOT NULL))
);

-- +goose StatementBegin
CREATE FUNCTION compliance_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'compliance: % is append-only', TG_TABLE_NAME;
END $$;
-- +goose StatementEnd

CREATE TRIGGER compliance_filings_append_only BEFORE UPDATE OR DELETE ON compliance_filings
    FOR EACH ROW EXECUTE FUNCTION compliance_append_only();
CREATE TRIGGER compliance_judgements_append_only BEFORE UPDATE OR DELETE ON compliance_ladder_judgements
    FOR EACH ROW EXECUTE FUNCTION compliance_append_only();
CREATE TRIGGER compliance_reports_append_only BEFORE UPDATE OR DELETE ON compliance_reports
    FOR EACH ROW EXECUTE FUNCTION compliance_append_only();

-- +goose Down
DROP TABLE compliance_filings;
DROP TABLE compliance_filing_generations;
DROP TABLE compliance_reports;
DROP TABLE compliance_jobs;
DROP TABLE compliance_audit_runs;
DROP TABLE compliance_ladder_judgements;
DROP TABLE compliance_ladder_state;
DROP FUNCTION compliance_append_only();
