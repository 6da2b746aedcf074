-- +goose Up
-- rampart auditlog: a transactional outbox.
--
-- A host records an audit entry inside its own transaction by inserting a
-- row here (pgstore.RecordTx); the row commits if and only if the host's
-- transaction does. A relay (auditlog.Log.RunOutbox) seals waiting rows
-- into their chain and deletes them in the same transaction, so every
-- committed row is appended exactly once.
--
-- The application role may only INSERT. The row's id, chain and queue time
-- are set by the database, never by the caller: the chain is derived from
-- the organisation (a generated column), so no row can be steered into
-- another organisation's chain. UPDATE and TRUNCATE are refused by triggers
-- enabled ALWAYS; DELETE only through auditlog_outbox_done, which the relay
-- calls in the transaction that appended the rows' entries.
CREATE SEQUENCE auditlog_outbox_id_seq AS bigint;

CREATE TABLE auditlog_outbox (
    id             bigint      PRIMARY KEY,
    org            text        NOT NULL,
    -- auditlog.ChainFor: "global" for the system organisation "", else "org:" || org.
    chain          text        COLLATE "C" NOT NULL
                   GENERATED ALWAYS AS (CASE WHEN org = '' THEN 'global' ELSE 'org:' || org END) STORED,
    at             timestamptz NOT NULL,
    actor          text        NOT NULL,
    action         text        NOT NULL,
    schema_version integer     NOT NULL CHECK (schema_version >= 0),
    target         text        NOT NULL,
    ip             text        NOT NULL,
    user_agent     text        NOT NULL,
    request_id     text        NOT NULL,
    payload        bytea       NOT NULL,
    queued_at      timestamptz NOT NULL
);
ALTER SEQUENCE auditlog_outbox_id_seq OWNED BY auditlog_outbox.id;

-- The relay claims a chain's rows in id order.
CREATE INDEX auditlog_outbox_chain_id ON auditlog_outbox (chain, id);

-- Whatever the caller wrote, the id comes from the sequence (so the relay's
-- order is the order of insertion) and queued_at from the clock.
-- +goose StatementBegin
CREATE FUNCTION auditlog_outbox_stamp() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    NEW.id := nextval('auditlog_outbox_id_seq');
    NEW.queued_at := clock_timestamp();
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- DELETE only inside auditlog_outbox_done; UPDATE never. Once per
-- statement: the relay deletes a whole batch with one.
-- +goose StatementBegin
CREATE FUNCTION auditlog_outbox_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('rampart.auditlog_outbox_relaying', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'auditlog: % on % is not allowed: outbox rows leave only by being sealed into their chain', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'RA002';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER auditlog_outbox_stamp BEFORE INSERT ON auditlog_outbox
    FOR EACH ROW EXECUTE FUNCTION auditlog_outbox_stamp();
CREATE TRIGGER auditlog_outbox_immutable BEFORE UPDATE OR DELETE ON auditlog_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION auditlog_outbox_guard();
CREATE TRIGGER auditlog_outbox_no_truncate BEFORE TRUNCATE ON auditlog_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION auditlog_reject_truncate();
ALTER TABLE auditlog_outbox ENABLE ALWAYS TRIGGER auditlog_outbox_stamp;
ALTER TABLE auditlog_outbox ENABLE ALWAYS TRIGGER auditlog_outbox_immutable;
ALTER TABLE auditlog_outbox ENABLE ALWAYS TRIGGER auditlog_outbox_no_truncate;

-- The relay's removal: deletes the given rows of p_chain, all of which must
-- exist, and only if this transaction appended at least as many entries to
-- p_chain from sequence number p_from on. Once per transaction.
-- +goose StatementBegin
CREATE FUNCTION auditlog_outbox_done(p_chain text, p_from bigint, p_ids bigint[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
-- Primary-key plans whatever the statistics said when the plan was cached (see 001).
SET enable_seqscan = off AS $$
DECLARE
    n        bigint;
    other    bigint;
    appended bigint;
BEGIN
    IF current_setting('rampart.auditlog_outbox_done', true) = 'on' THEN
        RAISE EXCEPTION 'auditlog: the outbox was already relayed by this transaction'
            USING ERRCODE = 'RA005';
    END IF;
    PERFORM set_config('rampart.auditlog_outbox_done', 'on', true);
    SELECT count(*) INTO appended FROM auditlog_entries e
     WHERE e.chain = p_chain AND e.seq >= p_from AND e.xmin = pg_current_xact_id()::xid;
    PERFORM set_config('rampart.auditlog_outbox_relaying', 'on', true);
    -- By primary key: the (chain, id) index holds the dead entries of every
    -- row relayed since the last vacuum.
    WITH d AS (DELETE FROM auditlog_outbox o WHERE o.id = ANY (p_ids) RETURNING o.chain)
    SELECT count(*), count(*) FILTER (WHERE d.chain <> p_chain) INTO n, other FROM d;
    PERFORM set_config('rampart.auditlog_outbox_relaying', 'off', true);
    IF other > 0 OR n <> cardinality(p_ids) OR n > appended THEN
        RAISE EXCEPTION 'auditlog: % outbox rows of chain % removed, % asked, % entries appended', n, p_chain, cardinality(p_ids), appended
            USING ERRCODE = 'RA005';
    END IF;
    RETURN n;
END
$$;
-- +goose StatementEnd

-- Monitoring: how many rows wait, and since when, without reading them.
-- +goose StatementBegin
CREATE FUNCTION auditlog_outbox_status(OUT depth bigint, OUT oldest timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT count(*), min(queued_at) FROM auditlog_outbox
$$;
-- +goose StatementEnd

REVOKE ALL ON FUNCTION auditlog_outbox_stamp() FROM PUBLIC;
REVOKE ALL ON FUNCTION auditlog_outbox_done(text, bigint, bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION auditlog_outbox_status() FROM PUBLIC;
