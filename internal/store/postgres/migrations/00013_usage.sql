-- Usage per credential: calls per client, day (UTC, YYYY-MM-DD), endpoint
-- pattern and outcome ("allowed" or the reason for a denial) as gateways
-- report them; tokens issued per client and day; the source addresses each
-- client authenticated from (a bounded top by count). Rows go with their
-- client.
--
-- Times are timestamptz (microsecond precision).

-- +goose Up
CREATE TABLE usage_calls (
    client_id text        COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    day       text        COLLATE "C" NOT NULL,
    pattern   text        COLLATE "C" NOT NULL,
    outcome   text        COLLATE "C" NOT NULL,
    count     bigint      NOT NULL,
    last_seen timestamptz NOT NULL,
    PRIMARY KEY (client_id, day, pattern, outcome)
);

CREATE INDEX usage_calls_by_day ON usage_calls (day);

CREATE TABLE usage_tokens (
    client_id text   COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    day       text   COLLATE "C" NOT NULL,
    count     bigint NOT NULL,
    PRIMARY KEY (client_id, day)
);

CREATE INDEX usage_tokens_by_day ON usage_tokens (day);

CREATE TABLE usage_addresses (
    client_id  text        COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    address    text        COLLATE "C" NOT NULL,
    count      bigint      NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (client_id, address)
);

-- +goose Down
DROP TABLE usage_addresses;
DROP TABLE usage_tokens;
DROP TABLE usage_calls;
