-- Revocation feed: when each revocation was recorded, so that resource
-- servers can poll for revocations since a point in time.
--
-- revoked_at is INTEGER microseconds since the Unix epoch, stamped by the
-- store (Go's clock) when the jti is first recorded. Existing revocations
-- get the time of this migration, spread one microsecond apart in the
-- order they were recorded (rowid), so that they page like any others.

-- +goose Up
ALTER TABLE revoked_tokens ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;

UPDATE revoked_tokens
SET revoked_at = CAST(unixepoch('subsec') * 1000000 AS INTEGER)
    - ((SELECT max(rowid) FROM revoked_tokens) - rowid);

-- Covers ListRevocations: range on revoked_at, order by (revoked_at, jti),
-- filter on expires_at, without reading the table.
CREATE INDEX revoked_tokens_by_revoked_at ON revoked_tokens (revoked_at, jti, expires_at);

-- +goose Down
DROP INDEX revoked_tokens_by_revoked_at;
ALTER TABLE revoked_tokens DROP COLUMN revoked_at;
