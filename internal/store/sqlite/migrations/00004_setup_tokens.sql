-- Setup tokens: one-time links that create the first administrator. Every
-- `gatehouse serve` that starts while no administrator exists adds one;
-- creating the administrator deletes them all.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC); NULL means the
-- zero time.Time.

-- +goose Up
CREATE TABLE setup_tokens (
    id         TEXT NOT NULL PRIMARY KEY, -- SHA-256 hex of the token
    created_at INTEGER,
    expires_at INTEGER
) STRICT;

-- +goose Down
DROP TABLE setup_tokens;
