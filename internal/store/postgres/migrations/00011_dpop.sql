-- DPoP (RFC 9449): a client may be required to bind its access tokens to a
-- key of its own (every token request must carry a DPoP proof), and a public
-- client's refresh token family is bound to the key (the JWK SHA-256
-- thumbprint, RFC 7638) of the proof the family was issued with: a refresh
-- must prove possession of the same key. "" means not bound.

-- +goose Up
ALTER TABLE clients ADD COLUMN dpop_required boolean NOT NULL DEFAULT false;
ALTER TABLE refresh_families ADD COLUMN dpop_jkt text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE refresh_families DROP COLUMN dpop_jkt;
ALTER TABLE clients DROP COLUMN dpop_required;
