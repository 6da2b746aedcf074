-- +goose Up
-- rampart auditlog: retention belongs to a maintenance role.
--
-- Retention is not the application's to decide. Lifting a hold and pruning
-- payloads each destroy a protection, so (1) the functions that do them are
-- granted to a maintenance role, not to the application role (Migrate's
-- WithMaintenanceRole and WithAppRole); (2) pruning refuses a cutoff inside
-- the retention stored here, which only the schema owner can change
-- (Migrate's WithRetention): with no row, pruning is refused altogether;
-- and (3) each operation that changed anything is journaled, and the
-- transaction cannot commit unless it also appended the matching audit
-- entry to the chain the operation affected.
CREATE TABLE auditlog_retention (
    singleton boolean  PRIMARY KEY DEFAULT true CHECK (singleton),
    min_age   interval NOT NULL CHECK (min_age >= interval '0')
);

CREATE TABLE auditlog_maintenance (
    id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    -- The login role that called the function (SECURITY DEFINER changes
    -- current_user, not session_user).
    role     text        NOT NULL DEFAULT session_user,
    action   text        NOT NULL,
    chain    text        COLLATE "C" NOT NULL,
    target   text        NOT NULL,
    cutoff   timestamptz,
    affected bigint      NOT NULL,
    -- The chain's newest entry when the change was made: the recording
    -- entry comes after it.
    after_seq bigint     NOT NULL
);

-- At commit: the transaction that journaled an operation must have appended
-- its audit entry (same chain, action and target; for pruning, the same
-- cutoff and count in the payload), after the chain's head at the time of the
-- change (a primary-key range, not the whole chain). xmin is the inserting
-- transaction.
-- +goose StatementBegin
CREATE FUNCTION auditlog_maintenance_recorded() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
-- Primary-key plans whatever the statistics said when the plan was cached (see 001).
SET enable_seqscan = off AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM auditlog_entries e
         WHERE e.chain = NEW.chain AND e.seq > NEW.after_seq
           AND e.action = NEW.action AND e.target = NEW.target
           AND e.xmin = pg_current_xact_id()::xid
           AND e.payload IS NOT NULL
           AND (NEW.cutoff IS NULL OR (
                    (convert_from(e.payload, 'UTF8')::jsonb ->> 'before') = to_char(NEW.cutoff AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                AND (convert_from(e.payload, 'UTF8')::jsonb ->> 'pruned') = NEW.affected::text)))
    THEN
        RAISE EXCEPTION 'auditlog: % (%) was not recorded in chain % by the same transaction', NEW.action, NEW.target, NEW.chain
            USING ERRCODE = 'RA004';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE CONSTRAINT TRIGGER auditlog_maintenance_recorded AFTER INSERT ON auditlog_maintenance
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION auditlog_maintenance_recorded();
CREATE TRIGGER auditlog_maintenance_immutable BEFORE UPDATE OR DELETE ON auditlog_maintenance
    FOR EACH ROW EXECUTE FUNCTION auditlog_reject_row_change();
CREATE TRIGGER auditlog_maintenance_no_truncate BEFORE TRUNCATE ON auditlog_maintenance
    FOR EACH STATEMENT EXECUTE FUNCTION auditlog_reject_truncate();
ALTER TABLE auditlog_maintenance ENABLE ALWAYS TRIGGER auditlog_maintenance_recorded;
ALTER TABLE auditlog_maintenance ENABLE ALWAYS TRIGGER auditlog_maintenance_immutable;
ALTER TABLE auditlog_maintenance ENABLE ALWAYS TRIGGER auditlog_maintenance_no_truncate;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auditlog_prune_payloads(p_chain text, p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
-- Primary-key plans whatever the statistics said when the plan was cached (see 001).
SET enable_seqscan = off AS $$
DECLARE
    n       bigint;
    min_age interval;
BEGIN
    SELECT r.min_age INTO min_age FROM auditlog_retention r;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'auditlog: no retention is configured, so nothing may be pruned'
            USING ERRCODE = 'RA003';
    END IF;
    IF p_before IS NULL OR p_before > now() - min_age THEN
        RAISE EXCEPTION 'auditlog: cutoff % is inside the retention of %', p_before, min_age
            USING ERRCODE = 'RA003';
    END IF;
    PERFORM set_config('rampart.auditlog_pruning', 'on', true);
    UPDATE auditlog_entries e SET payload = NULL, pruned_at = now()
     WHERE e.chain = p_chain AND e.at < p_before AND e.payload IS NOT NULL
       AND NOT EXISTS (
           SELECT 1 FROM auditlog_holds h
            WHERE h.lifted_at IS NULL
              AND ((h.kind = 'org' AND h.value = e.org)
                OR (h.kind = 'actor' AND h.value = e.actor)
                OR (h.kind = 'target' AND h.value = e.target)));
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('rampart.auditlog_pruning', 'off', true);
    IF n > 0 THEN
        INSERT INTO auditlog_maintenance (action, chain, target, cutoff, affected, after_seq)
        VALUES ('auditlog.retention.pruned', p_chain, 'chain:' || p_chain, p_before, n,
                coalesce((SELECT max(e.seq) FROM auditlog_entries e WHERE e.chain = p_chain), -1));
    END IF;
    RETURN n;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auditlog_lift_hold(p_id text, p_at timestamptz) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
-- Primary-key plans whatever the statistics said when the plan was cached (see 001).
SET enable_seqscan = off AS $$
DECLARE
    h       auditlog_holds;
    h_chain text;
BEGIN
    PERFORM set_config('rampart.auditlog_lifting', 'on', true);
    UPDATE auditlog_holds SET lifted_at = p_at WHERE id = p_id AND lifted_at IS NULL RETURNING * INTO h;
    PERFORM set_config('rampart.auditlog_lifting', 'off', true);
    IF h.id IS NULL THEN
        RETURN false;
    END IF;
    -- The chain the hold was placed in: its organisation's, else the global one.
    h_chain := CASE WHEN h.kind = 'org' THEN 'org:' || h.value ELSE 'global' END;
    INSERT INTO auditlog_maintenance (action, chain, target, affected, after_seq)
    VALUES ('auditlog.hold.lifted', h_chain, 'hold:' || p_id, 1,
            coalesce((SELECT max(e.seq) FROM auditlog_entries e WHERE e.chain = h_chain), -1));
    RETURN true;
END
$$;
-- +goose StatementEnd

REVOKE ALL ON FUNCTION auditlog_maintenance_recorded() FROM PUBLIC;
REVOKE ALL ON FUNCTION auditlog_prune_payloads(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION auditlog_lift_hold(text, timestamptz) FROM PUBLIC;
