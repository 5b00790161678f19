package adminapi

import (
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/store"
)

// A consent's ID is "<user_id>:<client_id>": neither a user ID (usr_ and
// hex) nor a client ID (letters, digits, '.', '_' and '-') holds a colon.

// splitConsentID returns the user and client of a consent ID.
func splitConsentID(id string) (userID, clientID string, ok bool) {
	userID, clientID, ok = strings.Cut(id, ":")
	return userID, clientID, ok && userID != "" && clientID != ""
}

// GET /consents?user&client&limit&cursor: the consents of a user, to a
// client, or both (one of them is required), ordered by user ID and then
// client ID.
func (a *API) listConsents(w http.ResponseWriter, r *http.Request, _ *caller) error {
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	cq := store.ConsentQuery{UserID: q.Get("user"), ClientID: q.Get("client"), Limit: limit + 1}
	if cq.UserID == "" && cq.ClientID == "" {
		return badRequest("user", "name the user (?user=USER_ID), the client (?client=CLIENT_ID) or both whose consents to list")
	}
	if after != "" {
		var ok bool
		if cq.AfterUser, cq.AfterClient, ok = splitConsentID(after); !ok {
			return badRequest("cursor", "malformed cursor: pass the next_cursor of the previous page unchanged")
		}
	}
	list, err := a.o.Consents.Page(r.Context(), cq)
	if err != nil {
		return err
	}
	out := make([]admin.Consent, len(list))
	for i, c := range list {
		out[i] = Consent(c)
	}
	return writeJSON(w, http.StatusOK, pageOf(out, limit, func(c admin.Consent) string { return c.ID }))
}

// DELETE /consents/{consent}: the user's consent ends, and so do the
// refresh tokens issued under it, in one transaction, audited
// (consent.revoke). Access tokens already issued run out on their own.
func (a *API) revokeConsent(w http.ResponseWriter, r *http.Request, c *caller) error {
	userID, clientID, ok := splitConsentID(r.PathValue("consent"))
	if !ok {
		return notFound("no such consent: a consent's ID is <user_id>:<client_id>")
	}
	u, err := a.o.Users.Get(r.Context(), userID)
	if err != nil {
		return err
	}
	if err := a.o.Consents.RevokeFor(r.Context(), c.actor(), u, clientID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
