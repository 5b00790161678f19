-- Setup tokens: one-time links that create the first administrator. Every
-- `gatehouse serve` that starts while no administrator exists adds one;
-- creating the administrator deletes them all.
--
-- Times are timestamptz (microsecond precision); NULL means the zero
-- time.Time.

-- +goose Up
CREATE TABLE setup_tokens (
    id         text COLLATE "C" NOT NULL PRIMARY KEY, -- SHA-256 hex of the token
    created_at timestamptz,
    expires_at timestamptz
);

-- +goose Down
DROP TABLE setup_tokens;
