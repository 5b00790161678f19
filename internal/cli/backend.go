package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
)

// localClients runs the clients commands on the store, through the client
// service, and shows the results as the admin API does.
type localClients struct {
	st    store.Store
	svc   *clients.Service
	actor string
}

var _ clientsBackend = localClients{}

func (localClients) isRemote() bool { return false }

func (l localClients) create(ctx context.Context, nc admin.NewClient, secret string) (admin.Client, []string, error) {
	c, plain, err := l.svc.Create(ctx, l.actor, clients.Spec{
		ID: nc.ClientID, Name: nc.Name, Description: nc.Description, GrantTypes: nc.GrantTypes,
		Scopes: nc.Scopes, Accounts: nc.Accounts, RedirectURIs: nc.RedirectURIs, Audience: nc.Audience,
		Website: nc.Website, TokenEndpointAuthMethod: nc.TokenEndpointAuthMethod,
		RefreshWithClientCredentials: nc.RefreshWithClientCredentials,
		TokenTTL:                     time.Duration(nc.TokenTTLSeconds) * time.Second,
		PKCEOptional:                 nc.RequirePKCE != nil && !*nc.RequirePKCE,
		Secret:                       secret,
		JWKS:                         string(nc.JWKS), JWKSURI: nc.JWKSURI,
		Resources:      nc.Resources,
		DPoPRequired:   nc.DPoPBoundAccessTokens,
		QuotaPerMinute: nc.TokenQuotaPerMinute, QuotaPerHour: nc.TokenQuotaPerHour,
		ReuseMinRemaining: nc.TokenReuseMinRemaining,
	})
	if err != nil {
		return admin.Client{}, nil, err
	}
	out := adminapi.Client(c)
	out.ClientSecret = plain
	return out, l.svc.Warnings(c), nil
}

// list pages through the clients in the order the admin API lists them.
func (l localClients) list(ctx context.Context) ([]admin.Client, error) {
	const page = 200
	out := []admin.Client{}
	for after := ""; ; {
		cs, err := l.st.ListClientPage(ctx, store.ClientQuery{After: after, Limit: page})
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			out = append(out, adminapi.Client(c))
		}
		if len(cs) < page {
			return out, nil
		}
		after = cs[len(cs)-1].ID
	}
}

func (l localClients) get(ctx context.Context, id string) (admin.Client, error) {
	c, err := l.svc.Get(ctx, id)
	if err != nil {
		return admin.Client{}, err
	}
	return adminapi.Client(c), nil
}

func (l localClients) update(ctx context.Context, id string, p admin.ClientPatch) (admin.Client, []string, error) {
	cp := clients.Patch{
		Name: p.Name, Description: p.Description, Audience: p.Audience, Website: p.Website,
		GrantTypes: p.GrantTypes, Scopes: p.Scopes, Accounts: p.Accounts, RedirectURIs: p.RedirectURIs,
		Disabled: p.Disabled, RefreshWithClientCredentials: p.RefreshWithClientCredentials,
		TokenEndpointAuthMethod: p.TokenEndpointAuthMethod, JWKSURI: p.JWKSURI,
		Resources:      p.Resources,
		DPoPRequired:   p.DPoPBoundAccessTokens,
		QuotaPerMinute: p.TokenQuotaPerMinute, QuotaPerHour: p.TokenQuotaPerHour,
		ReuseMinRemaining: p.TokenReuseMinRemaining,
	}
	if p.JWKS != nil {
		s := string(p.JWKS)
		cp.JWKS = &s
	}
	if p.TokenTTLSeconds != nil {
		d := time.Duration(*p.TokenTTLSeconds) * time.Second
		cp.TokenTTL = &d
	}
	if p.RequirePKCE != nil {
		optional := !*p.RequirePKCE
		cp.PKCEOptional = &optional
	}
	c, plain, err := l.svc.UpdateIssuingSecret(ctx, l.actor, id, cp)
	if err != nil {
		return admin.Client{}, nil, err
	}
	out := adminapi.Client(c)
	out.ClientSecret = plain
	return out, l.svc.Warnings(c), nil
}

func (l localClients) delete(ctx context.Context, id string) error {
	return l.svc.Delete(ctx, l.actor, id)
}

func (l localClients) rotateSecret(ctx context.Context, id string, grace time.Duration, secret string) (admin.Rotation, error) {
	c, plain, err := l.svc.RotateSecret(ctx, l.actor, id, grace, secret)
	if err != nil {
		return admin.Rotation{}, err
	}
	newest := c.Secrets[len(c.Secrets)-1]
	return admin.Rotation{ClientID: c.ID, ClientSecret: plain, SecretID: newest.ID,
		GraceSeconds: int64(grace / time.Second), Secrets: adminapi.Secrets(c.Secrets)}, nil
}

func (l localClients) revokeSecret(ctx context.Context, id, secretID string) error {
	_, err := l.svc.RevokeSecret(ctx, l.actor, id, secretID)
	return err
}

func (l localClients) revokeTokens(ctx context.Context, id string) (admin.TokenRevocation, error) {
	at, err := l.svc.RevokeTokens(ctx, l.actor, id)
	if err != nil {
		return admin.TokenRevocation{}, err
	}
	return adminapi.TokenRevocation(id, at), nil
}

// remoteClients runs the clients commands through the admin API.
type remoteClients struct{ api *admin.API }

var _ clientsBackend = remoteClients{}

func (remoteClients) isRemote() bool { return true }

func (r remoteClients) create(ctx context.Context, nc admin.NewClient, _ string) (admin.Client, []string, error) {
	c, err := r.api.CreateClient(ctx, nc)
	return c, noScopeWarning(c), err
}

func (r remoteClients) list(ctx context.Context) ([]admin.Client, error) {
	out := []admin.Client{}
	for c, err := range r.api.AllClients(ctx, admin.ClientFilter{Limit: 200}) {
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (r remoteClients) get(ctx context.Context, id string) (admin.Client, error) {
	c, _, err := r.api.GetClient(ctx, id)
	return c, err
}

func (r remoteClients) update(ctx context.Context, id string, p admin.ClientPatch) (admin.Client, []string, error) {
	c, _, err := r.api.UpdateClient(ctx, id, p)
	return c, noScopeWarning(c), err
}

func (r remoteClients) delete(ctx context.Context, id string) error {
	return r.api.DeleteClient(ctx, id)
}

func (r remoteClients) rotateSecret(ctx context.Context, id string, grace time.Duration, _ string) (admin.Rotation, error) {
	return r.api.RotateSecret(ctx, id, grace)
}

func (r remoteClients) revokeSecret(ctx context.Context, id, secretID string) error {
	return r.api.RevokeSecret(ctx, id, secretID)
}

func (r remoteClients) revokeTokens(ctx context.Context, id string) (admin.TokenRevocation, error) {
	return r.api.RevokeTokens(ctx, id)
}

// noScopeWarning is the clients service's warning about a client allowed
// no scope, as far as the API's answer shows: the server accepts only
// scopes it knows, so a client it returns with none is the case.
func noScopeWarning(c admin.Client) []string {
	if c.ClientID == "" || len(c.Scopes) > 0 {
		return nil
	}
	return []string{fmt.Sprintf("client %q is allowed no scopes, so every token request it makes fails with invalid_scope", c.ClientID)}
}
