-- Revocation feed: when each revocation was recorded, so that resource
-- servers can poll for revocations since a point in time.
--
-- revoked_at comes from the database's clock (clock_timestamp(), the column
-- default) when the jti is first recorded; existing revocations get the
-- time of this migration. jti is compared bytewise (COLLATE "C") so that
-- the feed's order is the same as SQLite's and Go's.

-- +goose Up
ALTER TABLE revoked_tokens ADD COLUMN revoked_at timestamptz NOT NULL DEFAULT clock_timestamp();

-- Covers ListRevocations: range on revoked_at, order by (revoked_at, jti),
-- filter on expires_at, without reading the table.
CREATE INDEX revoked_tokens_by_revoked_at ON revoked_tokens (revoked_at, jti COLLATE "C", expires_at);

-- +goose Down
DROP INDEX revoked_tokens_by_revoked_at;
ALTER TABLE revoked_tokens DROP COLUMN revoked_at;
