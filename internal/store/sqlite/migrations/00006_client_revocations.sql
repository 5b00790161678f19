-- Client revocations: "every access token issued to client X before T is
-- revoked" (gatehouse clients revoke-tokens), for a client whose secret
-- leaked. The revocation feed lists them beside the revoked tokens, ordered
-- with them by revoked_at; introspection checks them.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC). issued_before
-- is T; expires_at is when the last token issued before T expires (T plus
-- the maximum token lifetime), when Prune deletes the row; revoked_at is
-- stamped by the store's clock each time T or the expiry moves forward, so
-- that the feed sends the entry again. client_id refers to no client on
-- purpose: deleting the client must not take the revocation out of the
-- feed while its tokens can still be valid at resource servers.

-- +goose Up
CREATE TABLE client_revocations (
    client_id     TEXT    NOT NULL PRIMARY KEY,
    issued_before INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER NOT NULL
) STRICT;

-- Covers ListRevocations, like revoked_tokens_by_revoked_at.
CREATE INDEX client_revocations_by_revoked_at ON client_revocations (revoked_at, client_id, expires_at);
CREATE INDEX client_revocations_by_expiry ON client_revocations (expires_at);

-- +goose Down
DROP TABLE client_revocations;
