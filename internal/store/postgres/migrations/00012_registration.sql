-- Dynamic client registration (RFC 7591, RFC 7592): whether and how a
-- client registered itself, the SHA-256 of its registration access token,
-- when a token was last issued to it (so that unused open registrations can
-- be deleted), and the operator-issued initial access tokens.
--
-- Times are timestamptz (microsecond precision); NULL means the zero
-- time.Time.

-- +goose Up
ALTER TABLE clients ADD COLUMN self_registered text NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN registration_token_digest bytea NOT NULL DEFAULT '\x';
ALTER TABLE clients ADD COLUMN used_at timestamptz;

CREATE INDEX clients_self_registered ON clients (self_registered, created_at);

CREATE TABLE initial_access_tokens (
    id          text        COLLATE "C" NOT NULL PRIMARY KEY,
    digest      bytea       NOT NULL UNIQUE,
    description text        NOT NULL,
    created_at  timestamptz,
    expires_at  timestamptz NOT NULL,
    max_uses    integer     NOT NULL,
    uses        integer     NOT NULL
);

CREATE INDEX initial_access_tokens_by_expiry ON initial_access_tokens (expires_at);

-- +goose Down
DROP TABLE initial_access_tokens;
DROP INDEX clients_self_registered;
ALTER TABLE clients DROP COLUMN used_at;
ALTER TABLE clients DROP COLUMN registration_token_digest;
ALTER TABLE clients DROP COLUMN self_registered;
