-- +goose Up
-- authn: session administration is scoped by organisation (List, Revoke,
-- RevokeOthers and RevokeAll filter on org AND user_id), so the index that
-- serves it leads with org. The user_id-first index of 001 is replaced.
CREATE INDEX authn_sessions_org_user ON authn_sessions (org, user_id, created_at, id);
DROP INDEX authn_sessions_user;

-- +goose Down
CREATE INDEX authn_sessions_user ON authn_sessions (user_id, created_at, id);
DROP INDEX authn_sessions_org_user;
