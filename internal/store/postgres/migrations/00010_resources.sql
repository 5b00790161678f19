-- Resource indicators (RFC 8707): the configured resources a client may get
-- tokens for besides the default one, and the resources an authorization
-- code and a refresh token family were granted. Empty means the default
-- resource only.

-- +goose Up
ALTER TABLE clients ADD COLUMN resources text[] NOT NULL DEFAULT '{}';
ALTER TABLE auth_codes ADD COLUMN resources text[] NOT NULL DEFAULT '{}';
ALTER TABLE refresh_families ADD COLUMN resources text[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE refresh_families DROP COLUMN resources;
ALTER TABLE auth_codes DROP COLUMN resources;
ALTER TABLE clients DROP COLUMN resources;
