package console

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/consents"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/users"
)

// actor is the audit actor for console actions of u.
func actor(u store.User) string { return "console:" + u.Username }

// requireAdmin returns the logged-in administrator. A visitor who is not
// logged in is sent to the login page; a member gets 403.
func (c *Console) requireAdmin(w http.ResponseWriter, r *http.Request) (store.User, bool) {
	u, ok := c.RequireUser(w, r)
	if !ok {
		return u, false
	}
	if u.Role != store.RoleAdmin {
		c.renderError(w, r, http.StatusForbidden, "Forbidden", "Only administrators may use this page.")
		return u, false
	}
	return u, true
}

// adminPost is requireAdmin for a form POST: it also parses the form and
// checks its CSRF token. The role is checked on every POST, not only when
// the form was shown.
func (c *Console) adminPost(w http.ResponseWriter, r *http.Request) (store.User, bool) {
	u, ok := c.RequireUser(w, r)
	if !ok || !c.parsePost(w, r) {
		return u, false
	}
	if u.Role != store.RoleAdmin {
		c.renderError(w, r, http.StatusForbidden, "Forbidden", "Only administrators may do this.")
		return u, false
	}
	return u, true
}

// notices are the messages a page shows after a redirect (?done=CODE).
// Only these fixed texts can appear, so the parameter cannot inject any.
var notices = map[string]string{
	"updated":        "Changes saved.",
	"disabled":       "The app is disabled: its credentials no longer get tokens.",
	"enabled":        "The app is enabled.",
	"deleted":        "The app was deleted.",
	"secret-revoked": "The secret was revoked; it stops working at once.",
	"rotated":        "A new signing key was added. It is published now and starts signing after the lead time.",
	"user-created":   "User created.",
	"user-disabled":  "User disabled; their sessions have ended.",
	"user-enabled":   "User enabled.",
	"password-set":   "Password changed; the user's sessions have ended.",
	"consent-revoked": "Access revoked. The app's refresh tokens for your account no longer work; " +
		"access tokens it already holds expire on their own shortly.",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("done")] }

// ticket holds a plaintext client secret, in memory only, until the page
// that shows it once is viewed.
type ticket struct {
	session    string // the session ID it is bound to
	clientID   string
	clientName string
	secret     string
	rotated    bool // a regenerated secret, not a new app
	expires    time.Time
}

// TicketValidity is how long a one-time secret ticket may be redeemed.
const TicketValidity = 5 * time.Minute

// ticketStore maps the SHA-256 of a ticket to the ticket.
type ticketStore struct {
	mu sync.Mutex
	m  map[[32]byte]ticket
}

// issueTicket stores t for this request's session and returns the ticket
// to put in the redirect URL.
func (c *Console) issueTicket(r *http.Request, t ticket) (string, error) {
	tok, err := c.randomToken()
	if err != nil {
		return "", err
	}
	now := c.now()
	t.session, t.expires = sessionID(r), now.Add(TicketValidity)
	c.tickets.mu.Lock()
	defer c.tickets.mu.Unlock()
	if c.tickets.m == nil {
		c.tickets.m = map[[32]byte]ticket{}
	}
	for k, old := range c.tickets.m {
		if !now.Before(old.expires) {
			delete(c.tickets.m, k)
		}
	}
	c.tickets.m[sha256.Sum256([]byte(tok))] = t
	return tok, nil
}

// takeTicket returns and forgets the ticket for client id, if it is live
// and belongs to this request's session.
func (c *Console) takeTicket(r *http.Request, tok, id string) (ticket, bool) {
	k := sha256.Sum256([]byte(tok))
	c.tickets.mu.Lock()
	defer c.tickets.mu.Unlock()
	t, ok := c.tickets.m[k]
	if !ok || t.session == "" || t.session != sessionID(r) || t.clientID != id {
		return ticket{}, false
	}
	delete(c.tickets.m, k)
	if !c.now().Before(t.expires) {
		return ticket{}, false
	}
	return t, true
}

// --- Signing keys ---

type keysData struct {
	Notice string
	Keys   []token.KeyInfo
}

func (c *Console) keysPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.requireAdmin(w, r); !ok {
		return
	}
	c.Render(w, r, http.StatusOK, "keys", keysData{Notice: notice(r), Keys: c.keys.Keys()})
}

func (c *Console) keysRotate(w http.ResponseWriter, r *http.Request) {
	u, ok := c.adminPost(w, r)
	if !ok {
		return
	}
	if _, err := c.keys.Rotate(r.Context(), actor(u), false); err != nil {
		c.serverError(w, r, "rotate signing key", err)
		return
	}
	http.Redirect(w, r, "/console/keys?done=rotated", http.StatusSeeOther)
}

// --- Users ---

type usersData struct {
	Notice, Error string
	Users         []store.User
	Me            string // the viewer's user ID
	// The create form's input, kept after an error.
	Username, DisplayName, Role string
}

func (c *Console) usersPage(w http.ResponseWriter, r *http.Request) {
	u, ok := c.requireAdmin(w, r)
	if !ok {
		return
	}
	c.renderUsers(w, r, http.StatusOK, usersData{Notice: notice(r), Me: u.ID, Role: store.RoleMember})
}

func (c *Console) renderUsers(w http.ResponseWriter, r *http.Request, status int, d usersData) {
	list, err := c.users.List(r.Context())
	if err != nil {
		c.serverError(w, r, "list users", err)
		return
	}
	d.Users = list
	c.Render(w, r, status, "users", d)
}

func (c *Console) usersCreate(w http.ResponseWriter, r *http.Request) {
	u, ok := c.adminPost(w, r)
	if !ok {
		return
	}
	f := r.PostForm
	d := usersData{Me: u.ID, Username: f.Get("username"), DisplayName: f.Get("display_name"), Role: f.Get("role")}
	if f.Get("password") != f.Get("password2") {
		d.Error = "The two passwords differ."
		c.renderUsers(w, r, http.StatusUnprocessableEntity, d)
		return
	}
	_, err := c.users.Create(r.Context(), actor(u), users.Spec{
		Username: d.Username, DisplayName: d.DisplayName, Role: d.Role, Password: f.Get("password"),
	})
	var ve *users.ValidationError
	switch {
	case errors.As(err, &ve):
		d.Error = ve.Error()
	case errors.Is(err, users.ErrUsernameTaken):
		d.Error = "That username is taken."
	case err != nil:
		c.serverError(w, r, "create user", err)
		return
	}
	if d.Error != "" {
		c.renderUsers(w, r, http.StatusUnprocessableEntity, d)
		return
	}
	http.Redirect(w, r, "/console/users?done=user-created", http.StatusSeeOther)
}

func (c *Console) usersSetDisabled(disable bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, ok := c.adminPost(w, r)
		if !ok {
			return
		}
		id := r.PathValue("id")
		var err error
		done := "user-enabled"
		if disable {
			if id == u.ID {
				c.renderUsers(w, r, http.StatusUnprocessableEntity, usersData{Me: u.ID, Role: store.RoleMember,
					Error: "You cannot disable your own account."})
				return
			}
			_, err = c.users.Disable(r.Context(), actor(u), id)
			done = "user-disabled"
		} else {
			_, err = c.users.Enable(r.Context(), actor(u), id)
		}
		if c.userErr(w, r, err) {
			return
		}
		http.Redirect(w, r, "/console/users?done="+done, http.StatusSeeOther)
	}
}

func (c *Console) usersSetPassword(w http.ResponseWriter, r *http.Request) {
	u, ok := c.adminPost(w, r)
	if !ok {
		return
	}
	f := r.PostForm
	if f.Get("password") != f.Get("password2") {
		c.renderUsers(w, r, http.StatusUnprocessableEntity, usersData{Me: u.ID, Role: store.RoleMember,
			Error: "The two passwords differ; the password was not changed."})
		return
	}
	err := c.users.SetPassword(r.Context(), actor(u), r.PathValue("id"), f.Get("password"))
	var ve *users.ValidationError
	if errors.As(err, &ve) {
		c.renderUsers(w, r, http.StatusUnprocessableEntity, usersData{Me: u.ID, Role: store.RoleMember,
			Error: "The password was not changed: " + ve.Error()})
		return
	}
	if c.userErr(w, r, err) {
		return
	}
	http.Redirect(w, r, "/console/users?done=password-set", http.StatusSeeOther)
}

// userErr answers a failed user change and reports whether there was one.
func (c *Console) userErr(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, store.ErrNotFound):
		c.renderError(w, r, http.StatusNotFound, "Not found", "There is no such user.")
	default:
		c.serverError(w, r, "change user", err)
	}
	return true
}

// --- Audit log ---

// AuditLimit is how many events the audit page shows at most.
const AuditLimit = 200

type auditData struct {
	Target, Action string
	Events         []store.AuditEvent
	Limit          int
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.requireAdmin(w, r); !ok {
		return
	}
	q := r.URL.Query()
	d := auditData{Target: strings.TrimSpace(q.Get("target")), Action: strings.TrimSpace(q.Get("action")), Limit: AuditLimit}
	evs, err := c.st.ListAudit(r.Context(), store.AuditFilter{Target: d.Target, Action: d.Action, Limit: AuditLimit})
	if err != nil {
		c.serverError(w, r, "list audit events", err)
		return
	}
	d.Events = evs
	c.Render(w, r, http.StatusOK, "audit", d)
}

// --- Authorized apps (every user) ---

type authorizedData struct {
	Notice string
	Apps   []consents.App
}

func (c *Console) authorizedPage(w http.ResponseWriter, r *http.Request) {
	u, ok := c.RequireUser(w, r)
	if !ok {
		return
	}
	apps, err := c.consents.List(r.Context(), u.ID)
	if err != nil {
		c.serverError(w, r, "list consents", err)
		return
	}
	c.Render(w, r, http.StatusOK, "authorized_apps", authorizedData{Notice: notice(r), Apps: apps})
}

func (c *Console) authorizedRevoke(w http.ResponseWriter, r *http.Request) {
	u, ok := c.RequireUser(w, r)
	if !ok || !c.parsePost(w, r) {
		return
	}
	err := c.consents.Revoke(r.Context(), actor(u), u, r.PathValue("client"))
	switch {
	case errors.Is(err, consents.ErrNotFound):
		c.renderError(w, r, http.StatusNotFound, "Not found", "You have not authorized that app (any more).")
		return
	case err != nil:
		c.serverError(w, r, "revoke consent", err)
		return
	}
	http.Redirect(w, r, "/console/authorized-apps?done=consent-revoked", http.StatusSeeOther)
}

// appPath is the console path of an app.
func appPath(id string, rest ...string) string {
	p := "/console/apps/" + url.PathEscape(id)
	for _, s := range rest {
		p += "/" + s
	}
	return p
}
