-- People: users, browser sessions, remembered consents, authorization
-- codes and refresh tokens, and the client fields they need.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC); NULL means the
-- zero time.Time. List-valued fields are JSON arrays of strings. Deleting a
-- client or a user deletes everything issued to it.

-- +goose Up
ALTER TABLE clients ADD COLUMN website TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN token_endpoint_auth_method TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN refresh_with_client_credentials INTEGER NOT NULL DEFAULT 0;

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL UNIQUE, -- strings.ToLower(username)
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    disabled      INTEGER NOT NULL,
    created_at    INTEGER,
    updated_at    INTEGER
) STRICT;

CREATE TABLE sessions (
    id           TEXT NOT NULL PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER,
    last_seen_at INTEGER,
    expires_at   INTEGER
) STRICT;

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL DEFAULT '[]',
    granted_at INTEGER,
    PRIMARY KEY (user_id, client_id)
) STRICT;

CREATE INDEX consents_by_client ON consents (client_id);

CREATE TABLE auth_codes (
    id                   TEXT NOT NULL PRIMARY KEY,
    client_id            TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id              TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri         TEXT NOT NULL,
    scopes               TEXT NOT NULL DEFAULT '[]',
    code_challenge       TEXT NOT NULL,
    nonce                TEXT NOT NULL,
    created_at           INTEGER,
    expires_at           INTEGER,
    used_at              INTEGER,
    access_token_jti     TEXT NOT NULL DEFAULT '',
    access_token_expires INTEGER,
    refresh_family_id    TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX auth_codes_by_client ON auth_codes (client_id);
CREATE INDEX auth_codes_by_user ON auth_codes (user_id);
CREATE INDEX auth_codes_by_expiry ON auth_codes (expires_at);

-- A family is the chain of refresh tokens that rotation makes from one
-- grant. Every change to a family's tokens holds its row (on SQLite, the
-- database's write lock).
CREATE TABLE refresh_families (
    id         TEXT NOT NULL PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE, -- NULL for client_credentials
    expires_at INTEGER,
    revoked_at INTEGER
) STRICT;

CREATE INDEX refresh_families_by_client_user ON refresh_families (client_id, user_id);
CREATE INDEX refresh_families_by_user ON refresh_families (user_id);
CREATE INDEX refresh_families_by_expiry ON refresh_families (expires_at);

CREATE TABLE refresh_tokens (
    id         TEXT NOT NULL PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL DEFAULT '[]',
    account_id TEXT NOT NULL,
    created_at INTEGER,
    expires_at INTEGER,
    used_at    INTEGER
) STRICT;

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

-- +goose Down
DROP TABLE refresh_tokens;
DROP TABLE refresh_families;
DROP TABLE auth_codes;
DROP TABLE consents;
DROP TABLE sessions;
DROP TABLE users;
ALTER TABLE clients DROP COLUMN refresh_with_client_credentials;
ALTER TABLE clients DROP COLUMN token_endpoint_auth_method;
ALTER TABLE clients DROP COLUMN website;
