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
-- Times are timestamptz (microsecond precision).

-- +goose Up
ALTER TABLE clients ADD COLUMN quota_per_minute integer NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN quota_per_hour integer NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN reuse_min_remaining integer NOT NULL DEFAULT 0;

CREATE TABLE quota_counts (
    node_id    text        COLLATE "C" NOT NULL,
    client_id  text        COLLATE "C" NOT NULL,
    window_ns  bigint      NOT NULL,
    window_end timestamptz NOT NULL,
    count      bigint      NOT NULL,
    reserved   bigint      NOT NULL,
    PRIMARY KEY (node_id, client_id, window_ns, window_end)
);

CREATE INDEX quota_counts_by_end ON quota_counts (window_end);

CREATE TABLE quota_nodes (
    node_id text        COLLATE "C" NOT NULL PRIMARY KEY,
    seen_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE quota_nodes;
DROP TABLE quota_counts;
ALTER TABLE clients DROP COLUMN reuse_min_remaining;
ALTER TABLE clients DROP COLUMN quota_per_hour;
ALTER TABLE clients DROP COLUMN quota_per_minute;
