-- People: users, browser sessions, remembered consents, authorization
-- codes and refresh tokens, and the client fields they need.
--
-- Times are timestamptz (microsecond precision); NULL means the zero
-- time.Time. Identifiers use the "C" collation, so that they sort bytewise.
-- Deleting a client or a user deletes everything issued to it.

-- +goose Up
ALTER TABLE clients ADD COLUMN website text NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN token_endpoint_auth_method text NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN refresh_with_client_credentials boolean NOT NULL DEFAULT false;

CREATE TABLE users (
    id            text    COLLATE "C" NOT NULL PRIMARY KEY,
    username      text    NOT NULL,
    username_key  text    COLLATE "C" NOT NULL UNIQUE, -- strings.ToLower(username)
    display_name  text    NOT NULL,
    password_hash text    NOT NULL,
    role          text    NOT NULL,
    disabled      boolean NOT NULL,
    created_at    timestamptz,
    updated_at    timestamptz
);

CREATE TABLE sessions (
    id           text COLLATE "C" NOT NULL PRIMARY KEY,
    user_id      text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz,
    last_seen_at timestamptz,
    expires_at   timestamptz
);

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE consents (
    user_id    text   COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  text   COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     text[] NOT NULL DEFAULT '{}',
    granted_at timestamptz,
    PRIMARY KEY (user_id, client_id)
);

CREATE INDEX consents_by_client ON consents (client_id);

CREATE TABLE auth_codes (
    id                   text   COLLATE "C" NOT NULL PRIMARY KEY,
    client_id            text   COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id              text   COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri         text   NOT NULL,
    scopes               text[] NOT NULL DEFAULT '{}',
    code_challenge       text   NOT NULL,
    nonce                text   NOT NULL,
    created_at           timestamptz,
    expires_at           timestamptz,
    used_at              timestamptz,
    access_token_jti     text   NOT NULL DEFAULT '',
    access_token_expires timestamptz,
    refresh_family_id    text   NOT NULL DEFAULT ''
);

CREATE INDEX auth_codes_by_client ON auth_codes (client_id);
CREATE INDEX auth_codes_by_user ON auth_codes (user_id);
CREATE INDEX auth_codes_by_expiry ON auth_codes (expires_at);

-- A family is the chain of refresh tokens that rotation makes from one
-- grant. Every change to a family's tokens first locks its row
-- (SELECT ... FOR UPDATE), so that rotation, reuse detection and
-- revocation of one family are serialised.
CREATE TABLE refresh_families (
    id         text COLLATE "C" NOT NULL PRIMARY KEY,
    client_id  text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    text COLLATE "C" REFERENCES users (id) ON DELETE CASCADE, -- NULL for client_credentials
    expires_at timestamptz,
    revoked_at timestamptz
);

CREATE INDEX refresh_families_by_client_user ON refresh_families (client_id, user_id);
CREATE INDEX refresh_families_by_user ON refresh_families (user_id);
CREATE INDEX refresh_families_by_expiry ON refresh_families (expires_at);

CREATE TABLE refresh_tokens (
    id         text   COLLATE "C" NOT NULL PRIMARY KEY,
    family_id  text   COLLATE "C" NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    scopes     text[] NOT NULL DEFAULT '{}',
    account_id text   NOT NULL,
    created_at timestamptz,
    expires_at timestamptz,
    used_at    timestamptz
);

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
