package adminapi

import (
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/registration"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Initial access tokens for dynamic client registration (RFC 7591 §3):
// administrators' only.
func (a *API) registrationRoutes() {
	a.handle("GET /registration/tokens", a.listInitialTokens)
	a.handle("POST /registration/tokens", a.createInitialToken)
	a.handle("DELETE /registration/tokens/{token_id}", a.revokeInitialToken)
}

// InitialAccessToken returns t as the API shows it; token is the token
// itself, only in the response that created it.
func InitialAccessToken(t store.InitialAccessToken, token string) admin.InitialAccessToken {
	return admin.InitialAccessToken{ID: t.ID, Token: token, Description: t.Description, MaxUses: t.MaxUses, Uses: t.Uses,
		CreatedAt: stored(t.CreatedAt), ExpiresAt: stored(t.ExpiresAt)}
}

// GET /registration/tokens: every initial access token, oldest first, in
// one page.
func (a *API) listInitialTokens(w http.ResponseWriter, r *http.Request, _ *caller) error {
	ts, err := a.reg.ListTokens(r.Context())
	if err != nil {
		return err
	}
	out := []admin.InitialAccessToken{}
	for _, t := range ts {
		out = append(out, InitialAccessToken(t, ""))
	}
	return writeJSON(w, http.StatusOK, admin.Page[admin.InitialAccessToken]{Items: out})
}

// POST /registration/tokens {"max_uses", "expires_in_seconds",
// "description"}: a new token, shown this once.
func (a *API) createInitialToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in admin.NewInitialAccessToken
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.MaxUses == 0 {
		in.MaxUses = 1
	}
	if in.ExpiresInSeconds <= 0 || in.ExpiresInSeconds > int64(365*24*time.Hour/time.Second) {
		return badRequest("expires_in_seconds", "expires_in_seconds is required: a positive number of seconds, at most a year (e.g. 86400)")
	}
	t, plain, err := a.reg.CreateToken(r.Context(), c.actor(), in.MaxUses, time.Duration(in.ExpiresInSeconds)*time.Second, in.Description)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, InitialAccessToken(t, plain))
}

// DELETE /registration/tokens/{id}: revoked at once.
func (a *API) revokeInitialToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := a.reg.RevokeToken(r.Context(), c.actor(), r.PathValue("token_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// registrationService is o.Registration, or one for the initial access
// tokens alone (the policy off) when there is none.
func registrationService(o Options) (*registration.Service, error) {
	if o.Registration != nil {
		return o.Registration, nil
	}
	return registration.New(registration.Options{Clients: o.Clients, Store: o.Store, Catalog: o.Catalog, Now: o.Now})
}
