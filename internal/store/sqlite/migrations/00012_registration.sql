-- Dynamic client registration (RFC 7591, RFC 7592): whether and how a
-- client registered itself, the SHA-256 of its registration access token,
-- when a token was last issued to it (so that unused open registrations can
-- be deleted), and the operator-issued initial access tokens.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC); NULL means the
-- zero time.Time.

-- +goose Up
ALTER TABLE clients ADD COLUMN self_registered TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN registration_token_digest BLOB NOT NULL DEFAULT x'';
ALTER TABLE clients ADD COLUMN used_at INTEGER;

CREATE INDEX clients_self_registered ON clients (self_registered, created_at);

CREATE TABLE initial_access_tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    digest      BLOB    NOT NULL UNIQUE,
    description TEXT    NOT NULL,
    created_at  INTEGER,
    expires_at  INTEGER NOT NULL,
    max_uses    INTEGER NOT NULL,
    uses        INTEGER NOT NULL
) STRICT;

CREATE INDEX initial_access_tokens_by_expiry ON initial_access_tokens (expires_at);

-- +goose Down
DROP TABLE initial_access_tokens;
DROP INDEX clients_self_registered;
ALTER TABLE clients DROP COLUMN used_at;
ALTER TABLE clients DROP COLUMN registration_token_digest;
ALTER TABLE clients DROP COLUMN self_registered;
