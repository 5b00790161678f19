// Package store defines Gatehouse's domain types and the Store interface
// that every storage backend implements. Backends live in subpackages
// (sqlite, postgres) and must pass the conformance suite in storetest.
//
// The store does no validation of domain rules (client ID syntax, scopes,
// TTL limits): that is the job of the service layer above it. It does
// guarantee atomicity: every mutating call commits its change, its change
// feed entry and its audit event in one transaction, or none of them.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every backend. Compare with errors.Is.
var (
	// ErrNotFound: the addressed record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a record with the same identity already exists.
	ErrConflict = errors.New("conflict")
)

// Grant type names (RFC 6749).
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// AnyAccount in Client.Accounts allows every account.
const AnyAccount = "*"

// Client is an OAuth 2.0 client registration.
type Client struct {
	ID           string
	Name         string
	Description  string
	GrantTypes   []string // e.g. client_credentials
	Scopes       []string // scopes the client may request (from the catalog)
	Accounts     []string // accounts the client may restrict tokens to; AnyAccount = all
	RedirectURIs []string
	Audience     string        // token "aud"; empty = the server's default audience
	TokenTTL     time.Duration // access-token lifetime; 0 = the server's default
	Disabled     bool
	Secrets      []Secret // ordered by CreatedAt, oldest first
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Secret is one client secret. Only its SHA-256 digest is stored.
type Secret struct {
	ID         string    // public identifier of this secret (not secret itself), unique per store
	Digest     []byte    // SHA-256 of the secret string
	Hint       string    // a short non-secret prefix shown to operators, e.g. "ghs_Ab3x"
	CreatedAt  time.Time //
	ExpiresAt  time.Time // zero = never expires
	LastUsedAt time.Time // zero = never used
}

// SigningKey is a token signing key, its private part encrypted at rest.
type SigningKey struct {
	ID        string    // JWS "kid"
	Algorithm string    // ES256, RS256, PS256, EdDSA
	Encrypted []byte    // AES-GCM sealed PKCS#8 private key (see internal/token)
	CreatedAt time.Time // when it was generated (and first published in the JWKS)
	ActiveAt  time.Time // when it starts signing; the newest key with ActiveAt <= now signs
}

// AuditEvent records one administrative change.
type AuditEvent struct {
	ID     int64     // assigned by the store, increasing
	Time   time.Time // set by the caller
	Actor  string    // who: "cli:root@host", "console:alice", "system"
	Action string    // e.g. client.create, client.update, client.delete, client.rotate_secret, key.rotate
	Target string    // e.g. the client ID or key ID
	Detail string    // human-readable detail; never contains a secret
}

// AuditFilter selects audit events. Zero values match everything.
type AuditFilter struct {
	Target string
	Action string
	Limit  int // 0 = no limit; newest events first
}

// Revocation is a revoked access token, as listed by ListRevocations.
type Revocation struct {
	JTI       string    // the token's "jti"
	ExpiresAt time.Time // when the token expires; the record is kept until then
	RevokedAt time.Time // when the store first recorded the revocation, by its own clock
}

// Change kinds in the change feed.
const (
	ChangeClient = "client"
	ChangeKey    = "key"
)

// Change is one entry of the change feed: a record that changed. Caches in
// every process poll the feed and drop what changed.
type Change struct {
	Kind string    // ChangeClient or ChangeKey
	ID   string    // client ID or key ID
	At   time.Time // when, by the store's clock
}

// Store is the persistence contract. All methods are safe for concurrent use
// by many goroutines and by many processes sharing one database.
type Store interface {
	// CreateClient inserts c (with its secrets) and records ev.
	// ErrConflict if a client with c.ID exists.
	CreateClient(ctx context.Context, c Client, ev AuditEvent) error
	// GetClient returns the client with its secrets. ErrNotFound if absent.
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns all clients (with secrets) ordered by ID.
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient loads the client, calls fn inside one transaction and saves
	// what fn left in *Client (including its Secrets: added, changed and removed
	// ones), then records *ev, which is read after fn returns so that fn may
	// fill in its Detail. fn must not change the ID. If fn returns an error,
	// nothing is written and that error is returned. ErrNotFound if absent.
	UpdateClient(ctx context.Context, id string, fn func(*Client) error, ev *AuditEvent) (Client, error)
	// DeleteClient removes the client and its secrets and records ev.
	// ErrNotFound if absent.
	DeleteClient(ctx context.Context, id string, ev AuditEvent) error
	// TouchSecrets records last-use times by secret ID. A stored time only
	// moves forward; unknown IDs are ignored. It writes no change-feed entry.
	TouchSecrets(ctx context.Context, used map[string]time.Time) error

	// ListSigningKeys returns all signing keys ordered by ActiveAt, then ID.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// UpdateSigningKeys runs fn with the current keys inside a transaction that
	// is serialised against every other UpdateSigningKeys call on the same
	// database (from any process), then inserts add, deletes the IDs in remove,
	// and records ev unless ev.Action is empty. fn returning an error aborts.
	UpdateSigningKeys(ctx context.Context, fn func(keys []SigningKey) (add []SigningKey, remove []string, err error), ev AuditEvent) error

	// RevokeToken records a revoked token ID until expiresAt. Idempotent:
	// revoking a recorded ID again keeps the later expiry and the first
	// RevokedAt. RevokedAt is stamped by the store's clock (the database's,
	// for a networked database).
	RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error
	// IsTokenRevoked reports whether jti is recorded as revoked.
	IsTokenRevoked(ctx context.Context, jti string) (bool, error)
	// ListRevocations returns the revocations with RevokedAt >= since whose
	// ExpiresAt is after now, ordered by RevokedAt, then JTI (bytewise), at
	// most limit of them (limit <= 0: all).
	ListRevocations(ctx context.Context, since, now time.Time, limit int) ([]Revocation, error)

	// ListAudit returns audit events, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)

	// Changes returns change-feed entries with At >= since, oldest first.
	Changes(ctx context.Context, since time.Time) ([]Change, error)

	// Prune deletes revocations that expired before now and change-feed
	// entries older than now minus one hour.
	Prune(ctx context.Context, now time.Time) error
	// Ping checks that the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}
