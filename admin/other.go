package admin

import (
	"context"
	"iter"
	"net/http"
	"time"
)

// UserFilter selects users for [API.ListUsers].
type UserFilter struct {
	// Q keeps the users whose username or display name contains it.
	Q string
	// Limit is the size of a page (0: the server's default).
	Limit int
	// Cursor is the NextCursor of the previous page; "" is the first page.
	Cursor string
}

// UserPatch is a change to a user, sent as a JSON merge patch (RFC 7396):
// nil fields stay as they are. Setting Password ends the user's sessions;
// Disabled true does too.
type UserPatch struct {
	DisplayName *string `json:"display_name,omitempty"`
	Role        *string `json:"role,omitempty"` // admin or member
	Disabled    *bool   `json:"disabled,omitempty"`
	Password    *string `json:"password,omitempty"`
}

// ConsentFilter selects consents for [API.ListConsents].
type ConsentFilter struct {
	User   string // only this user's consents (a user ID)
	Client string // only consents to this client (a client ID)
	Limit  int
	Cursor string
}

// AuditFilter selects audit events for [API.ListAudit]. Zero values match
// every event.
type AuditFilter struct {
	Target string    // only events about this client, key or user ID
	Action string    // only events of this action, e.g. client.rotate_secret
	Actor  string    // only events by this actor, e.g. api:<client ID>
	Since  time.Time // only events at or after it
	Limit  int
	Cursor string
}

// ListKeys returns the token signing keys, oldest first, never their
// private parts (GET /keys).
func (a *API) ListKeys(ctx context.Context) ([]Key, error) {
	var p Page[Key]
	_, err := a.do(ctx, request{method: http.MethodGet, path: "/keys"}, &p)
	return p.Items, err
}

// RotateKey creates a new signing key (POST /keys/rotate). It is published
// at once and signs after the server's lead time, so that verifiers learn
// it first; with now it signs at once (an emergency rotation).
func (a *API) RotateKey(ctx context.Context, now bool, opts ...CallOption) (Key, error) {
	body, err := jsonBody(struct {
		Now bool `json:"now"`
	}{now})
	if err != nil {
		return Key{}, err
	}
	var k Key
	_, err = a.do(ctx, request{method: http.MethodPost, path: "/keys/rotate", body: body, ctype: "application/json", opts: opts}, &k)
	return k, err
}

// ListUsers returns a page of the console's users (GET /users).
func (a *API) ListUsers(ctx context.Context, f UserFilter) (Page[User], error) {
	var p Page[User]
	_, err := a.do(ctx, request{method: http.MethodGet, path: "/users", query: pageQuery(f.Limit, f.Cursor, "q", f.Q)}, &p)
	return p, err
}

// AllUsers iterates over every user that matches f, page after page. An
// error ends the iteration.
func (a *API) AllUsers(ctx context.Context, f UserFilter) iter.Seq2[User, error] {
	return all(f.Cursor, func(cursor string) (Page[User], error) {
		f.Cursor = cursor
		return a.ListUsers(ctx, f)
	})
}

// CreateUser creates a console user (POST /users). Without a password the
// result carries a one-time SetPasswordURL for the user. It takes
// [IdempotencyKey].
func (a *API) CreateUser(ctx context.Context, nu NewUser, opts ...CallOption) (User, error) {
	body, err := jsonBody(nu)
	if err != nil {
		return User{}, err
	}
	var u User
	_, err = a.do(ctx, request{method: http.MethodPost, path: "/users", body: body, ctype: "application/json", opts: opts}, &u)
	return u, err
}

// GetUser returns a user and its entity tag, for [IfMatch]
// (GET /users/{id}).
func (a *API) GetUser(ctx context.Context, id string) (User, string, error) {
	seg, err := segment("user", id)
	if err != nil {
		return User{}, "", err
	}
	var u User
	h, err := a.do(ctx, request{method: http.MethodGet, path: "/users" + seg}, &u)
	return u, etagOf(h, err), err
}

// UpdateUser changes a user (PATCH /users/{id}, a JSON merge patch) and
// returns it with its new entity tag. It takes [IfMatch].
func (a *API) UpdateUser(ctx context.Context, id string, patch UserPatch, opts ...CallOption) (User, string, error) {
	seg, err := segment("user", id)
	if err != nil {
		return User{}, "", err
	}
	body, err := jsonBody(patch)
	if err != nil {
		return User{}, "", err
	}
	var u User
	h, err := a.do(ctx, request{method: http.MethodPatch, path: "/users" + seg, body: body,
		ctype: "application/merge-patch+json", opts: opts}, &u)
	return u, etagOf(h, err), err
}

// DeleteUser deletes a user with their sessions, consents and refresh
// tokens (DELETE /users/{id}). It takes [IfMatch].
func (a *API) DeleteUser(ctx context.Context, id string, opts ...CallOption) error {
	seg, err := segment("user", id)
	if err != nil {
		return err
	}
	_, err = a.do(ctx, request{method: http.MethodDelete, path: "/users" + seg, opts: opts}, nil)
	return err
}

// ListConsents returns a page of the consents users gave clients
// (GET /consents).
func (a *API) ListConsents(ctx context.Context, f ConsentFilter) (Page[Consent], error) {
	var p Page[Consent]
	_, err := a.do(ctx, request{method: http.MethodGet, path: "/consents",
		query: pageQuery(f.Limit, f.Cursor, "user", f.User, "client", f.Client)}, &p)
	return p, err
}

// AllConsents iterates over every consent that matches f, page after page.
// An error ends the iteration.
func (a *API) AllConsents(ctx context.Context, f ConsentFilter) iter.Seq2[Consent, error] {
	return all(f.Cursor, func(cursor string) (Page[Consent], error) {
		f.Cursor = cursor
		return a.ListConsents(ctx, f)
	})
}

// RevokeConsent revokes a consent, and the refresh tokens issued under it
// (DELETE /consents/{id}; id is the Consent's ID, "<user_id>:<client_id>").
func (a *API) RevokeConsent(ctx context.Context, id string, opts ...CallOption) error {
	seg, err := segment("consent", id)
	if err != nil {
		return err
	}
	_, err = a.do(ctx, request{method: http.MethodDelete, path: "/consents" + seg, opts: opts}, nil)
	return err
}

// ListAudit returns a page of the audit trail, newest first (GET /audit).
func (a *API) ListAudit(ctx context.Context, f AuditFilter) (Page[AuditEvent], error) {
	since := ""
	if !f.Since.IsZero() {
		since = f.Since.UTC().Format(time.RFC3339Nano)
	}
	var p Page[AuditEvent]
	_, err := a.do(ctx, request{method: http.MethodGet, path: "/audit",
		query: pageQuery(f.Limit, f.Cursor, "target", f.Target, "action", f.Action, "actor", f.Actor, "since", since)}, &p)
	return p, err
}

// AllAudit iterates over the audit events that match f, newest first, page
// after page. An error ends the iteration.
func (a *API) AllAudit(ctx context.Context, f AuditFilter) iter.Seq2[AuditEvent, error] {
	return all(f.Cursor, func(cursor string) (Page[AuditEvent], error) {
		f.Cursor = cursor
		return a.ListAudit(ctx, f)
	})
}

// ListScopes returns the API's scope catalog (GET /scopes).
func (a *API) ListScopes(ctx context.Context) ([]Scope, error) {
	var p Page[Scope]
	_, err := a.do(ctx, request{method: http.MethodGet, path: "/scopes"}, &p)
	return p.Items, err
}

// ListInitialAccessTokens returns the initial access tokens for dynamic
// client registration, oldest first, never the tokens themselves (GET
// /registration/tokens).
func (a *API) ListInitialAccessTokens(ctx context.Context) ([]InitialAccessToken, error) {
	var p Page[InitialAccessToken]
	_, err := a.do(ctx, request{method: http.MethodGet, path: "/registration/tokens"}, &p)
	return p.Items, err
}

// CreateInitialAccessToken issues an initial access token (POST
// /registration/tokens); the returned value's Token is the token, shown
// this once.
func (a *API) CreateInitialAccessToken(ctx context.Context, nt NewInitialAccessToken, opts ...CallOption) (InitialAccessToken, error) {
	body, err := jsonBody(nt)
	if err != nil {
		return InitialAccessToken{}, err
	}
	var t InitialAccessToken
	_, err = a.do(ctx, request{method: http.MethodPost, path: "/registration/tokens", body: body, ctype: "application/json", opts: opts}, &t)
	return t, err
}

// RevokeInitialAccessToken deletes an initial access token at once
// (DELETE /registration/tokens/{id}).
func (a *API) RevokeInitialAccessToken(ctx context.Context, id string, opts ...CallOption) error {
	seg, err := segment("initial access token", id)
	if err != nil {
		return err
	}
	_, err = a.do(ctx, request{method: http.MethodDelete, path: "/registration/tokens" + seg, opts: opts}, nil)
	return err
}
