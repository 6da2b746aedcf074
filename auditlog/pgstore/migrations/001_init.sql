-- +goose Up
-- rampart auditlog: an append-only, hash-chained audit log.
-- The application role gets INSERT and SELECT on the tables and EXECUTE on
-- the three functions below; UPDATE, DELETE and TRUNCATE are refused by
-- triggers enabled ALWAYS (so session_replication_role = replica does not
-- skip them), and the only modification allowed is pruning payloads through
-- auditlog_prune_payloads.

CREATE TABLE auditlog_entries (
    -- Chain names are identifiers: compared byte by byte whatever the
    -- database's locale, since a linguistic collation would put a strcoll
    -- call in every index comparison of every append.
    chain          text        COLLATE "C" NOT NULL,
    seq            bigint      NOT NULL CHECK (seq >= 0),
    at             timestamptz NOT NULL,
    org            text        NOT NULL,
    actor          text        NOT NULL,
    action         text        NOT NULL,
    schema_version integer     NOT NULL,
    target         text        NOT NULL,
    ip             text        NOT NULL,
    user_agent     text        NOT NULL,
    request_id     text        NOT NULL,
    payload        bytea,
    payload_digest bytea       NOT NULL CHECK (length(payload_digest) = 32),
    prev_hash      bytea       NOT NULL CHECK (length(prev_hash) = 32),
    entry_hash     bytea       NOT NULL CHECK (length(entry_hash) = 32),
    pruned_at      timestamptz,
    -- The hashes appending this entry added to the chain's Merkle tree
    -- (golang.org/x/mod/sumdb/tlog stored hashes, 32 bytes each): its leaf
    -- hash, then one interior hash per subtree it completes (levels 1, 2,
    -- ...). Stored hash (level L, index n) is therefore at offset 32*L of
    -- the tree of entry ((n+1) << L) - 1. Keeping them in the entry's row,
    -- not one row per hash in a table of their own, saves the batch a
    -- statement, an index and two heap rows per entry.
    tree           bytea       NOT NULL CHECK (length(tree) BETWEEN 32 AND 2080 AND length(tree) % 32 = 0),
    CONSTRAINT auditlog_entries_chain_seq PRIMARY KEY (chain, seq),
    -- Two entries claiming the same predecessor are a fork: fail loudly.
    -- prev_hash leads so that the primary key is the only index starting
    -- with chain: with (chain, prev_hash), a plan cached while the table
    -- was small could pick this index for "chain = $1 AND seq = $2" (the
    -- two tie below a page) and then read the whole chain for every
    -- lookup once it had grown: 20 ms per batch at 30,000 entries.
    CONSTRAINT auditlog_entries_chain_prev UNIQUE (prev_hash, chain)
);

-- One row per chain; writers lock it (auditlog_lock_chain) so each chain
-- is appended by one transaction at a time across every process.
CREATE TABLE auditlog_heads (
    chain      text        COLLATE "C" PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auditlog_holds (
    id        text        PRIMARY KEY,
    kind      text        NOT NULL CHECK (kind IN ('org', 'actor', 'target')),
    value     text        NOT NULL,
    reason    text        NOT NULL,
    owner     text        NOT NULL,
    placed_at timestamptz NOT NULL,
    lifted_at timestamptz
);

-- Every row an INSERT (or COPY) adds must link to its predecessor: the row
-- one sequence number earlier, already stored or added by the same
-- statement, whose entry_hash is the new row's prev_hash (entry 0 links to
-- 32 zero bytes). With UNIQUE (chain, seq) that means the new rows extend the
-- head and nothing else. The check runs once per statement over the
-- transition table: the new rows of each chain must form one run of
-- consecutive, linked entries (a sort of the batch, no table access), and
-- the first of them must link to the stored entry before it (one primary
-- key probe per chain). A per-row plpgsql trigger cost four times as much
-- (17 us against 4 us per row) at the batch sizes group commit makes. A
-- predecessor written by a transaction that has not committed is not
-- visible here, so a batch can never extend one that may still roll back.
-- +goose StatementBegin
CREATE FUNCTION auditlog_entries_extend() RETURNS trigger LANGUAGE plpgsql
-- The probe must use the primary key whatever the statistics said when the
-- session cached its plan: planned on a young, small table, a sequential
-- scan could stay cached (until the next ANALYZE) while the chain grows.
SET enable_seqscan = off AS $$
DECLARE
    r         record;
    prev_hash bytea;
BEGIN
    SELECT x.chain, x.seq INTO r
      FROM (SELECT n.chain, n.seq, n.prev_hash,
                   lag(n.seq) OVER w AS before_seq, lag(n.entry_hash) OVER w AS before_hash
              FROM auditlog_new_entries n
            WINDOW w AS (PARTITION BY n.chain ORDER BY n.seq)) x
     WHERE x.before_seq IS NOT NULL AND (x.seq <> x.before_seq + 1 OR x.prev_hash <> x.before_hash)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'auditlog: entry % of chain % does not extend the head', r.seq, r.chain
            USING ERRCODE = 'RA001';
    END IF;
    FOR r IN SELECT DISTINCT ON (n.chain) n.chain, n.seq, n.prev_hash
               FROM auditlog_new_entries n ORDER BY n.chain, n.seq
    LOOP
        IF r.seq = 0 THEN
            prev_hash := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
        ELSE
            prev_hash := (SELECT e.entry_hash FROM auditlog_entries e WHERE e.chain = r.chain AND e.seq = r.seq - 1);
        END IF;
        IF prev_hash IS DISTINCT FROM r.prev_hash THEN
            RAISE EXCEPTION 'auditlog: entry % of chain % does not extend the head', r.seq, r.chain
                USING ERRCODE = 'RA001';
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION auditlog_reject_row_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'auditlog: % on % is not allowed: the audit log is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'RA002';
END
$$;
-- +goose StatementEnd

-- Entries: the one change allowed is auditlog_prune_payloads setting a
-- payload to NULL, leaving every other column as it was.
-- +goose StatementBegin
CREATE FUNCTION auditlog_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('rampart.auditlog_pruning', true) = 'on' THEN
        IF NEW.payload IS NULL
           AND (to_jsonb(NEW) - 'payload' - 'pruned_at') = (to_jsonb(OLD) - 'payload' - 'pruned_at') THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'auditlog: % on % is not allowed: the audit log is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'RA002';
END
$$;
-- +goose StatementEnd

-- Holds: the one change allowed is auditlog_lift_hold setting lifted_at once.
-- +goose StatementBegin
CREATE FUNCTION auditlog_holds_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('rampart.auditlog_lifting', true) = 'on' THEN
        IF OLD.lifted_at IS NULL
           AND (to_jsonb(NEW) - 'lifted_at') = (to_jsonb(OLD) - 'lifted_at') THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'auditlog: % on % is not allowed: the audit log is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'RA002';
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION auditlog_reject_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'auditlog: TRUNCATE on % is not allowed: the audit log is append-only', TG_TABLE_NAME
        USING ERRCODE = 'RA002';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER auditlog_entries_extend AFTER INSERT ON auditlog_entries
    REFERENCING NEW TABLE AS auditlog_new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION auditlog_entries_extend();
CREATE TRIGGER auditlog_entries_immutable BEFORE UPDATE OR DELETE ON auditlog_entries
    FOR EACH ROW EXECUTE FUNCTION auditlog_entries_guard();
CREATE TRIGGER auditlog_entries_no_truncate BEFORE TRUNCATE ON auditlog_entries
    FOR EACH STATEMENT EXECUTE FUNCTION auditlog_reject_truncate();
CREATE TRIGGER auditlog_heads_immutable BEFORE UPDATE OR DELETE ON auditlog_heads
    FOR EACH ROW EXECUTE FUNCTION auditlog_reject_row_change();
CREATE TRIGGER auditlog_heads_no_truncate BEFORE TRUNCATE ON auditlog_heads
    FOR EACH STATEMENT EXECUTE FUNCTION auditlog_reject_truncate();
CREATE TRIGGER auditlog_holds_immutable BEFORE UPDATE OR DELETE ON auditlog_holds
    FOR EACH ROW EXECUTE FUNCTION auditlog_holds_guard();
CREATE TRIGGER auditlog_holds_no_truncate BEFORE TRUNCATE ON auditlog_holds
    FOR EACH STATEMENT EXECUTE FUNCTION auditlog_reject_truncate();

-- ALWAYS: fire even when session_replication_role = replica.
ALTER TABLE auditlog_entries ENABLE ALWAYS TRIGGER auditlog_entries_extend;
ALTER TABLE auditlog_entries ENABLE ALWAYS TRIGGER auditlog_entries_immutable;
ALTER TABLE auditlog_entries ENABLE ALWAYS TRIGGER auditlog_entries_no_truncate;
ALTER TABLE auditlog_heads ENABLE ALWAYS TRIGGER auditlog_heads_immutable;
ALTER TABLE auditlog_heads ENABLE ALWAYS TRIGGER auditlog_heads_no_truncate;
ALTER TABLE auditlog_holds ENABLE ALWAYS TRIGGER auditlog_holds_immutable;
ALTER TABLE auditlog_holds ENABLE ALWAYS TRIGGER auditlog_holds_no_truncate;

-- +goose StatementBegin
CREATE FUNCTION auditlog_lock_chain(p_chain text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    -- The head row exists from a chain's first batch on: try the lock
    -- first, and pay for the insert (a speculative insertion) only once.
    PERFORM 1 FROM auditlog_heads WHERE chain = p_chain FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO auditlog_heads (chain) VALUES (p_chain) ON CONFLICT (chain) DO NOTHING;
        PERFORM 1 FROM auditlog_heads WHERE chain = p_chain FOR UPDATE;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION auditlog_prune_payloads(p_chain text, p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    n bigint;
BEGIN
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
    RETURN n;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION auditlog_lift_hold(p_id text, p_at timestamptz) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM set_config('rampart.auditlog_lifting', 'on', true);
    UPDATE auditlog_holds SET lifted_at = p_at WHERE id = p_id AND lifted_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('rampart.auditlog_lifting', 'off', true);
    RETURN n = 1;
END
$$;
-- +goose StatementEnd

REVOKE ALL ON FUNCTION auditlog_lock_chain(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auditlog_prune_payloads(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION auditlog_lift_hold(text, timestamptz) FROM PUBLIC;
