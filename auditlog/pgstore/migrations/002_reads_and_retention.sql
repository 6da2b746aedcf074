-- +goose Up
-- rampart auditlog: paged reads filtered by action or actor (auditlog.ReadPage).
-- The indexes lead with the filtered column, not with chain: the primary key
-- must stay the only index whose first column is chain (see 001), so that no
-- cached plan of a point lookup can pick one of these.
CREATE INDEX auditlog_entries_action ON auditlog_entries (action, chain, seq);
CREATE INDEX auditlog_entries_actor ON auditlog_entries (actor, chain, seq);
