// Package admin is the Go client of Gatehouse's admin API (/admin/v1/):
// the JSON types the API sends and accepts, and a typed client for it.
//
// [New] returns an [API] for a server's URL and a source of access tokens;
// [ClientCredentials] is one, for a client allowed the system scope
// gatehouse:admin (or gatehouse:admin:read, or gatehouse:clients). Every
// error response is an RFC 9457 problem, returned as a *[Problem]: compare
// its Type with the Problem* constants. Lists come in pages ([Page]); the
// All* methods iterate over every page. Updates and deletes take [IfMatch]
// for optimistic concurrency, creates an [IdempotencyKey] for safe retries.
//
// The types are also what `gatehouse clients|keys|users|audit ... --output
// json` prints, so scripts read the same fields locally and over the API.
package admin

import (
	"encoding/json"
	"time"
)

// Client is an OAuth client registration. ClientSecret is set only in the
// response that created the secret (a create, or a rotation).
type Client struct {
	ClientID                     string   `json:"client_id"`
	ClientSecret                 string   `json:"client_secret,omitempty"`
	Name                         string   `json:"name"`
	Description                  string   `json:"description,omitempty"`
	GrantTypes                   []string `json:"grant_types"`
	Scopes                       []string `json:"scopes"`
	Accounts                     []string `json:"accounts"`
	RedirectURIs                 []string `json:"redirect_uris"`
	Audience                     string   `json:"audience,omitempty"`
	Website                      string   `json:"website,omitempty"`
	TokenEndpointAuthMethod      string   `json:"token_endpoint_auth_method"`
	RefreshWithClientCredentials bool     `json:"refresh_with_client_credentials,omitempty"`
	RequirePKCE                  bool     `json:"require_pkce"`
	// JWKSURI or JWKS: the public keys of a private_key_jwt client (RFC
	// 7523 §2.2): the URL of its JSON Web Key Set, or the set itself.
	JWKSURI string          `json:"jwks_uri,omitempty"`
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	// DPoPBoundAccessTokens: every token request of the client must carry
	// a DPoP proof, so all its access tokens are bound to its key (RFC
	// 9449 §5.2).
	DPoPBoundAccessTokens bool      `json:"dpop_bound_access_tokens,omitempty"`
	TokenTTLSeconds       int64     `json:"token_ttl_seconds"`
	Disabled              bool      `json:"disabled"`
	CreatedAt             time.Time `json:"created_at"`
	UpdatedAt             time.Time `json:"updated_at"`
	Secrets               []Secret  `json:"secrets"`
	// Resources are the resource identifiers (RFC 8707) the client may get
	// tokens for besides the default resource; its scopes may be theirs.
	Resources []string `json:"resources,omitempty"`
	// SelfRegistered is set for a client that registered itself (RFC
	// 7591): the policy it registered under, open or
	// initial_access_token; empty for a client an operator created.
	SelfRegistered string `json:"self_registered,omitempty"`
	// TokenQuotaPerMinute and TokenQuotaPerHour: the client's own issuance
	// quotas (access tokens per minute and per hour); absent or 0: the
	// server's default, -1: none. GET .../quota shows the quotas in force
	// and their use.
	TokenQuotaPerMinute int `json:"token_quota_per_minute,omitempty"`
	TokenQuotaPerHour   int `json:"token_quota_per_hour,omitempty"`
	// TokenReuseMinRemaining: the client's own token reuse window, the
	// percentage of its lifetime an access token must have left to be
	// handed out again for the same request; absent or 0: the server's
	// default, -1: off.
	TokenReuseMinRemaining int `json:"token_reuse_min_remaining,omitempty"`
}

// ClientQuota is the response of GET /admin/v1/clients/{id}/quota: the
// client's issuance quotas in force (its own or the server's default; 0:
// none) and the tokens issued in the current minute and hour across all
// nodes, as they last reported (a second or two behind).
type ClientQuota struct {
	ClientID         string     `json:"client_id"`
	PerMinute        int        `json:"per_minute"`
	PerHour          int        `json:"per_hour"`
	IssuedThisMinute int64      `json:"issued_this_minute"`
	IssuedThisHour   int64      `json:"issued_this_hour"`
	MinuteEndsAt     *time.Time `json:"minute_ends_at,omitempty"`
	HourEndsAt       *time.Time `json:"hour_ends_at,omitempty"`
}

// Secret is the metadata of a client secret; the secret itself is never
// stored, only shown once.
type Secret struct {
	ID         string     `json:"id"`
	Hint       string     `json:"hint"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// NewClient is the body of POST /admin/v1/clients. Only Name is required;
// a nil list takes the server's default (scopes: the catalog's default
// scopes; grant types: client_credentials).
type NewClient struct {
	ClientID                     string   `json:"client_id,omitempty"`
	Name                         string   `json:"name"`
	Description                  string   `json:"description,omitempty"`
	GrantTypes                   []string `json:"grant_types,omitempty"`
	Scopes                       []string `json:"scopes,omitempty"`
	Accounts                     []string `json:"accounts,omitempty"`
	RedirectURIs                 []string `json:"redirect_uris,omitempty"`
	Audience                     string   `json:"audience,omitempty"`
	Website                      string   `json:"website,omitempty"`
	TokenEndpointAuthMethod      string   `json:"token_endpoint_auth_method,omitempty"`
	RefreshWithClientCredentials bool     `json:"refresh_with_client_credentials,omitempty"`
	RequirePKCE                  *bool    `json:"require_pkce,omitempty"`
	TokenTTLSeconds              int64    `json:"token_ttl_seconds,omitempty"`
	// JWKSURI or JWKS (exactly one) for token_endpoint_auth_method
	// private_key_jwt: the client's public keys; it then has no secret.
	JWKSURI string          `json:"jwks_uri,omitempty"`
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	// Resources are configured resources (RFC 8707) the client may get
	// tokens for besides the default one.
	Resources []string `json:"resources,omitempty"`
	// DPoPBoundAccessTokens requires a DPoP proof with every token request
	// (RFC 9449 §5.2).
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`
	// TokenQuotaPerMinute, TokenQuotaPerHour and TokenReuseMinRemaining:
	// see Client; absent: the server's defaults.
	TokenQuotaPerMinute    int `json:"token_quota_per_minute,omitempty"`
	TokenQuotaPerHour      int `json:"token_quota_per_hour,omitempty"`
	TokenReuseMinRemaining int `json:"token_reuse_min_remaining,omitempty"`
}

// Rotation is the response of a secret rotation: the new secret, once.
type Rotation struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	SecretID     string   `json:"secret_id"`
	GraceSeconds int64    `json:"grace_seconds"`
	Secrets      []Secret `json:"secrets"`
}

// TokenRevocation is the response of POST /admin/v1/clients/{id}/revoke-tokens:
// every access token of the client issued until IssuedBefore (to the
// second: see IATBefore) is revoked, and so are its refresh tokens.
type TokenRevocation struct {
	ClientID     string    `json:"client_id"`
	IssuedBefore time.Time `json:"issued_before"`
	// IATBefore is the feed's iat_before: access tokens whose iat (whole
	// seconds) is less than it are revoked, so one issued in the same
	// second as IssuedBefore is too.
	IATBefore int64 `json:"iat_before"`
}

// User is a console user. SetPasswordURL is set only in the response that
// created a user without a password: a one-time link, valid until
// SetPasswordExpiresAt, where the user chooses one.
type User struct {
	ID                   string     `json:"id"`
	Username             string     `json:"username"`
	DisplayName          string     `json:"display_name"`
	Role                 string     `json:"role"`
	Disabled             bool       `json:"disabled"`
	CreatedAt            time.Time  `json:"created_at"`
	UpdatedAt            time.Time  `json:"updated_at"`
	SetPasswordURL       string     `json:"set_password_url,omitempty"`
	SetPasswordExpiresAt *time.Time `json:"set_password_expires_at,omitempty"`
}

// NewUser is the body of POST /admin/v1/users. Without a Password the
// response carries a one-time set-password link.
type NewUser struct {
	Username    string `json:"username"`
	DisplayName string `json:"display_name,omitempty"`
	Role        string `json:"role,omitempty"` // admin or member (default)
	Password    string `json:"password,omitempty"`
}

// Consent is a user's consent to a client (an app the user authorized).
// ID is "<user_id>:<client_id>".
type Consent struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	GrantedAt time.Time `json:"granted_at"`
}

// AuditEvent is one entry of the audit trail.
type AuditEvent struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail"`
}

// Page is one page of a list. NextCursor, when not empty, is the cursor
// of the next page (?cursor=); the last page has none.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Scope is a scope of the API's catalog.
type Scope struct {
	Name        string     `json:"name"`
	Label       string     `json:"label"`
	Default     bool       `json:"default"`
	SelfService bool       `json:"self_service"`
	Endpoints   []Endpoint `json:"endpoints"`
}

// InitialAccessToken is an initial access token: it lets its holder
// register clients at the server's registration endpoint (RFC 7591 §3),
// MaxUses times until ExpiresAt. Token is set only in the response that
// created it; only its SHA-256 is stored.
type InitialAccessToken struct {
	ID          string    `json:"id"`
	Token       string    `json:"token,omitempty"`
	Description string    `json:"description,omitempty"`
	MaxUses     int       `json:"max_uses"`
	Uses        int       `json:"uses"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// NewInitialAccessToken is the body of POST /registration/tokens.
type NewInitialAccessToken struct {
	// MaxUses is how many clients it may register; 0: 1.
	MaxUses int `json:"max_uses,omitempty"`
	// ExpiresInSeconds is how long it is valid; required.
	ExpiresInSeconds int64  `json:"expires_in_seconds"`
	Description      string `json:"description,omitempty"`
}

// Endpoint is what a scope allows: a path pattern relative to the API's
// base path ("*" is one segment, or one or more at the end) and the
// methods (none: every method).
type Endpoint struct {
	Pattern string   `json:"pattern"`
	Methods []string `json:"methods,omitempty"`
}

// Key is a token signing key (never its private part).
type Key struct {
	ID        string `json:"id"`
	Algorithm string `json:"algorithm"`
	// State is next (published, not signing yet), active (signing),
	// retired (published while its tokens may be valid) or expired.
	State          string     `json:"state"`
	CreatedAt      time.Time  `json:"created_at"`
	ActiveAt       time.Time  `json:"active_at"`
	RetiredAt      *time.Time `json:"retired_at,omitempty"`
	PublishedUntil *time.Time `json:"published_until,omitempty"`
}
