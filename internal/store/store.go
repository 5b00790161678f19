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
	// ErrUsed: the authorization code was already redeemed.
	ErrUsed = errors.New("already used")
	// ErrReused: the refresh token was already rotated; presenting it again
	// revoked its family.
	ErrReused = errors.New("refresh token reused")
	// ErrRevoked: the refresh token's family is revoked.
	ErrRevoked = errors.New("revoked")
	// ErrUnavailable: the database could not be reached or did not answer
	// in time (connection refused or lost, timeout, store closed). The
	// operation may succeed if tried again later; callers answer 503.
	// Backends wrap it around the driver's error, so errors.Is finds it.
	ErrUnavailable = errors.New("store unavailable")
)

// RetryAfter is how long a caller is told to wait before retrying an
// operation that failed with ErrUnavailable (HTTP Retry-After).
const RetryAfter = 5 * time.Second

// Grant type names (RFC 6749).
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// AnyAccount in Client.Accounts allows every account.
const AnyAccount = "*"

// Token endpoint authentication methods (RFC 7591 §2).
const (
	AuthMethodSecretBasic = "client_secret_basic"
	AuthMethodSecretPost  = "client_secret_post"
	AuthMethodNone        = "none"
	// AuthMethodPrivateKeyJWT: the client authenticates with a JWT it signs
	// with a private key whose public key is in its JWKS or at its JWKS URI
	// (RFC 7523 §2.2, OpenID Connect Core §9). It has no secrets.
	AuthMethodPrivateKeyJWT = "private_key_jwt"
)

// User roles.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

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

	Website string // shown on the consent page
	// TokenEndpointAuthMethod is AuthMethodSecretBasic (also when empty),
	// AuthMethodSecretPost, AuthMethodPrivateKeyJWT (JWKS or JWKSURI set) or
	// AuthMethodNone (a public client: no secret,
	// PKCE required). The store keeps it as given.
	TokenEndpointAuthMethod string
	// RefreshWithClientCredentials: issue refresh tokens with the
	// client_credentials grant too (off by default).
	RefreshWithClientCredentials bool
	// PKCEOptional: this confidential client may leave out PKCE at the
	// authorization endpoint even when the server requires it (a legacy
	// client that cannot send it). Off by default; the service refuses it
	// for a public client. The store keeps it as given.
	PKCEOptional bool
	// JWKS is a JSON Web Key Set document (RFC 7517 §5) of the client's
	// public keys, for AuthMethodPrivateKeyJWT; "" if none. The store keeps
	// it as given.
	JWKS string
	// JWKSURI is the https URL of the client's JWKS, for
	// AuthMethodPrivateKeyJWT; "" if none.
	JWKSURI string
	// Resources are the identifiers of the configured resources (RFC 8707)
	// the client may get tokens for besides the default resource, which
	// every client may; empty = the default resource only.
	Resources []string
	// DPoPRequired: every token request of this client must carry a DPoP
	// proof (RFC 9449), so that all its access tokens are bound to a key
	// (RFC 9449 §5.2, dpop_bound_access_tokens). Off by default.
	DPoPRequired bool
	// SelfRegistered is the policy under which the client registered
	// itself at the registration endpoint (RFC 7591): RegisteredOpen or
	// RegisteredInitialAccessToken; "" for a client an operator created.
	// The store keeps it as given.
	SelfRegistered string
	// RegistrationTokenDigest is the SHA-256 of the client's registration
	// access token (RFC 7592 §3), with which it reads, updates and deletes
	// its own registration; nil if it has none.
	RegistrationTokenDigest []byte
	// UsedAt is when a token was last issued to the client, as
	// TouchClients records it; zero if never. (Secrets keep their own
	// last-use times.)
	UsedAt time.Time
	// QuotaPerMinute and QuotaPerHour bound how many access tokens the
	// client is issued in a minute and in an hour: 0 means the server's
	// default, QuotaNone no quota, a positive number that many.
	QuotaPerMinute, QuotaPerHour int
	// ReuseMinRemaining is the token reuse window: while an access token
	// issued to the client has more than this percentage of its lifetime
	// left, the same request gets it again instead of a new one. 0 means
	// the server's default, ReuseOff never, 1 to 99 that percentage.
	ReuseMinRemaining int
}

// QuotaNone (Client.QuotaPerMinute, QuotaPerHour) and ReuseOff
// (Client.ReuseMinRemaining) switch a server default off for a client.
const (
	QuotaNone = -1
	ReuseOff  = -1
)

// QuotaCount is how many access tokens were issued to a client in one quota
// window, the Window (time.Minute or time.Hour) that ends at End, and how
// many a node reserved (may issue before it reports again).
type QuotaCount struct {
	ClientID string
	Window   time.Duration
	End      time.Time
	Count    int64
	Reserved int64
}

// Self-registration policies, in Client.SelfRegistered.
const (
	// RegisteredOpen: registered without credentials (a public client).
	RegisteredOpen = "open"
	// RegisteredInitialAccessToken: registered with an operator-issued
	// initial access token (RFC 7591 §3).
	RegisteredInitialAccessToken = "initial_access_token"
)

// AuthMethod is the client's token endpoint authentication method, with
// the default (client_secret_basic) spelled out.
func (c Client) AuthMethod() string {
	if c.TokenEndpointAuthMethod == "" {
		return AuthMethodSecretBasic
	}
	return c.TokenEndpointAuthMethod
}

// LastUsed is when any of the client's secrets was last used, or a token
// was last issued to it (UsedAt), whichever is later; zero if never.
func (c Client) LastUsed() time.Time {
	t := c.UsedAt
	for _, s := range c.Secrets {
		if s.LastUsedAt.After(t) {
			t = s.LastUsedAt
		}
	}
	return t
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

// InitialAccessToken is an operator-issued bearer token that lets its
// holder register clients at the registration endpoint (RFC 7591 §3). It is
// stored by the SHA-256 of the token.
type InitialAccessToken struct {
	ID          string // public identifier ("iat_" + hex), never secret
	Digest      []byte // SHA-256 of the token; the token itself is never stored
	Description string // what it is for, shown to operators
	CreatedAt   time.Time
	ExpiresAt   time.Time
	MaxUses     int // how many registrations it allows, at least 1
	Uses        int // how many it made
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
	Actor  string
	Since  time.Time // only events at or after it; zero: all
	Before int64     // only events with a smaller ID (a page's cursor); 0: all
	Limit  int       // 0 = no limit; newest events first
}

// IdempotencyRecord is what the admin API keeps of a request made with an
// Idempotency-Key, to answer a retry with the first response.
type IdempotencyRecord struct {
	Key       string // identifies the caller and the key
	Request   []byte // identifies the request; a retry must match it
	Status    int    // the response's HTTP status; 0 while the request runs
	Response  []byte // the sealed response; empty while the request runs
	CreatedAt time.Time
	ExpiresAt time.Time // after it the record is ignored, and pruned
}

// ClientQuery selects a page of clients for ListClientPage.
type ClientQuery struct {
	After string // only clients whose ID sorts after this: the previous page's last ID
	Limit int    // at most this many; must be positive
	// Search keeps the clients whose ID or name contains it, ignoring
	// ASCII case.
	Search string
	// Account keeps the clients whose Accounts list it (AnyAccount is not
	// expanded).
	Account string
	// Owner keeps the clients bound to exactly this one account (Accounts
	// is just it): the clients a tenant manages.
	Owner string
	// SelfRegistered keeps the clients registered under this policy
	// (Client.SelfRegistered).
	SelfRegistered string
	// IdleBefore, if not zero, keeps the clients created before it that
	// have not been used since: neither UsedAt nor any secret's LastUsedAt
	// is at or after it.
	IdleBefore time.Time
}

// Revocation is an entry of ListRevocations: a revoked access token
// (JTI set), or the revocation of every access token issued to a client
// before a time (ClientID and IssuedBefore set, JTI empty).
type Revocation struct {
	JTI string // the token's "jti"; "" for a client's tokens
	// ClientID and IssuedBefore: the client's access tokens issued before
	// IssuedBefore are revoked (RevokeClientTokens). Empty and zero for a
	// token's revocation.
	ClientID     string
	IssuedBefore time.Time
	// ExpiresAt is when the token expires, or, for a client's tokens, when
	// the last of them does; the record is kept until then.
	ExpiresAt time.Time
	// RevokedAt is when the store recorded the revocation, by its own clock:
	// for a token's, the first time; for a client's, the last time it moved
	// IssuedBefore or ExpiresAt forward.
	RevokedAt time.Time
}

// User is a person who logs in to the console and authorizes clients.
type User struct {
	ID string // "usr_" + random hex, generated by the service
	// Username is unique, stored as given and compared case-insensitively:
	// two usernames are the same if strings.ToLower makes them equal.
	Username     string
	DisplayName  string
	PasswordHash string // PHC string, argon2id
	Role         string // RoleAdmin or RoleMember
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Session is a server-side browser session.
type Session struct {
	ID         string // SHA-256 hex of the cookie value; the value itself is never stored
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
}

// SetupToken is a one-time setup token that lets its holder create the
// first administrator, stored by the SHA-256 of the token.
type SetupToken struct {
	ID        string // SHA-256 hex of the token; the token itself is never stored
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PasswordToken is a one-time set-password token: its holder may choose
// the password of the user once, before it expires. It is stored by the
// SHA-256 of the token.
type PasswordToken struct {
	ID        string // SHA-256 hex of the token; the token itself is never stored
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// UserQuery selects a page of users for ListUserPage.
type UserQuery struct {
	// After keeps the users whose lower-cased username (strings.ToLower)
	// sorts bytewise after it: the previous page's last.
	After string
	Limit int // at most this many; must be positive
	// Search keeps the users whose username or display name contains it,
	// ignoring case: the username's as strings.ToLower folds it, the
	// display name's at least for ASCII letters (the database's lower()).
	Search string
}

// ConsentQuery selects a page of consents for ListConsentPage. Zero
// filters match everything.
type ConsentQuery struct {
	UserID   string // only this user's consents
	ClientID string // only consents to this client
	// AfterUser and AfterClient keep the consents that sort after this
	// user and client ID (by user ID, then client ID, bytewise): the
	// previous page's last. Both "" start at the beginning.
	AfterUser, AfterClient string
	Limit                  int // at most this many; must be positive
}

// Consent is a remembered consent: the scopes a user granted a client.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
}

// AuthCode is an authorization code (RFC 6749 §4.1), stored by the SHA-256
// of the code.
type AuthCode struct {
	ID            string // SHA-256 hex of the code
	ClientID      string
	UserID        string
	RedirectURI   string // exactly as sent in the authorization request ("" if it was omitted)
	Scopes        []string
	CodeChallenge string // S256 challenge; "" if none
	Nonce         string // reserved
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        time.Time // zero until redeemed

	// What the first redemption issued, so that a replay can revoke it
	// (set by RecordAuthCodeIssue).
	AccessTokenJTI     string
	AccessTokenExpires time.Time
	RefreshFamilyID    string

	// Resources are the resource identifiers (RFC 8707) the authorization
	// request named and the user granted; empty = the default resource.
	Resources []string
}

// RefreshToken is an opaque refresh token, stored by its SHA-256. Every use
// rotates it: the token is marked used and replaced by a new one of the same
// family. ClientID, UserID, FamilyExpiresAt and RevokedAt belong to the
// family: they are set by the token that creates it (CreateRefreshToken)
// and shared by every token of the family.
type RefreshToken struct {
	ID              string // SHA-256 hex of the token
	FamilyID        string
	ClientID        string
	UserID          string // "" for client_credentials
	Scopes          []string
	AccountID       string
	CreatedAt       time.Time
	ExpiresAt       time.Time // idle expiry of this token
	FamilyExpiresAt time.Time // absolute expiry of the family; zero = never
	UsedAt          time.Time // when it was rotated (zero = current)
	RevokedAt       time.Time // when the family was revoked (zero = live)
	// Resources are the resource identifiers (RFC 8707) the family was
	// granted; empty = the default resource. They belong to the family,
	// like ClientID: set by CreateRefreshToken, the same for every token.
	Resources []string
	// JKT is the JWK SHA-256 thumbprint of the DPoP key the family is
	// bound to (a public client's, RFC 9449 §5): a refresh must carry a
	// proof by that key. Set when the family starts; "" = not bound.
	JKT string
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
	// Seq is the entry's position among entries with the same At (the
	// feed is ordered by At, then Seq); unique in the feed.
	Seq int64
}

// Store is the persistence contract. All methods are safe for concurrent use
// by many goroutines and by many processes sharing one database.
//
// A method fails with an error wrapping ErrUnavailable when the database
// cannot be reached. A backend may run a transaction again after its
// connection was lost before it committed, so the fn given to UpdateClient,
// UpdateSigningKeys, UpdateUser, DeleteUser, RedeemPasswordToken and
// UpdateConsent may be called more than once; only what the last call
// leaves counts.
type Store interface {
	// CreateClient inserts c (with its secrets) and records ev.
	// ErrConflict if a client with c.ID exists.
	CreateClient(ctx context.Context, c Client, ev AuditEvent) error
	// GetClient returns the client with its secrets. ErrNotFound if absent.
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns all clients (with secrets) ordered by ID.
	ListClients(ctx context.Context) ([]Client, error)
	// ListClientPage returns, ordered by ID, at most q.Limit clients (with
	// secrets) whose ID sorts after q.After and that match q's filters.
	ListClientPage(ctx context.Context, q ClientQuery) ([]Client, error)
	// UpdateClient loads the client, calls fn inside one transaction and saves
	// what fn left in *Client (including its Secrets: added, changed and removed
	// ones), then records *ev, which is read after fn returns so that fn may
	// fill in its Detail. fn must not change the ID. If fn returns an error,
	// nothing is written and that error is returned. ErrNotFound if absent.
	UpdateClient(ctx context.Context, id string, fn func(*Client) error, ev *AuditEvent) (Client, error)
	// DeleteClient removes the client with its secrets, consents,
	// authorization codes and refresh tokens and records ev. If check is
	// not nil, it is called first, in the same transaction, with the client
	// as stored; if it returns an error, nothing is deleted and that error
	// is returned. ErrNotFound if absent.
	DeleteClient(ctx context.Context, id string, check func(Client) error, ev AuditEvent) error
	// TouchSecrets records last-use times by secret ID. A stored time only
	// moves forward; unknown IDs are ignored. It writes no change-feed entry.
	TouchSecrets(ctx context.Context, used map[string]time.Time) error
	// TouchClients records clients' UsedAt by client ID, as TouchSecrets
	// does secrets': a stored time only moves forward, unknown IDs and zero
	// times are ignored, and no change-feed entry is written.
	TouchClients(ctx context.Context, used map[string]time.Time) error

	// CreateInitialAccessToken inserts t and records ev. ErrConflict if its
	// ID or its Digest exists.
	CreateInitialAccessToken(ctx context.Context, t InitialAccessToken, ev AuditEvent) error
	// GetInitialAccessToken returns the initial access token whose Digest
	// is digest, spent or not, expired or not. ErrNotFound if absent.
	GetInitialAccessToken(ctx context.Context, digest []byte) (InitialAccessToken, error)
	// ListInitialAccessTokens returns every initial access token ordered
	// by CreatedAt, then ID.
	ListInitialAccessTokens(ctx context.Context) ([]InitialAccessToken, error)
	// DeleteInitialAccessToken removes the token with the ID and records
	// ev. ErrNotFound (and nothing written) if absent.
	DeleteInitialAccessToken(ctx context.Context, id string, ev AuditEvent) error
	// CreateClientWithInitialAccessToken spends one use of the initial
	// access token whose Digest is digest and inserts c as CreateClient
	// does, recording ev, in one transaction serialised against every
	// other use of the token. ErrNotFound (and nothing written) if there is
	// no such token, its ExpiresAt is not after at, or its Uses have
	// reached MaxUses; ErrConflict (and the use not spent) as for
	// CreateClient. Of concurrent calls with a token of n uses left, at
	// most n succeed. It returns the token as stored afterwards.
	CreateClientWithInitialAccessToken(ctx context.Context, c Client, digest []byte, at time.Time, ev AuditEvent) (InitialAccessToken, error)

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
	// RevokeClientTokens revokes everything issued to the client before
	// before: it records that the client's access tokens issued before
	// before are revoked, kept until expiresAt (when the last of them
	// expires); revokes (at before) every live refresh token family of the
	// client; and records ev, in one transaction. Revoking again keeps the
	// later of the two IssuedBefore and of the two ExpiresAt; RevokedAt is
	// stamped by the store's clock whenever either moves forward, so that
	// the revocation feed sends the entry again. The record does not
	// depend on the client: deleting the client keeps it. ErrNotFound (and
	// nothing written) if the client does not exist. If check is not nil,
	// it is called first, in the same transaction, with the client as
	// stored; if it returns an error, nothing is written and that error is
	// returned.
	RevokeClientTokens(ctx context.Context, clientID string, before, expiresAt time.Time, check func(Client) error, ev AuditEvent) error
	// IsTokenRevoked reports whether the access token with the ID jti,
	// issued to clientID at issuedAt (its "iat"), is revoked: jti is
	// recorded by RevokeToken, or RevokeClientTokens recorded for clientID
	// an IssuedBefore at or after issuedAt. (A token's iat is in whole
	// seconds, so a token issued in the same second as a client's
	// revocation, even just after it, counts as revoked.)
	IsTokenRevoked(ctx context.Context, jti, clientID string, issuedAt time.Time) (bool, error)
	// ListRevocations returns the revocations, of tokens and of clients'
	// tokens, with RevokedAt >= since whose ExpiresAt is after now, ordered
	// by RevokedAt, then JTI, then ClientID (bytewise), at most limit of
	// them (limit <= 0: all).
	ListRevocations(ctx context.Context, since, now time.Time, limit int) ([]Revocation, error)

	// CreateUser inserts u and records ev. ErrConflict if a user with u.ID
	// or the same username (case-insensitively) exists.
	CreateUser(ctx context.Context, u User, ev AuditEvent) error
	// GetUser returns the user with the ID. ErrNotFound if absent.
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByUsername returns the user whose username equals username
	// case-insensitively. ErrNotFound if absent.
	GetUserByUsername(ctx context.Context, username string) (User, error)
	// ListUsers returns all users ordered by lower-cased username (bytewise).
	ListUsers(ctx context.Context) ([]User, error)
	// ListUserPage returns, ordered like ListUsers, at most q.Limit users
	// whose lower-cased username sorts after q.After and that match
	// q.Search.
	ListUserPage(ctx context.Context, q UserQuery) ([]User, error)
	// UpdateUser loads the user, calls fn inside one transaction and saves
	// what fn left in *User, then records *ev (read after fn returns; nil
	// records nothing). fn also gets the number of other enabled users with
	// RoleAdmin, counted in the same transaction, serialised against every
	// other UpdateUser and DeleteUser call on the same database, so that fn
	// can refuse a change that would leave no enabled administrator. fn
	// must not change the ID. If fn returns an error, nothing is written and
	// that error is returned. A change of PasswordHash also deletes the
	// user's set-password tokens. ErrNotFound if absent; ErrConflict if the
	// new username is another user's.
	UpdateUser(ctx context.Context, id string, fn func(u *User, otherAdmins int) error, ev *AuditEvent) (User, error)
	// DeleteUser removes the user and, by cascade, their sessions,
	// consents, authorization codes, refresh tokens and set-password
	// tokens, and records *ev (read after fn returns). In the same
	// transaction, serialised against every other DeleteUser and UpdateUser
	// call on the same database, it first calls fn with the user and the
	// number of other enabled users with RoleAdmin; if fn returns an error,
	// nothing is written and that error is returned. ErrNotFound if absent.
	DeleteUser(ctx context.Context, id string, fn func(u User, otherAdmins int) error, ev *AuditEvent) error

	// CreateSetupToken inserts t. ErrConflict if its ID exists. Tokens
	// created earlier stay as they are.
	CreateSetupToken(ctx context.Context, t SetupToken) error
	// GetSetupToken returns the setup token. ErrNotFound if absent.
	GetSetupToken(ctx context.Context, id string) (SetupToken, error)
	// RedeemSetupToken creates the first administrator. In one transaction,
	// serialised against every other RedeemSetupToken call on the same
	// database (from any process), it returns ErrUsed if any user with
	// RoleAdmin exists, ErrNotFound if setup token id does not exist or its
	// ExpiresAt is not after at, and otherwise inserts u (stored as given,
	// role included; ErrConflict as for CreateUser), records ev and deletes
	// every setup token. A failed call writes nothing. Of concurrent calls,
	// with one token or with different ones, at most one inserts a user
	// with RoleAdmin.
	RedeemSetupToken(ctx context.Context, id string, at time.Time, u User, ev AuditEvent) error

	// CreateUserWithPasswordToken inserts u, as CreateUser does, and the
	// set-password token t for it, and records ev, in one transaction.
	// ErrConflict (and nothing written) if u's ID or username or t's ID is
	// taken; t.UserID must be u.ID.
	CreateUserWithPasswordToken(ctx context.Context, u User, t PasswordToken, ev AuditEvent) error
	// GetPasswordToken returns the set-password token. ErrNotFound if
	// absent.
	GetPasswordToken(ctx context.Context, id string) (PasswordToken, error)
	// RedeemPasswordToken spends set-password token id. In one transaction
	// it returns ErrNotFound if the token does not exist or its ExpiresAt
	// is not after at; otherwise it loads the token's user, calls fn with
	// it, saves what fn left in *User (fn must not change the ID; its error
	// is returned, nothing written and the token kept), deletes every
	// set-password token of the user, this one included, records *ev (read
	// after fn) and returns the user as stored. Of concurrent calls with one
	// token at most one succeeds; the others get ErrNotFound.
	RedeemPasswordToken(ctx context.Context, id string, at time.Time, fn func(*User) error, ev *AuditEvent) (User, error)

	// CreateSession inserts s. ErrConflict if its ID exists; ErrNotFound if
	// its user does not.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session. ErrNotFound if absent.
	GetSession(ctx context.Context, id string) (Session, error)
	// TouchSession moves the session's LastSeenAt forward to at; an earlier
	// time changes nothing. An unknown ID is not an error.
	TouchSession(ctx context.Context, id string, at time.Time) error
	// DeleteSession removes the session. Idempotent.
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions removes every session of the user (e.g. when the
	// user is disabled or the password reset). Idempotent.
	DeleteUserSessions(ctx context.Context, userID string) error

	// UpdateConsent loads the user's consent for the client (a Consent with
	// only UserID and ClientID set if there is none), calls fn inside one
	// transaction, serialised against every other UpdateConsent and
	// DeleteConsent of the same user and client, and saves what fn left in
	// *Consent (inserting it if there was none); it returns the consent as
	// stored. fn must not change UserID or ClientID. If fn returns an
	// error, nothing is written and that error is returned. ErrNotFound if
	// the user or the client does not exist.
	UpdateConsent(ctx context.Context, userID, clientID string, fn func(*Consent) error) (Consent, error)
	// GetConsent returns the user's consent for the client. ErrNotFound if
	// absent.
	GetConsent(ctx context.Context, userID, clientID string) (Consent, error)
	// ListConsents returns the user's consents ordered by ClientID.
	ListConsents(ctx context.Context, userID string) ([]Consent, error)
	// ListConsentPage returns, ordered by user ID and then client ID
	// (bytewise), at most q.Limit consents that match q's filters and sort
	// after (q.AfterUser, q.AfterClient).
	ListConsentPage(ctx context.Context, q ConsentQuery) ([]Consent, error)
	// DeleteConsent removes the consent, revokes (at ev.Time, or the
	// store's clock if that is zero) every live refresh token family of
	// clientID for userID, and records ev, in one transaction. ErrNotFound
	// (and nothing written) if there is no such consent.
	DeleteConsent(ctx context.Context, userID, clientID string, ev AuditEvent) error

	// CreateAuthCode inserts c. ErrConflict if its ID exists; ErrNotFound
	// if its client or user does not.
	CreateAuthCode(ctx context.Context, c AuthCode) error
	// RedeemAuthCode atomically marks the code used at at and returns it.
	// If it was already used it changes nothing and returns the stored code
	// and ErrUsed, so that the caller can revoke what the first redemption
	// issued. Of concurrent redeemers exactly one succeeds. ErrNotFound if
	// absent. The store does not check ExpiresAt.
	RedeemAuthCode(ctx context.Context, id string, at time.Time) (AuthCode, error)
	// RecordAuthCodeIssue stores what the redemption of the code issued.
	// ErrNotFound if absent.
	RecordAuthCodeIssue(ctx context.Context, id, accessJTI string, accessExpires time.Time, refreshFamilyID string) error

	// CreateRefreshToken inserts t as the first token of a new family.
	// ErrConflict if its ID or its FamilyID exists; ErrNotFound if its
	// client or (non-empty) user does not.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// GetRefreshToken returns the token. ErrNotFound if absent.
	GetRefreshToken(ctx context.Context, id string) (RefreshToken, error)
	// RotateRefreshToken, in one transaction serialised against every other
	// change to the token's family: loads token id (ErrNotFound if absent);
	// if its family is revoked, returns (t, ErrRevoked); if it was already
	// used (rotated), revokes its family at at and returns (t, ErrReused);
	// otherwise marks it used at at, inserts next into the same family and
	// returns the old token. The returned token is as stored afterwards.
	// next's FamilyID, ClientID, UserID and FamilyExpiresAt are the
	// family's (a FamilyID other than "" or the family's is an error).
	// ErrConflict (and nothing written) if next.ID exists. The store does
	// not check expiry times.
	RotateRefreshToken(ctx context.Context, id string, at time.Time, next RefreshToken) (RefreshToken, error)
	// RevokeRefreshFamily revokes every token of the family at at.
	// Idempotent: revoking again keeps the first time; an unknown family is
	// not an error.
	RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) error

	// ReserveIdempotencyKey inserts r, a request that starts running,
	// unless an unexpired record with its Key exists (one that expired at
	// or before now is replaced): then it returns that one and ErrConflict.
	ReserveIdempotencyKey(ctx context.Context, r IdempotencyRecord, now time.Time) (IdempotencyRecord, error)
	// FinishIdempotencyKey stores the response of a reserved key and its
	// new expiry. ErrNotFound if the key is not reserved.
	FinishIdempotencyKey(ctx context.Context, key string, status int, response []byte, expiresAt time.Time) error
	// ReleaseIdempotencyKey deletes a key, so that a retry runs the request
	// again (it failed). Deleting a missing key is not an error.
	ReleaseIdempotencyKey(ctx context.Context, key string) error

	// UseClientAssertionJTI records the jti of a client assertion of the
	// client that expires at expiresAt (RFC 7523 §3 item 7) and reports
	// whether it was new: false if the client has a record of that jti that
	// has not expired at now, which is then left as it is. An expired record
	// is replaced. ErrNotFound if there is no such client.
	UseClientAssertionJTI(ctx context.Context, clientID, jti string, expiresAt, now time.Time) (bool, error)

	// RecordAudit records ev, an event that goes with no other change
	// (a client over its issuance quota).
	RecordAudit(ctx context.Context, ev AuditEvent) error
	// ListAudit returns audit events, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)

	// Changes returns change-feed entries with At >= since, oldest first.
	Changes(ctx context.Context, since time.Time) ([]Change, error)
	// ChangesAfter returns at most limit change-feed entries that come
	// after the position of after (its At and Seq) in feed order, oldest
	// first: a page of the feed. An after with Seq 0 starts at its At
	// (Seq is positive).
	ChangesAfter(ctx context.Context, after Change, limit int) ([]Change, error)
	// LastChange returns the newest change-feed entry, or the zero Change
	// if the feed is empty: where a reader that needs nothing from the
	// past starts.
	LastChange(ctx context.Context) (Change, error)

	// SyncQuotas is one node's round of the issuance quotas, in one
	// transaction: it records that node was seen at now (a record of it
	// seen at or after seenAfter is left as it is, so that an idle node's
	// round writes nothing); calls fn with the other nodes' entries of the
	// windows that have not ended at now (Count and Reserved summed per
	// client, window and end) and the number of nodes (node included) seen
	// at or after activeSince; writes the entries fn returns as node's
	// (each replacing the node's entry of the same client, window and
	// end); and deletes the entries of windows that ended before
	// activeSince (which no node writes any more, so that rounds of
	// several nodes never wait for each other's rows) and the nodes not
	// seen for an hour. fn may be called more than once (a retried
	// transaction).
	SyncQuotas(ctx context.Context, node string, now, seenAfter, activeSince time.Time, fn func(others []QuotaCount, nodes int) []QuotaCount) error
	// QuotaCounts returns the client's counts of the windows that have not
	// ended at now, summed over every node, ordered by window.
	QuotaCounts(ctx context.Context, clientID string, now time.Time) ([]QuotaCount, error)

	// Prune deletes revocations (of tokens and of clients' tokens) that
	// expired before now, change-feed entries older than now minus one
	// hour, sessions that expired before now, authorization codes that
	// expired before now minus one hour, refresh token families (with
	// their tokens) whose FamilyExpiresAt is before now, setup tokens and
	// set-password tokens that expired before now, client assertion jtis
	// that expired before now, initial access tokens that expired before
	// now, and idempotency records that expired at or before now.
	Prune(ctx context.Context, now time.Time) error
	UsageStore // usage.go

	// SchemaVersion returns the database's applied schema migration
	// version and the newest version this build embeds (and Open applies).
	SchemaVersion(ctx context.Context) (applied, latest int64, err error)
	// Close releases the database.
	Close() error
}
