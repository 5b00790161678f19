-- Idempotency keys of the admin API: a create retried with the same
-- Idempotency-Key returns the first response (sealed under the master key,
-- as it may hold a new client secret) instead of creating again.

-- +goose Up
CREATE TABLE idempotency_keys (
    key        text COLLATE "C" NOT NULL PRIMARY KEY, -- SHA-256 hex of the caller and the header's value
    request    bytea NOT NULL,                        -- SHA-256 of the request's method, path and body
    status     integer NOT NULL,                      -- 0 while the request runs
    response   bytea NOT NULL,                        -- sealed; empty while the request runs
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE idempotency_keys;
