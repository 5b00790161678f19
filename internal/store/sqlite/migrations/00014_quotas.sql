-- Issuance quotas and the token reuse window (issue 13 §2, §3): per client,
-- at most quota_per_minute / quota_per_hour access tokens (0: the server's
-- default; -1: none), and reuse_min_remaining, the percentage of its
-- lifetime an issued token must have left to be handed out again (0: the
-- server's default; -1: off).
--
-- quota_counts: how many tokens each node issued to a client in a window
-- (minute or hour, window_end exclusive) and up to how many it reserved
-- (may reach before its next report), reported by the node about once a
-- second and summed across nodes; quota_nodes: the nodes that reported
-- lately, so each can take its share of what is left of a quota.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC).

-- +goose Up
ALTER TABLE clients ADD COLUMN quota_per_minute INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN quota_per_hour INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN reuse_min_remaining INTEGER NOT NULL DEFAULT 0;

CREATE TABLE quota_counts (
    node_id    TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    window_ns  INTEGER NOT NULL,
    window_end INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    reserved   INTEGER NOT NULL,
    PRIMARY KEY (node_id, client_id, window_ns, window_end)
) STRICT;

CREATE INDEX quota_counts_by_end ON quota_counts (window_end);

CREATE TABLE quota_nodes (
    node_id TEXT    NOT NULL PRIMARY KEY,
    seen_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE quota_nodes;
DROP TABLE quota_counts;
ALTER TABLE clients DROP COLUMN reuse_min_remaining;
ALTER TABLE clients DROP COLUMN quota_per_hour;
ALTER TABLE clients DROP COLUMN quota_per_minute;
