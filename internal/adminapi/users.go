package adminapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/users"
)

// Users and consents are the administrators': no route of theirs is open
// to a token restricted to an account, nor to gatehouse:clients (the
// system catalog); gatehouse:admin:read may read them.
func (a *API) peopleRoutes() {
	a.handle("GET /users", a.listUsers)
	a.handle("POST /users", a.createUser)
	a.handle("GET /users/{user}", a.showUser)
	a.handle("PATCH /users/{user}", a.patchUser)
	a.handle("DELETE /users/{user}", a.deleteUser)
	a.handle("GET /consents", a.listConsents)
	a.handle("DELETE /consents/{consent}", a.revokeConsent)
}

func userPath(id string) string { return Prefix + "/users/" + id }

// userETag is the entity tag of a user: a hash of what the API shows of
// it, without the set-password link of the response that created it. It
// changes with every change made to the user, the password's included
// (updated_at moves).
func userETag(u admin.User) string {
	u.SetPasswordURL, u.SetPasswordExpiresAt = "", nil
	return etag(u)
}

// GET /users?limit&cursor&q: ordered by lower-cased username; q keeps the
// users whose username or display name contains it, ignoring case.
func (a *API) listUsers(w http.ResponseWriter, r *http.Request, _ *caller) error {
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	list, err := a.o.Users.Page(r.Context(), store.UserQuery{After: after, Limit: limit + 1, Search: r.URL.Query().Get("q")})
	if err != nil {
		return err
	}
	out := make([]admin.User, len(list))
	for i, u := range list {
		out[i] = User(u)
	}
	// The position is the lower-cased username, as the store orders them.
	return writeJSON(w, http.StatusOK, pageOf(out, limit, func(u admin.User) string { return strings.ToLower(u.Username) }))
}

// POST /users: a user with the password given, or, without one, a user
// who cannot log in until they choose a password with the one-time link in
// set_password_url (shown in this response only, valid until
// set_password_expires_at).
func (a *API) createUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	return a.idem.run(w, r, c, func(w http.ResponseWriter, r *http.Request) error {
		var in admin.NewUser
		if err := readJSON(r, &in); err != nil {
			return err
		}
		sp := users.Spec{Username: in.Username, DisplayName: in.DisplayName, Role: in.Role, Password: in.Password}
		var out admin.User
		if in.Password != "" {
			u, err := a.o.Users.Create(r.Context(), c.actor(), sp)
			if err != nil {
				return err
			}
			out = User(u)
		} else {
			u, inv, err := a.o.Users.Invite(r.Context(), c.actor(), sp)
			if err != nil {
				return err
			}
			out = User(u)
			out.SetPasswordURL = users.SetPasswordLink(a.o.Issuer, inv.Token)
			out.SetPasswordExpiresAt = timePtr(inv.ExpiresAt)
		}
		w.Header().Set("Location", userPath(out.ID))
		w.Header().Set("ETag", userETag(out))
		return writeJSON(w, http.StatusCreated, out)
	})
}

// GET /users/{user}
func (a *API) showUser(w http.ResponseWriter, r *http.Request, _ *caller) error {
	u, err := a.o.Users.Get(r.Context(), r.PathValue("user"))
	if err != nil {
		return err
	}
	out := User(u)
	w.Header().Set("ETag", userETag(out))
	return writeJSON(w, http.StatusOK, out)
}

// PATCH /users/{user}: a JSON merge patch (RFC 7396) of display_name,
// role, disabled and password; null resets display_name (to the username),
// role (to member) and disabled (to false). If-Match is checked in the
// change's transaction.
func (a *API) patchUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	var raw map[string]json.RawMessage
	if err := readJSON(r, &raw, "application/merge-patch+json", "application/json"); err != nil {
		return err
	}
	if raw == nil {
		return problem(admin.ProblemMalformed, http.StatusBadRequest, "", "the body must be a JSON object")
	}
	p, err := userPatch(raw)
	if err != nil {
		return err
	}
	ifMatch := func(u store.User) error { return checkIfMatch(r, userETag(User(u))) }
	u, err := a.o.Users.Update(r.Context(), c.actor(), r.PathValue("user"), p, ifMatch)
	if err != nil {
		return err
	}
	out := User(u)
	w.Header().Set("ETag", userETag(out))
	return writeJSON(w, http.StatusOK, out)
}

// userPatch turns a merge patch into a users.Patch.
func userPatch(raw map[string]json.RawMessage) (users.Patch, error) {
	var p users.Patch
	str := func(dst **string, null string) func(json.RawMessage) error {
		return func(v json.RawMessage) error {
			s := null
			*dst = &s
			return json.Unmarshal(v, &s)
		}
	}
	fields := map[string]func(json.RawMessage) error{
		"display_name": str(&p.DisplayName, ""),
		"role":         str(&p.Role, store.RoleMember),
		"password":     str(&p.Password, ""),
		"disabled": func(v json.RawMessage) error {
			b := false
			p.Disabled = &b
			return json.Unmarshal(v, &b)
		},
	}
	for name, v := range raw {
		set, ok := fields[name]
		switch {
		case name == "password" && string(v) == "null":
			return p, invalid("/password", "a password cannot be removed; send a new one")
		case name == "id" || name == "username" || name == "created_at" || name == "updated_at" ||
			name == "set_password_url" || name == "set_password_expires_at":
			return p, invalid("/"+name, name+" cannot be changed")
		case !ok:
			return p, problem(admin.ProblemMalformed, http.StatusBadRequest, "/"+name, "unknown member "+name)
		}
		// null leaves the new value at its default.
		if err := set(v); err != nil {
			return p, problem(admin.ProblemMalformed, http.StatusBadRequest, "/"+name, "wrong type: "+err.Error())
		}
	}
	return p, nil
}

// DELETE /users/{user}: with their sessions, consents, refresh tokens and
// set-password link; never the last enabled administrator (409). Honours
// If-Match.
func (a *API) deleteUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	ifMatch := func(u store.User) error { return checkIfMatch(r, userETag(User(u))) }
	if _, err := a.o.Users.Delete(r.Context(), c.actor(), r.PathValue("user"), ifMatch); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
