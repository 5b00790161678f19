-- Idempotency keys of the admin API: a create retried with the same
-- Idempotency-Key returns the first response (sealed under the master key,
-- as it may hold a new client secret) instead of creating again.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC).

-- +goose Up
CREATE TABLE idempotency_keys (
    key        TEXT NOT NULL PRIMARY KEY, -- SHA-256 hex of the caller and the header's value
    request    BLOB NOT NULL,             -- SHA-256 of the request's method, path and body
    status     INTEGER NOT NULL,          -- 0 while the request runs
    response   BLOB NOT NULL,             -- sealed; empty while the request runs
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE idempotency_keys;
