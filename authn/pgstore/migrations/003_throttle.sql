-- +goose Up
-- authn: the login throttle's buckets, shared by every instance. A key
-- names the bucket: "password:account:<sha-256 hex of the login>",
-- "password:address:<IPv4/32 or IPv6/64>", "password:pair:<login hash>:<prefix>",
-- "magic:address:<prefix>". Logins are stored only as hashes.
CREATE TABLE authn_throttle (
    key        text        PRIMARY KEY,
    count      integer     NOT NULL CHECK (count >= 0),
    window_end timestamptz NOT NULL
);
CREATE INDEX authn_throttle_window_end ON authn_throttle (window_end);

-- +goose Down
DROP TABLE authn_throttle;
