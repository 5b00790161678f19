package grant

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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

// RefreshPrefix starts every refresh token, so that leak scanners and the
// revocation endpoint can recognise one.
const RefreshPrefix = "ghr_"

// RefreshStore is the part of the store refresh tokens need.
type RefreshStore interface {
	CreateRefreshToken(ctx context.Context, t store.RefreshToken) error
	GetRefreshToken(ctx context.Context, id string) (store.RefreshToken, error)
	RotateRefreshToken(ctx context.Context, id string, at time.Time, next store.RefreshToken) (store.RefreshToken, error)
	RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) error
	GetUser(ctx context.Context, id string) (store.User, error)
}

// Refresher issues refresh tokens (RFC 6749 §6). A token is opaque: the
// prefix and 32 random bytes, base64url; only its SHA-256 is stored. Every
// use replaces it with a new token of the same family.
type Refresher struct {
	Store       RefreshStore
	Now         func() time.Time
	Rand        io.Reader
	IdleTTL     time.Duration // a token unused this long expires
	AbsoluteTTL time.Duration // a family ends this long after it started
}

// TokenID returns the stored identifier of a code or refresh token: the
// hex SHA-256 of the value.
func TokenID(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// randomToken returns prefix + 32 random bytes, base64url.
func randomToken(r io.Reader, prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Start begins a new refresh token family and returns its first token and
// the family's ID.
func (rf *Refresher) Start(ctx context.Context, clientID, userID string, scopes []string, accountID string) (tok, familyID string, err error) {
	return rf.StartFor(ctx, clientID, userID, scopes, accountID, Family{})
}

// Family is what a new refresh token family carries besides its client,
// user, scopes and account; every token of the family keeps it.
type Family struct {
	// Resources are the resources granted (RFC 8707); nil: the default
	// resource only.
	Resources []string
	// JKT is the thumbprint of the DPoP key the family is bound to (RFC
	// 9449 §5; "" = not bound): every refresh must carry a proof by that
	// key.
	JKT string
}

// StartFor is Start for a family that carries with.
func (rf *Refresher) StartFor(ctx context.Context, clientID, userID string, scopes []string, accountID string, with Family) (tok, familyID string, err error) {
	tok, err = randomToken(rf.Rand, RefreshPrefix)
	if err != nil {
		return "", "", err
	}
	fam, err := randomToken(rf.Rand, "")
	if err != nil {
		return "", "", err
	}
	familyID = TokenID(fam)[:32]
	now := rf.Now()
	famExp := now.Add(rf.AbsoluteTTL)
	err = rf.Store.CreateRefreshToken(ctx, store.RefreshToken{
		ID: TokenID(tok), FamilyID: familyID, ClientID: clientID, UserID: userID,
		Scopes: scopes, AccountID: accountID, CreatedAt: now,
		ExpiresAt: minTime(now.Add(rf.IdleTTL), famExp), FamilyExpiresAt: famExp,
		Resources: with.Resources, JKT: with.JKT,
	})
	if err != nil {
		return "", "", fmt.Errorf("create refresh token: %w", err)
	}
	return tok, familyID, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// RefreshToken is the refresh token grant (RFC 6749 §6) with rotation: the
// presented token is replaced by a new one, and presenting a replaced token
// again revokes the whole family (OAuth 2.0 Security BCP §4.14).
type RefreshToken struct {
	R *Refresher
}

var _ Grant = RefreshToken{}

// Type implements Grant.
func (RefreshToken) Type() string { return store.GrantRefreshToken }

// Issue implements Grant. req.Scopes are the scopes of the request's scope
// parameter, if it has one; they may narrow the token's scope, never widen it.
func (g RefreshToken) Issue(ctx context.Context, req *Request) (Result, error) {
	tok := req.Params.Get("refresh_token")
	if tok == "" {
		return Result{}, oauth.InvalidRequest("missing refresh_token parameter")
	}
	invalid := oauth.InvalidGrant("the refresh token is invalid, expired or revoked")
	if !strings.HasPrefix(tok, RefreshPrefix) {
		return Result{}, invalid
	}
	id := TokenID(tok)
	st, now := g.R.Store, g.R.Now()
	old, err := st.GetRefreshToken(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Result{}, invalid
	case err != nil:
		return Result{}, fmt.Errorf("load refresh token: %w", err)
	}
	if old.ClientID != req.Client.ID || !old.RevokedAt.IsZero() {
		return Result{}, invalid
	}
	if !old.UsedAt.IsZero() {
		// Reuse of a rotated token: someone holds a copy. End the family.
		if err := st.RevokeRefreshFamily(ctx, old.FamilyID, now); err != nil {
			return Result{}, fmt.Errorf("revoke refresh family: %w", err)
		}
		return Result{}, invalid
	}
	if !now.Before(old.ExpiresAt) || !now.Before(old.FamilyExpiresAt) {
		return Result{}, invalid
	}
	if old.UserID != "" {
		u, err := st.GetUser(ctx, old.UserID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return Result{}, invalid
		case err != nil:
			return Result{}, fmt.Errorf("load user: %w", err)
		case u.Disabled:
			return Result{}, invalid
		}
	} else if !req.Client.RefreshWithClientCredentials {
		return Result{}, invalid
	}

	// A family bound to a DPoP key (a public client's, RFC 9449 §5) is
	// refreshed only with a proof by that key.
	if old.JKT != "" && old.JKT != req.DPoPJKT {
		return Result{}, oauth.InvalidGrant("the refresh token is bound to a DPoP key: send a DPoP proof signed with that key")
	}

	scopes, account, err := narrow(req, old)
	if err != nil {
		return Result{}, err
	}
	// Before rotating: a resource that was not granted changes nothing.
	target, err := pickResource(req.Resource, req.DefaultResource, old.Resources)
	if err != nil {
		return Result{}, err
	}

	next, err := randomToken(g.R.Rand, RefreshPrefix)
	if err != nil {
		return Result{}, err
	}
	_, err = st.RotateRefreshToken(ctx, id, now, store.RefreshToken{
		ID: TokenID(next), FamilyID: old.FamilyID, ClientID: old.ClientID, UserID: old.UserID,
		Scopes: old.Scopes, AccountID: old.AccountID, CreatedAt: now,
		ExpiresAt:       minTime(now.Add(g.R.IdleTTL), old.FamilyExpiresAt),
		FamilyExpiresAt: old.FamilyExpiresAt, Resources: old.Resources,
	})
	switch {
	case errors.Is(err, store.ErrReused), errors.Is(err, store.ErrRevoked), errors.Is(err, store.ErrNotFound):
		return Result{}, invalid
	case err != nil:
		return Result{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	sub := old.UserID
	if sub == "" {
		sub = req.Client.ID
	}
	return Result{Subject: sub, Scopes: scopes, AccountID: account, RefreshToken: next,
		Resource: target, Resources: old.Resources}, nil
}

// narrow returns the scope of the new access token: the old token's (minus
// scopes the client has since lost), or the requested subset of it. The
// account restriction is kept either way.
func narrow(req *Request, old store.RefreshToken) ([]string, string, error) {
	if req.Params.Get("scope") == "" {
		var scopes []string
		for _, s := range old.Scopes {
			if strings.HasPrefix(s, scope.AccountPrefix) || slices.Contains(req.Client.Scopes, s) {
				scopes = append(scopes, s)
			}
		}
		return scopes, old.AccountID, nil
	}
	for _, s := range req.Scopes {
		if !slices.Contains(old.Scopes, s) {
			return nil, "", oauth.InvalidScope("scope %q was not granted to this refresh token; a refresh may narrow the scope, never widen it", s)
		}
	}
	scopes := req.Scopes
	if old.AccountID != "" && req.AccountID == "" {
		scopes = append(slices.Clip(scopes), scope.AccountPrefix+old.AccountID)
	}
	return scopes, old.AccountID, nil
}
