-- Set-password tokens: one-time links with which a user created without a
-- password (by the admin API) chooses one. Spending a token, or any change
-- of the user's password, deletes the user's tokens; deleting the user
-- deletes them too.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC); NULL means the
-- zero time.Time.

-- +goose Up
CREATE TABLE password_tokens (
    id         TEXT NOT NULL PRIMARY KEY, -- SHA-256 hex of the token
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER,
    expires_at INTEGER
) STRICT;

CREATE INDEX password_tokens_by_user ON password_tokens (user_id);
CREATE INDEX password_tokens_by_expiry ON password_tokens (expires_at);

-- +goose Down
DROP TABLE password_tokens;
