package admin

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"time"
)

// ClientFilter selects clients for [API.ListClients]. Zero values match
// every client.
type ClientFilter struct {
	// Q keeps the clients whose ID or name contains it, ignoring ASCII case.
	Q string
	// Account keeps the clients whose accounts list it.
	Account string
	// Limit is the size of a page: 1 to 200; 0 is the server's default (50).
	Limit int
	// Cursor is the NextCursor of the previous page; "" is the first page.
	Cursor string
}

// ClientPatch is a change to a client: a JSON merge patch (RFC 7396) of
// its writable members. Nil fields stay as they are; a pointer to an empty
// string, list or zero resets the member to its default (an empty list
// clears it; TokenTTLSeconds 0 is the server's default lifetime).
type ClientPatch struct {
	Name                         *string   `json:"name,omitempty"`
	Description                  *string   `json:"description,omitempty"`
	GrantTypes                   *[]string `json:"grant_types,omitempty"`
	Scopes                       *[]string `json:"scopes,omitempty"`
	Accounts                     *[]string `json:"accounts,omitempty"`
	RedirectURIs                 *[]string `json:"redirect_uris,omitempty"`
	Audience                     *string   `json:"audience,omitempty"`
	Website                      *string   `json:"website,omitempty"`
	TokenEndpointAuthMethod      *string   `json:"token_endpoint_auth_method,omitempty"`
	RefreshWithClientCredentials *bool     `json:"refresh_with_client_credentials,omitempty"`
	RequirePKCE                  *bool     `json:"require_pkce,omitempty"`
	TokenTTLSeconds              *int64    `json:"token_ttl_seconds,omitempty"`
	Disabled                     *bool     `json:"disabled,omitempty"`
	// JWKSURI or JWKS replaces the keys of a private_key_jwt client (and
	// clears the other).
	JWKSURI *string         `json:"jwks_uri,omitempty"`
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	// Resources replaces the client's resources (RFC 8707); an empty list
	// leaves it the default resource only.
	Resources *[]string `json:"resources,omitempty"`
	// DPoPBoundAccessTokens switches "DPoP required" (RFC 9449 §5.2).
	DPoPBoundAccessTokens *bool `json:"dpop_bound_access_tokens,omitempty"`
	// TokenQuotaPerMinute, TokenQuotaPerHour and TokenReuseMinRemaining
	// set the client's own quotas and reuse window (see Client); 0: the
	// server's default again.
	TokenQuotaPerMinute    *int `json:"token_quota_per_minute,omitempty"`
	TokenQuotaPerHour      *int `json:"token_quota_per_hour,omitempty"`
	TokenReuseMinRemaining *int `json:"token_reuse_min_remaining,omitempty"`
}

// ListClients returns a page of the clients that match f, ordered by ID
// (GET /clients).
func (a *API) ListClients(ctx context.Context, f ClientFilter) (Page[Client], error) {
	var p Page[Client]
	_, err := a.do(ctx, request{method: http.MethodGet, path: "/clients",
		query: pageQuery(f.Limit, f.Cursor, "q", f.Q, "account", f.Account)}, &p)
	return p, err
}

// AllClients iterates over every client that matches f, page after page
// (from f.Cursor on, f.Limit a page). An error ends the iteration.
func (a *API) AllClients(ctx context.Context, f ClientFilter) iter.Seq2[Client, error] {
	return all(f.Cursor, func(cursor string) (Page[Client], error) {
		f.Cursor = cursor
		return a.ListClients(ctx, f)
	})
}

// CreateClient registers a client (POST /clients). The result carries the
// client's secret in ClientSecret (none for a public client): it is shown
// only in this response. Retry with the same [IdempotencyKey] to get it
// again instead of a second client.
//
// A non-nil empty Scopes asks for a client allowed no scope; a nil one for
// the catalog's default scopes.
func (a *API) CreateClient(ctx context.Context, nc NewClient, opts ...CallOption) (Client, error) {
	body, err := jsonBody(nc)
	if err != nil {
		return Client{}, err
	}
	if nc.Scopes != nil && len(nc.Scopes) == 0 {
		// NewClient omits an empty list; the server reads [] as "none".
		// The body always has "name", so it ends with a member and "}".
		body = append(body[:len(body)-1], `,"scopes":[]}`...)
	}
	var c Client
	_, err = a.do(ctx, request{method: http.MethodPost, path: "/clients", body: body, ctype: "application/json", opts: opts}, &c)
	return c, err
}

// GetClient returns a client and its entity tag, for [IfMatch]
// (GET /clients/{id}).
func (a *API) GetClient(ctx context.Context, id string) (Client, string, error) {
	seg, err := segment("client", id)
	if err != nil {
		return Client{}, "", err
	}
	var c Client
	h, err := a.do(ctx, request{method: http.MethodGet, path: "/clients" + seg}, &c)
	return c, etagOf(h, err), err
}

// UpdateClient changes a client (PATCH /clients/{id}, a JSON merge patch)
// and returns it with its new entity tag. Pass [IfMatch] with the tag of
// the version the change was made from to refuse it if someone else changed
// the client meanwhile. If the patch makes a public client confidential,
// the result carries its new secret in ClientSecret, shown only here.
func (a *API) UpdateClient(ctx context.Context, id string, patch ClientPatch, opts ...CallOption) (Client, string, error) {
	seg, err := segment("client", id)
	if err != nil {
		return Client{}, "", err
	}
	body, err := jsonBody(patch)
	if err != nil {
		return Client{}, "", err
	}
	var c Client
	h, err := a.do(ctx, request{method: http.MethodPatch, path: "/clients" + seg, body: body,
		ctype: "application/merge-patch+json", opts: opts}, &c)
	return c, etagOf(h, err), err
}

// DeleteClient deletes a client; its secrets and tokens stop working
// (DELETE /clients/{id}). It takes [IfMatch].
func (a *API) DeleteClient(ctx context.Context, id string, opts ...CallOption) error {
	seg, err := segment("client", id)
	if err != nil {
		return err
	}
	_, err = a.do(ctx, request{method: http.MethodDelete, path: "/clients" + seg, opts: opts}, nil)
	return err
}

// ListSecrets returns the metadata of a client's secrets, oldest first
// (GET /clients/{id}/secrets).
func (a *API) ListSecrets(ctx context.Context, id string) ([]Secret, error) {
	seg, err := segment("client", id)
	if err != nil {
		return nil, err
	}
	var p Page[Secret]
	_, err = a.do(ctx, request{method: http.MethodGet, path: "/clients" + seg + "/secrets"}, &p)
	return p.Items, err
}

// RotateSecret issues a new secret for a client; its older secrets keep
// working for grace (0: they stop at once) (POST /clients/{id}/secrets).
// The new secret is in the result, shown only there; retry with the same
// [IdempotencyKey] to get it again instead of another secret.
func (a *API) RotateSecret(ctx context.Context, id string, grace time.Duration, opts ...CallOption) (Rotation, error) {
	seg, err := segment("client", id)
	if err != nil {
		return Rotation{}, err
	}
	if grace < 0 {
		return Rotation{}, errorf("negative grace period %s", grace)
	}
	body, err := jsonBody(struct {
		Grace string `json:"grace"`
	}{grace.String()})
	if err != nil {
		return Rotation{}, err
	}
	var r Rotation
	_, err = a.do(ctx, request{method: http.MethodPost, path: "/clients" + seg + "/secrets", body: body,
		ctype: "application/json", opts: opts}, &r)
	return r, err
}

// RevokeSecret makes one of a client's secrets stop working now
// (DELETE /clients/{id}/secrets/{secretID}).
func (a *API) RevokeSecret(ctx context.Context, id, secretID string, opts ...CallOption) error {
	seg, err := segment("client", id)
	if err != nil {
		return err
	}
	sseg, err := segment("secret", secretID)
	if err != nil {
		return err
	}
	_, err = a.do(ctx, request{method: http.MethodDelete, path: "/clients" + seg + "/secrets" + sseg, opts: opts}, nil)
	return err
}

// RevokeTokens revokes every access token issued to a client until now,
// and its refresh tokens (POST /clients/{id}/revoke-tokens).
func (a *API) RevokeTokens(ctx context.Context, id string, opts ...CallOption) (TokenRevocation, error) {
	seg, err := segment("client", id)
	if err != nil {
		return TokenRevocation{}, err
	}
	var r TokenRevocation
	_, err = a.do(ctx, request{method: http.MethodPost, path: "/clients" + seg + "/revoke-tokens", opts: opts}, &r)
	return r, err
}

// ClientQuota returns the client's issuance quotas in force and their use
// in the current minute and hour (GET /clients/{id}/quota).
func (a *API) ClientQuota(ctx context.Context, id string) (ClientQuota, error) {
	seg, err := segment("client", id)
	if err != nil {
		return ClientQuota{}, err
	}
	var q ClientQuota
	_, err = a.do(ctx, request{method: http.MethodGet, path: "/clients" + seg + "/quota"}, &q)
	return q, err
}

// etagOf is the ETag of a successful response.
func etagOf(h http.Header, err error) string {
	if err != nil || h == nil {
		return ""
	}
	return h.Get("ETag")
}
