-- Initial Gatehouse schema for PostgreSQL (and wire-compatible databases).
--
-- Times are timestamptz (microsecond precision); NULL means the zero
-- time.Time. Durations are bigint nanoseconds. Identifiers use the "C"
-- collation, so that they sort bytewise (as Go and SQLite sort strings)
-- whatever the database's default collation.

-- +goose Up
CREATE TABLE clients (
    id            text        COLLATE "C" NOT NULL PRIMARY KEY,
    name          text        NOT NULL,
    description   text        NOT NULL,
    grant_types   text[]      NOT NULL DEFAULT '{}',
    scopes        text[]      NOT NULL DEFAULT '{}',
    accounts      text[]      NOT NULL DEFAULT '{}',
    redirect_uris text[]      NOT NULL DEFAULT '{}',
    audience      text        NOT NULL,
    token_ttl_ns  bigint      NOT NULL,
    disabled      boolean     NOT NULL,
    created_at    timestamptz,
    updated_at    timestamptz
);

CREATE TABLE client_secrets (
    id           text        COLLATE "C" NOT NULL PRIMARY KEY,
    client_id    text        COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    seq          integer     NOT NULL, -- position in Client.Secrets, breaks created_at ties
    digest       bytea       NOT NULL,
    hint         text        NOT NULL,
    created_at   timestamptz,
    expires_at   timestamptz,
    last_used_at timestamptz
);

CREATE INDEX client_secrets_by_client ON client_secrets (client_id, created_at NULLS FIRST, seq);

CREATE TABLE signing_keys (
    id         text  COLLATE "C" NOT NULL PRIMARY KEY,
    algorithm  text  NOT NULL,
    encrypted  bytea NOT NULL,
    created_at timestamptz,
    active_at  timestamptz
);

CREATE TABLE revoked_tokens (
    jti        text        NOT NULL PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

CREATE TABLE audit_events (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time   timestamptz,
    actor  text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    detail text NOT NULL
);

CREATE INDEX audit_events_by_target ON audit_events (target, id);
CREATE INDEX audit_events_by_action ON audit_events (action, id);

CREATE TABLE changes (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind      text        NOT NULL,
    target_id text        NOT NULL,
    at        timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX changes_by_time ON changes (at, id);

-- +goose Down
DROP TABLE changes;
DROP TABLE audit_events;
DROP TABLE revoked_tokens;
DROP TABLE signing_keys;
DROP TABLE client_secrets;
DROP TABLE clients;
