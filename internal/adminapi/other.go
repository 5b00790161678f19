package adminapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/store"
)

func (a *API) otherRoutes() {
	a.handleTenant("GET /scopes", a.listScopes)
	a.handle("GET /audit", a.listAudit)
	a.handle("GET /keys", a.listKeys)
	a.handle("POST /keys/rotate", a.rotateKey)
	a.peopleRoutes()
	a.registrationRoutes()
}

// GET /scopes: the API's scope catalog (never the system scopes).
func (a *API) listScopes(w http.ResponseWriter, r *http.Request, _ *caller) error {
	out := []admin.Scope{}
	for _, name := range a.o.Catalog.Names() {
		s, _ := a.o.Catalog.Get(name)
		sc := admin.Scope{Name: s.Name, Label: s.Label, Default: s.Default, SelfService: s.SelfService, Endpoints: []admin.Endpoint{}}
		for _, e := range s.Endpoints {
			sc.Endpoints = append(sc.Endpoints, admin.Endpoint{Pattern: e.Pattern, Methods: e.Methods})
		}
		out = append(out, sc)
	}
	return writeJSON(w, http.StatusOK, admin.Page[admin.Scope]{Items: out})
}

// GET /audit?target&action&actor&since&limit&cursor: newest first.
func (a *API) listAudit(w http.ResponseWriter, r *http.Request, _ *caller) error {
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AuditFilter{Target: q.Get("target"), Action: q.Get("action"), Actor: q.Get("actor"), Limit: limit + 1}
	if s := q.Get("since"); s != "" {
		if f.Since, err = time.Parse(time.RFC3339, s); err != nil {
			return badRequest("since", "since must be an RFC 3339 time, e.g. 2026-12-01T09:00:00Z")
		}
	}
	if after != "" {
		if f.Before, err = strconv.ParseInt(after, 10, 64); err != nil || f.Before < 1 {
			return badRequest("cursor", "malformed cursor: pass the next_cursor of the previous page unchanged")
		}
	}
	events, err := a.o.Store.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]admin.AuditEvent, len(events))
	for i, e := range events {
		out[i] = AuditEvent(e)
	}
	return writeJSON(w, http.StatusOK, pageOf(out, limit, func(e admin.AuditEvent) string { return strconv.FormatInt(e.ID, 10) }))
}

// GET /keys: the signing keys, oldest first.
func (a *API) listKeys(w http.ResponseWriter, r *http.Request, _ *caller) error {
	if err := a.o.Keys.Reload(r.Context()); err != nil {
		return err
	}
	out := []admin.Key{}
	for _, k := range a.o.Keys.Keys() {
		out = append(out, Key(k))
	}
	return writeJSON(w, http.StatusOK, admin.Page[admin.Key]{Items: out})
}

// POST /keys/rotate {"now": false}: a new signing key, signing after the
// lead time (so verifiers fetch it first), or at once with "now": true.
func (a *API) rotateKey(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Now bool `json:"now"`
	}
	if r.ContentLength != 0 {
		if err := readJSON(r, &in); err != nil {
			return err
		}
	}
	k, err := a.o.Keys.Rotate(r.Context(), c.actor(), in.Now)
	if err != nil {
		return err
	}
	for _, info := range a.o.Keys.Keys() {
		if info.ID == k.ID {
			return writeJSON(w, http.StatusCreated, Key(info))
		}
	}
	return writeJSON(w, http.StatusCreated, admin.Key{ID: k.ID, Algorithm: k.Algorithm, State: "next",
		CreatedAt: k.CreatedAt.UTC(), ActiveAt: k.ActiveAt.UTC()})
}
