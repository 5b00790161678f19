-- Per-client PKCE: a confidential client registered with --require-pkce=false
-- may leave out PKCE at the authorization endpoint (a legacy client that
-- cannot send it). Existing clients keep PKCE required.

-- +goose Up
ALTER TABLE clients ADD COLUMN pkce_optional INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE clients DROP COLUMN pkce_optional;
