package adminapi

import (
	"encoding/json"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/token"
)

// The store's values as the API (and the CLI's --output json) shows them.
// Times are in UTC, to the microsecond, as the store keeps them: a value
// just written shows (and hashes into its ETag) as it will read back.

// Client returns c as the API shows it, without a secret.
func Client(c store.Client) admin.Client {
	j := admin.Client{
		ClientID: c.ID, Name: c.Name, Description: c.Description,
		GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes), Accounts: nonNil(c.Accounts),
		RedirectURIs: nonNil(c.RedirectURIs), Audience: c.Audience, Website: c.Website,
		TokenEndpointAuthMethod: c.AuthMethod(), RefreshWithClientCredentials: c.RefreshWithClientCredentials,
		RequirePKCE: !c.PKCEOptional, TokenTTLSeconds: int64(c.TokenTTL / time.Second), Disabled: c.Disabled,
		CreatedAt: stored(c.CreatedAt), UpdatedAt: stored(c.UpdatedAt), Secrets: Secrets(c.Secrets),
	}
	if c.JWKS != "" {
		j.JWKS = json.RawMessage(c.JWKS)
	}
	j.JWKSURI = c.JWKSURI
	j.Resources = c.Resources
	j.DPoPBoundAccessTokens = c.DPoPRequired
	j.SelfRegistered = c.SelfRegistered
	j.TokenQuotaPerMinute, j.TokenQuotaPerHour = c.QuotaPerMinute, c.QuotaPerHour
	j.TokenReuseMinRemaining = c.ReuseMinRemaining
	return j
}

// Secrets returns the metadata of secrets.
func Secrets(secrets []store.Secret) []admin.Secret {
	out := make([]admin.Secret, 0, len(secrets))
	for _, s := range secrets {
		out = append(out, admin.Secret{ID: s.ID, Hint: s.Hint, CreatedAt: stored(s.CreatedAt),
			ExpiresAt: timePtr(s.ExpiresAt), LastUsedAt: timePtr(s.LastUsedAt)})
	}
	return out
}

// User returns u as the API shows it: never its password hash.
func User(u store.User) admin.User {
	return admin.User{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: u.Role,
		Disabled: u.Disabled, CreatedAt: stored(u.CreatedAt), UpdatedAt: stored(u.UpdatedAt)}
}

// Key returns k as the API shows it: never its private part.
func Key(k token.KeyInfo) admin.Key {
	return admin.Key{ID: k.ID, Algorithm: k.Algorithm, State: k.State, CreatedAt: stored(k.CreatedAt),
		ActiveAt: stored(k.ActiveAt), RetiredAt: timePtr(k.RetiredAt), PublishedUntil: timePtr(k.PublishedUntil)}
}

// Consent returns c as the API shows it, with its ID "<user_id>:<client_id>".
func Consent(c store.Consent) admin.Consent {
	return admin.Consent{ID: c.UserID + ":" + c.ClientID, UserID: c.UserID, ClientID: c.ClientID,
		Scopes: nonNil(c.Scopes), GrantedAt: stored(c.GrantedAt)}
}

// AuditEvent returns e as the API shows it.
func AuditEvent(e store.AuditEvent) admin.AuditEvent {
	return admin.AuditEvent{ID: e.ID, Time: stored(e.Time), Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: e.Detail}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := stored(t)
	return &u
}

func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// TokenRevocation is the revocation of every token issued to the client
// until at (clients.Service.RevokeTokens).
func TokenRevocation(id string, at time.Time) admin.TokenRevocation {
	return admin.TokenRevocation{ClientID: id, IssuedBefore: stored(at), IATBefore: clients.IATBefore(at)}
}
