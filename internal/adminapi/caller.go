package adminapi

import (
	"context"
	"slices"

	"github.com/gatehouse/gatehouse/resource"
)

// caller is who makes an API call: the client of the access token.
type caller struct {
	clientID string
	// account is the account the token is restricted to, or "": a tenant
	// caller manages only the clients bound to it.
	account string
	// admin: the token has gatehouse:admin (and no account), so the caller
	// may give system scopes to clients.
	admin bool
}

func newCaller(c *resource.Claims) *caller {
	return &caller{
		clientID: c.ClientID,
		account:  c.AccountID,
		admin:    c.AccountID == "" && slices.Contains(c.Scopes, ScopeAdmin),
	}
}

// actor is the audit actor of the caller's changes.
func (c *caller) actor() string {
	if c.account != "" {
		return "api:" + c.clientID + " account:" + c.account
	}
	return "api:" + c.clientID
}

type callerKey struct{}

func withCaller(ctx context.Context, c *caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

func callerFrom(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	return c
}
