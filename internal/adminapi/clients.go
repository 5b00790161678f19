package adminapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/duration"
	"github.com/gatehouse/gatehouse/internal/store"
)

func (a *API) clientRoutes() {
	a.handleTenant("GET /clients", a.listClients)
	a.handleTenant("POST /clients", a.createClient)
	a.handleTenant("GET /clients/{client}", a.showClient)
	a.handleTenant("PATCH /clients/{client}", a.patchClient)
	a.handleTenant("DELETE /clients/{client}", a.deleteClient)
	a.handleTenant("GET /clients/{client}/secrets", a.listSecrets)
	a.handleTenant("POST /clients/{client}/secrets", a.rotateSecret)
	a.handleTenant("DELETE /clients/{client}/secrets/{secret}", a.revokeSecret)
	a.handleTenant("POST /clients/{client}/revoke-tokens", a.revokeTokens)
	a.handleTenant("GET /clients/{client}/quota", a.clientQuota)
}

func clientPath(id string) string { return Prefix + "/clients/" + id }

// GET /clients?limit&cursor&q&account
func (a *API) listClients(w http.ResponseWriter, r *http.Request, c *caller) error {
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	list, err := a.o.Store.ListClientPage(r.Context(), store.ClientQuery{
		After: after, Limit: limit + 1, Search: q.Get("q"), Account: q.Get("account"), Owner: c.account,
	})
	if err != nil {
		return err
	}
	out := make([]admin.Client, len(list))
	for i, cl := range list {
		out[i] = Client(cl)
	}
	return writeJSON(w, http.StatusOK, pageOf(out, limit, func(cl admin.Client) string { return cl.ClientID }))
}

// POST /clients
func (a *API) createClient(w http.ResponseWriter, r *http.Request, c *caller) error {
	return a.idem.run(w, r, c, func(w http.ResponseWriter, r *http.Request) error {
		var in admin.NewClient
		if err := readJSON(r, &in); err != nil {
			return err
		}
		sp := clients.Spec{
			ID: in.ClientID, Name: in.Name, Description: in.Description, GrantTypes: in.GrantTypes,
			Scopes: in.Scopes, Accounts: in.Accounts, RedirectURIs: in.RedirectURIs, Audience: in.Audience,
			Website: in.Website, TokenEndpointAuthMethod: in.TokenEndpointAuthMethod,
			RefreshWithClientCredentials: in.RefreshWithClientCredentials,
			TokenTTL:                     time.Duration(in.TokenTTLSeconds) * time.Second,
			PKCEOptional:                 in.RequirePKCE != nil && !*in.RequirePKCE,
			JWKS:                         string(in.JWKS), JWKSURI: in.JWKSURI,
			Resources:      in.Resources,
			DPoPRequired:   in.DPoPBoundAccessTokens,
			QuotaPerMinute: in.TokenQuotaPerMinute, QuotaPerHour: in.TokenQuotaPerHour,
			ReuseMinRemaining: in.TokenReuseMinRemaining,
		}
		if in.TokenTTLSeconds < 0 {
			return invalid("/token_ttl_seconds", "must not be negative; 0 is the server's default")
		}
		if err := c.checkJWKSURI(in.JWKSURI); err != nil {
			return err
		}
		if err := c.checkResources(in.Resources); err != nil {
			return err
		}
		if c.account != "" {
			if sp.Accounts != nil {
				if err := c.checkAccounts(sp.Accounts); err != nil {
					return err
				}
			}
			sp.Accounts = []string{c.account}
			if sp.Scopes == nil {
				if sp.Scopes = a.tenantDefaults(); len(sp.Scopes) == 0 {
					return invalid("/scopes", "name the client's scopes: the catalog has no default self-service scope (self-service scopes: "+orNone(a.o.Catalog.SelfService())+")")
				}
			}
		}
		if err := a.checkScopes(c, "/scopes", sp.Scopes); err != nil {
			return err
		}
		cl, secret, err := a.o.Clients.Create(r.Context(), c.actor(), sp)
		if err != nil {
			return err
		}
		out := Client(cl)
		w.Header().Set("Location", clientPath(cl.ID))
		w.Header().Set("ETag", clientETag(out))
		out.ClientSecret = secret
		return writeJSON(w, http.StatusCreated, out)
	})
}

// GET /clients/{client}
func (a *API) showClient(w http.ResponseWriter, r *http.Request, c *caller) error {
	cl, err := a.getClient(r, c, r.PathValue("client"))
	if err != nil {
		return err
	}
	out := Client(cl)
	w.Header().Set("ETag", clientETag(out))
	return writeJSON(w, http.StatusOK, out)
}

// PATCH /clients/{client}: a JSON merge patch (RFC 7396) of the client's
// writable members; null resets a member to its default.
func (a *API) patchClient(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := checkContentType(r, "application/merge-patch+json", "application/json"); err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		return jsonProblem(err)
	}
	p, err := a.clientPatch(c, raw)
	if err != nil {
		return err
	}
	ifMatch := func(cl store.Client) error { return checkIfMatch(r, clientETag(Client(cl))) }
	cl, secret, err := a.o.Clients.UpdateIssuingSecret(r.Context(), c.actor(), r.PathValue("client"), p, c.requires(ifMatch)...)
	if err != nil {
		return err
	}
	out := Client(cl)
	w.Header().Set("ETag", clientETag(out))
	out.ClientSecret = secret // set when the patch made a public client confidential
	return writeJSON(w, http.StatusOK, out)
}

// clientPatch turns a merge patch into a clients.Patch.
func (a *API) clientPatch(c *caller, raw map[string]json.RawMessage) (clients.Patch, error) {
	var p clients.Patch
	str := func(dst **string) func(json.RawMessage) error {
		return func(v json.RawMessage) error {
			s := ""
			*dst = &s
			return json.Unmarshal(v, &s)
		}
	}
	list := func(dst **[]string) func(json.RawMessage) error {
		return func(v json.RawMessage) error {
			l := []string{}
			*dst = &l
			return json.Unmarshal(v, &l)
		}
	}
	flag := func(dst **bool, null bool) func(json.RawMessage) error {
		return func(v json.RawMessage) error {
			b := null
			*dst = &b
			return json.Unmarshal(v, &b)
		}
	}
	num := func(dst **int) func(json.RawMessage) error { // null: 0, the server's default
		return func(v json.RawMessage) error {
			n := 0
			*dst = &n
			if string(v) == "null" {
				return nil
			}
			return json.Unmarshal(v, &n)
		}
	}
	var requirePKCE *bool
	var ttl *int64
	fields := map[string]func(json.RawMessage) error{
		"name": str(&p.Name), "description": str(&p.Description), "audience": str(&p.Audience),
		"website": str(&p.Website), "token_endpoint_auth_method": str(&p.TokenEndpointAuthMethod),
		"grant_types": list(&p.GrantTypes), "scopes": list(&p.Scopes), "accounts": list(&p.Accounts),
		"redirect_uris": list(&p.RedirectURIs), "resources": list(&p.Resources),
		"disabled": flag(&p.Disabled, false), "refresh_with_client_credentials": flag(&p.RefreshWithClientCredentials, false),
		"require_pkce":              flag(&requirePKCE, true),
		"dpop_bound_access_tokens":  flag(&p.DPoPRequired, false),
		"token_quota_per_minute":    num(&p.QuotaPerMinute),
		"token_quota_per_hour":      num(&p.QuotaPerHour),
		"token_reuse_min_remaining": num(&p.ReuseMinRemaining),
		"jwks_uri":                  str(&p.JWKSURI),
		"jwks": func(v json.RawMessage) error {
			s := ""
			if string(v) != "null" {
				var set map[string]json.RawMessage
				if err := json.Unmarshal(v, &set); err != nil {
					return err
				}
				s = string(v)
			}
			p.JWKS = &s
			return nil
		},
		"token_ttl_seconds": func(v json.RawMessage) error {
			var n int64
			ttl = &n
			return json.Unmarshal(v, &n)
		},
	}
	for name, v := range raw {
		set, ok := fields[name]
		switch {
		case name == "client_secret" || name == "secrets":
			return p, invalid("/"+name, name+" cannot be patched; rotate secrets with POST "+clientPath("{id}")+"/secrets")
		case name == "client_id" || name == "created_at" || name == "updated_at":
			return p, invalid("/"+name, name+" cannot be changed")
		case !ok:
			return p, problem(admin.ProblemMalformed, http.StatusBadRequest, "/"+name, "unknown member "+name)
		}
		// null leaves the new value at its zero (or, for require_pkce,
		// true): the member's default.
		if err := set(v); err != nil {
			return p, problem(admin.ProblemMalformed, http.StatusBadRequest, "/"+name, "wrong type: "+err.Error())
		}
	}
	if requirePKCE != nil {
		optional := !*requirePKCE
		p.PKCEOptional = &optional
	}
	if ttl != nil {
		if *ttl < 0 {
			return p, invalid("/token_ttl_seconds", "must not be negative; 0 is the server's default")
		}
		d := time.Duration(*ttl) * time.Second
		p.TokenTTL = &d
	}
	if p.Scopes != nil {
		if err := a.checkScopes(c, "/scopes", *p.Scopes); err != nil {
			return p, err
		}
	}
	if p.Accounts != nil {
		if err := c.checkAccounts(*p.Accounts); err != nil {
			return p, err
		}
	}
	if p.JWKSURI != nil {
		if err := c.checkJWKSURI(*p.JWKSURI); err != nil {
			return p, err
		}
	}
	if p.Resources != nil {
		if err := c.checkResources(*p.Resources); err != nil {
			return p, err
		}
	}
	return p, nil
}

// DELETE /clients/{client}
func (a *API) deleteClient(w http.ResponseWriter, r *http.Request, c *caller) error {
	ifMatch := func(cl store.Client) error { return checkIfMatch(r, clientETag(Client(cl))) }
	if err := a.o.Clients.Delete(r.Context(), c.actor(), r.PathValue("client"), c.requires(ifMatch)...); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET /clients/{client}/secrets: the secrets' metadata.
func (a *API) listSecrets(w http.ResponseWriter, r *http.Request, c *caller) error {
	cl, err := a.getClient(r, c, r.PathValue("client"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, admin.Page[admin.Secret]{Items: Secrets(cl.Secrets)})
}

// POST /clients/{client}/secrets {"grace": "24h"}: a new secret; the older
// ones keep working for the grace period (default 24h; "0s": stop now).
func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request, c *caller) error {
	return a.idem.run(w, r, c, func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Grace *string `json:"grace"`
		}
		if r.ContentLength != 0 {
			if err := readJSON(r, &in); err != nil {
				return err
			}
		}
		grace := clients.DefaultGrace
		if in.Grace != nil {
			g, err := duration.Parse(*in.Grace)
			if err != nil || g < 0 {
				return invalid("/grace", fmt.Sprintf("grace %q is not a duration such as 24h, 30m or 0s", *in.Grace))
			}
			grace = g
		}
		id := r.PathValue("client")
		cl, secret, err := a.o.Clients.RotateSecret(r.Context(), c.actor(), id, grace, "", c.requires()...)
		if err != nil {
			return err
		}
		newest := cl.Secrets[len(cl.Secrets)-1]
		w.Header().Set("Location", clientPath(id)+"/secrets/"+newest.ID)
		return writeJSON(w, http.StatusCreated, admin.Rotation{ClientID: cl.ID, ClientSecret: secret, SecretID: newest.ID,
			GraceSeconds: int64(grace / time.Second), Secrets: Secrets(cl.Secrets)})
	})
}

// DELETE /clients/{client}/secrets/{secret}: the secret stops working now.
func (a *API) revokeSecret(w http.ResponseWriter, r *http.Request, c *caller) error {
	if _, err := a.o.Clients.RevokeSecret(r.Context(), c.actor(), r.PathValue("client"), r.PathValue("secret"), c.requires()...); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// POST /clients/{client}/revoke-tokens: every access token issued to the
// client until now is revoked (introspection at once; gateways and
// resource servers at their next poll of the revocation feed), and every
// refresh token. For the incident where a client's secret leaked: rotate
// the secret away too.
func (a *API) revokeTokens(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := r.PathValue("client")
	at, err := a.o.Clients.RevokeTokens(r.Context(), c.actor(), id, c.requires()...)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, TokenRevocation(id, at))
}

// GET /clients/{client}/quota: the client's issuance quotas in force and
// the tokens issued in the current minute and hour, from the counts the
// nodes report every second.
func (a *API) clientQuota(w http.ResponseWriter, r *http.Request, c *caller) error {
	cl, err := a.getClient(r, c, r.PathValue("client"))
	if err != nil {
		return err
	}
	u, err := a.o.Server().ClientQuotaUsage(r.Context(), cl)
	if err != nil {
		return err
	}
	out := admin.ClientQuota{ClientID: cl.ID, PerMinute: u.PerMinute, PerHour: u.PerHour,
		IssuedThisMinute: u.UsedMinute, IssuedThisHour: u.UsedHour,
		MinuteEndsAt: timePtr(u.MinuteEnds), HourEndsAt: timePtr(u.HourEnds)}
	return writeJSON(w, http.StatusOK, out)
}
