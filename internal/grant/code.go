package grant

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/scope"
)

// NewCode returns a new authorization code: 32 random bytes, base64url. It
// is stored by TokenID(code).
func NewCode(r io.Reader) (string, error) { return randomToken(r, "") }

// CodeStore is the part of the store the authorization code grant needs.
type CodeStore interface {
	RedeemAuthCode(ctx context.Context, id string, at time.Time) (store.AuthCode, error)
	RecordAuthCodeIssue(ctx context.Context, id, accessJTI string, accessExpires time.Time, refreshFamilyID string) error
	RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error
	RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) error
	GetUser(ctx context.Context, id string) (store.User, error)
}

// AuthorizationCode is the authorization code grant (RFC 6749 §4.1.3) with
// PKCE (RFC 7636). A code works once; a second use revokes what the first
// issued (RFC 6749 §4.1.2).
type AuthorizationCode struct {
	Store   CodeStore
	Refresh *Refresher // nil: never issue refresh tokens
	Now     func() time.Time
}

var _ Grant = AuthorizationCode{}

// Type implements Grant.
func (AuthorizationCode) Type() string { return store.GrantAuthorizationCode }

// Issue implements Grant. The token's scope is the code's; req.Scopes is ignored.
func (g AuthorizationCode) Issue(ctx context.Context, req *Request) (Result, error) {
	code := req.Params.Get("code")
	if code == "" {
		return Result{}, oauth.InvalidRequest("missing code parameter")
	}
	invalid := oauth.InvalidGrant("the authorization code is invalid, expired or already used")
	id := TokenID(code)
	now := g.Now()
	ac, err := g.Store.RedeemAuthCode(ctx, id, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Result{}, invalid
	case errors.Is(err, store.ErrUsed):
		if err := g.revokeIssued(ctx, ac, now); err != nil {
			return Result{}, err
		}
		return Result{}, invalid
	case err != nil:
		return Result{}, fmt.Errorf("redeem authorization code: %w", err)
	}
	if ac.ClientID != req.Client.ID || !now.Before(ac.ExpiresAt) {
		return Result{}, invalid
	}
	sent := req.Params.Get("redirect_uri")
	switch {
	case ac.RedirectURI != "" && sent != ac.RedirectURI:
		return Result{}, oauth.InvalidGrant("redirect_uri does not match the one of the authorization request")
	case ac.RedirectURI == "" && sent != "" && !(len(req.Client.RedirectURIs) == 1 && req.Client.RedirectURIs[0] == sent):
		return Result{}, oauth.InvalidGrant("redirect_uri does not match the client's redirect URI")
	}
	verifier := req.Params.Get("code_verifier")
	switch {
	case ac.CodeChallenge == "" && verifier != "":
		return Result{}, oauth.InvalidGrant("code_verifier sent, but the authorization request had no code_challenge")
	case ac.CodeChallenge != "" && verifier == "":
		return Result{}, oauth.InvalidGrant("missing code_verifier (PKCE, RFC 7636)")
	case ac.CodeChallenge != "" && !VerifyPKCE(verifier, ac.CodeChallenge):
		return Result{}, oauth.InvalidGrant("code_verifier does not match the code_challenge")
	}
	u, err := g.Store.GetUser(ctx, ac.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Result{}, invalid
	case err != nil:
		return Result{}, fmt.Errorf("load user: %w", err)
	case u.Disabled:
		return Result{}, invalid
	}
	var account string
	for _, s := range ac.Scopes {
		if strings.HasPrefix(s, scope.AccountPrefix) {
			account, _ = scope.AccountID(s)
		}
	}
	target, err := pickResource(req.Resource, req.DefaultResource, ac.Resources)
	if err != nil {
		return Result{}, err
	}
	res := Result{Subject: ac.UserID, Scopes: ac.Scopes, AccountID: account, Resource: target, Resources: ac.Resources}
	var family string
	if g.Refresh != nil && slices.Contains(req.Client.GrantTypes, store.GrantRefreshToken) {
		// A public client's refresh tokens are bound to its DPoP key, if it
		// sent a proof (RFC 9449 §5); a confidential client's are bound to
		// its credentials.
		var jkt string
		if req.Client.TokenEndpointAuthMethod == store.AuthMethodNone {
			jkt = req.DPoPJKT
		}
		res.RefreshToken, family, err = g.Refresh.StartFor(ctx, req.Client.ID, ac.UserID, ac.Scopes, account, Family{Resources: ac.Resources, JKT: jkt})
		if err != nil {
			return Result{}, err
		}
	}
	res.Issued = func(ctx context.Context, jti string, expires time.Time) error {
		if err := g.Store.RecordAuthCodeIssue(ctx, id, jti, expires, family); err != nil {
			return fmt.Errorf("record authorization code issue: %w", err)
		}
		return nil
	}
	return res, nil
}

// revokeIssued revokes the tokens a code's first redemption issued.
func (g AuthorizationCode) revokeIssued(ctx context.Context, ac store.AuthCode, now time.Time) error {
	if ac.AccessTokenJTI != "" {
		if err := g.Store.RevokeToken(ctx, ac.AccessTokenJTI, ac.AccessTokenExpires); err != nil {
			return fmt.Errorf("revoke access token of a replayed code: %w", err)
		}
	}
	if ac.RefreshFamilyID != "" {
		if err := g.Store.RevokeRefreshFamily(ctx, ac.RefreshFamilyID, now); err != nil {
			return fmt.Errorf("revoke refresh tokens of a replayed code: %w", err)
		}
	}
	return nil
}
