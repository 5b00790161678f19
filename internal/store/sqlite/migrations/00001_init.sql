-- Initial Gatehouse schema for SQLite.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC); NULL means the
-- zero time.Time. List-valued fields are JSON arrays of strings. Durations
-- are INTEGER nanoseconds.

-- +goose Up
CREATE TABLE clients (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    grant_types   TEXT    NOT NULL DEFAULT '[]',
    scopes        TEXT    NOT NULL DEFAULT '[]',
    accounts      TEXT    NOT NULL DEFAULT '[]',
    redirect_uris TEXT    NOT NULL DEFAULT '[]',
    audience      TEXT    NOT NULL,
    token_ttl_ns  INTEGER NOT NULL,
    disabled      INTEGER NOT NULL,
    created_at    INTEGER,
    updated_at    INTEGER
) STRICT;

CREATE TABLE client_secrets (
    id           TEXT    NOT NULL PRIMARY KEY,
    client_id    TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL, -- position in Client.Secrets, breaks created_at ties
    digest       BLOB    NOT NULL,
    hint         TEXT    NOT NULL,
    created_at   INTEGER,
    expires_at   INTEGER,
    last_used_at INTEGER
) STRICT;

CREATE INDEX client_secrets_by_client ON client_secrets (client_id, created_at, seq);

CREATE TABLE signing_keys (
    id         TEXT NOT NULL PRIMARY KEY,
    algorithm  TEXT NOT NULL,
    encrypted  BLOB NOT NULL,
    created_at INTEGER,
    active_at  INTEGER
) STRICT;

CREATE TABLE revoked_tokens (
    jti        TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

CREATE TABLE audit_events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    time   INTEGER,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;

CREATE INDEX audit_events_by_target ON audit_events (target, id);
CREATE INDEX audit_events_by_action ON audit_events (action, id);

CREATE TABLE changes (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind      TEXT    NOT NULL,
    target_id TEXT    NOT NULL,
    at        INTEGER NOT NULL
) STRICT;

CREATE INDEX changes_by_time ON changes (at, id);

-- +goose Down
DROP TABLE changes;
DROP TABLE audit_events;
DROP TABLE revoked_tokens;
DROP TABLE signing_keys;
DROP TABLE client_secrets;
DROP TABLE clients;
