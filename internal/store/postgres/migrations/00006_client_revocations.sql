-- Client revocations: "every access token issued to client X before T is
-- revoked" (gatehouse clients revoke-tokens), for a client whose secret
-- leaked. The revocation feed lists them beside the revoked tokens, ordered
-- with them by revoked_at; introspection checks them.
--
-- issued_before is T; expires_at is when the last token issued before T
-- expires (T plus the maximum token lifetime), when Prune deletes the row;
-- revoked_at comes from the database's clock (clock_timestamp()) each time
-- T or the expiry moves forward, so that the feed sends the entry again.
-- client_id refers to no client on purpose: deleting the client must not
-- take the revocation out of the feed while its tokens can still be valid
-- at resource servers. client_id is compared bytewise (COLLATE "C") so
-- that the feed's order is the same as SQLite's and Go's.

-- +goose Up
CREATE TABLE client_revocations (
    client_id     text        COLLATE "C" NOT NULL PRIMARY KEY,
    issued_before timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz NOT NULL
);

-- Covers ListRevocations, like revoked_tokens_by_revoked_at.
CREATE INDEX client_revocations_by_revoked_at ON client_revocations (revoked_at, client_id, expires_at);
CREATE INDEX client_revocations_by_expiry ON client_revocations (expires_at);

-- +goose Down
DROP TABLE client_revocations;
