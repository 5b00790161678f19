-- Usage per credential: calls per client, day (UTC, YYYY-MM-DD), endpoint
-- pattern and outcome ("allowed" or the reason for a denial) as gateways
-- report them; tokens issued per client and day; the source addresses each
-- client authenticated from (a bounded top by count). Rows go with their
-- client.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC).

-- +goose Up
CREATE TABLE usage_calls (
    client_id TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    day       TEXT    NOT NULL,
    pattern   TEXT    NOT NULL,
    outcome   TEXT    NOT NULL,
    count     INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (client_id, day, pattern, outcome)
) STRICT;

CREATE INDEX usage_calls_by_day ON usage_calls (day);

CREATE TABLE usage_tokens (
    client_id TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    day       TEXT    NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (client_id, day)
) STRICT;

CREATE INDEX usage_tokens_by_day ON usage_tokens (day);

CREATE TABLE usage_addresses (
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    address    TEXT    NOT NULL,
    count      INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (client_id, address)
) STRICT;

-- +goose Down
DROP TABLE usage_addresses;
DROP TABLE usage_tokens;
DROP TABLE usage_calls;
