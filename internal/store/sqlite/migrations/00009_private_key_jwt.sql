-- private_key_jwt client authentication (RFC 7523 §2.2, OpenID Connect Core
-- §9): a client's public keys, as a JSON Web Key Set document or the URL of
-- one, and the jti of every client assertion accepted, kept until it expires
-- so that none is accepted twice. Deleting the client deletes its jtis.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC).

-- +goose Up
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';

CREATE TABLE client_assertion_jtis (
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
) STRICT;

CREATE INDEX client_assertion_jtis_by_expiry ON client_assertion_jtis (expires_at);

-- +goose Down
DROP TABLE client_assertion_jtis;
ALTER TABLE clients DROP COLUMN jwks_uri;
ALTER TABLE clients DROP COLUMN jwks;
