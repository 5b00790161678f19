// Package grant implements the OAuth 2.0 grant types. The token endpoint's
// dispatcher authenticates the client, checks that it may use the grant and
// resolves the requested scope before a grant runs, and mints and writes the
// token after it; a grant only decides for whom the token is issued.
package grant

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Params gives a grant read access to the token request's parameters.
type Params interface {
	Get(key string) string
}

// Request is a token request from an authenticated client.
type Request struct {
	Client    *store.Client
	Params    Params
	Scopes    []string // requested scopes, already checked against the client's allowance
	AccountID string   // from an account:<id> scope, already checked; "" if none
	// Resource is the resource parameter (RFC 8707), already checked to be
	// a resource the client may use; "" if none. DefaultResource is the
	// identifier of the client's default resource (its audience).
	Resource, DefaultResource string
	// DPoPJKT is the thumbprint of the key of the request's verified DPoP
	// proof (RFC 9449 §5); "" without one. A public client's refresh
	// tokens are bound to it.
	DPoPJKT string
}

// Result says what the token is for.
type Result struct {
	Subject   string
	Scopes    []string
	AccountID string
	// Resource is the resource the token is for ("" = the default);
	// Resources are all the grant covers (an authorization code's, a
	// refresh token's; empty = the default resource only), which a
	// dispatcher narrows the scopes to Resource's with.
	Resource  string
	Resources []string
	// RefreshToken, if not "", is returned with the access token.
	RefreshToken string
	// Issued, if not nil, is called with the access token's ID and expiry
	// once it has been minted.
	Issued func(ctx context.Context, jti string, expires time.Time) error
}

// Grant is one grant type (RFC 6749 §4).
type Grant interface {
	// Type is the grant_type value, e.g. "client_credentials".
	Type() string
	// Issue validates the grant-specific parameters and returns the token's
	// subject and scope. Errors are *oauth.Error values.
	Issue(ctx context.Context, req *Request) (Result, error)
}

// ClientCredentials is the client credentials grant (RFC 6749 §4.4): the
// client acts on its own behalf, so the subject is the client itself.
// Clients registered with RefreshWithClientCredentials also get a refresh
// token, if Refresh is set.
type ClientCredentials struct {
	Refresh *Refresher
}

var _ Grant = ClientCredentials{}

// Type implements Grant.
func (ClientCredentials) Type() string { return store.GrantClientCredentials }

// Issue implements Grant.
func (g ClientCredentials) Issue(ctx context.Context, req *Request) (Result, error) {
	res := Result{Subject: req.Client.ID, Scopes: req.Scopes, AccountID: req.AccountID, Resource: req.Resource}
	if req.Resource != "" {
		res.Resources = []string{req.Resource}
	}
	c := req.Client
	if g.Refresh != nil && c.RefreshWithClientCredentials && slices.Contains(c.GrantTypes, store.GrantRefreshToken) {
		var err error
		// A confidential client's refresh tokens are bound to its
		// credentials, not to a DPoP key (RFC 9449 §5).
		res.RefreshToken, _, err = g.Refresh.StartFor(ctx, c.ID, "", req.Scopes, req.AccountID, Family{Resources: res.Resources})
		if err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// pickResource returns the resource a token is for: the one the request
// named (requested, "" if none), which must be among those granted (or,
// with none granted, the default resource, defaultID); or with none named,
// the one granted, or the default resource ("") if none was. A grant of
// several resources needs the request to name one (RFC 8707 §2.2).
func pickResource(requested, defaultID string, granted []string) (string, error) {
	if requested == "" {
		switch len(granted) {
		case 0:
			return "", nil
		case 1:
			return granted[0], nil
		}
		return "", oauth.InvalidTarget("this grant covers several resources (%s); name one with the resource parameter", strings.Join(granted, " "))
	}
	if slices.Contains(granted, requested) || len(granted) == 0 && requested == defaultID {
		return requested, nil
	}
	return "", oauth.InvalidTarget("resource %q was not granted; a token may be for a resource of the authorization only (RFC 8707 §2.2)", requested)
}
