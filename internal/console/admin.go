package console

import (
	"crypto/sha256"
	"errors"
	"fmt"
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

// notices are the messages a page shows after a redirect (?done=CODE).
// Only these fixed texts can appear, so the parameter cannot inject any.
var notices = map[string]string{
	"updated":        "Changes saved.",
	"disabled":       "The app is disabled: its credentials no longer get tokens.",
	"enabled":        "The app is enabled.",
	"deleted":        "The app was deleted.",
	"secret-revoked": "The secret was revoked; it stops working at once.",
	"keys":           "The app's public keys are saved; it authenticates with private_key_jwt and has no secret.",
	"created-keys":   "Credentials created: the app authenticates with a JWT signed with its private key (private_key_jwt); it has no secret.",
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

func (c *Console) keysPage(w http.ResponseWriter, r *http.Request, _ store.User) error {
	c.Render(w, r, http.StatusOK, "keys", keysData{Notice: notice(r), Keys: c.keys.Keys()})
	return nil
}

func (c *Console) keysRotate(w http.ResponseWriter, r *http.Request, u store.User) error {
	if _, err := c.keys.Rotate(r.Context(), actor(u), false); err != nil {
		return fmt.Errorf("rotate signing key: %w", err)
	}
	return redirect(w, r, "/console/keys?done=rotated")
}

// --- Users ---

type usersData struct {
	Notice, Error string
	Users         []store.User
	Me            string // the viewer's user ID
	// The create form's input, kept after an error.
	Username, DisplayName, Role string
}

func (c *Console) usersPage(w http.ResponseWriter, r *http.Request, u store.User) error {
	return c.renderUsers(w, r, http.StatusOK, usersData{Notice: notice(r), Me: u.ID, Role: store.RoleMember})
}

func (c *Console) renderUsers(w http.ResponseWriter, r *http.Request, status int, d usersData) error {
	list, err := c.users.List(r.Context())
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	d.Users = list
	c.Render(w, r, status, "users", d)
	return nil
}

func (c *Console) usersCreate(w http.ResponseWriter, r *http.Request, u store.User) error {
	f := r.PostForm
	d := usersData{Me: u.ID, Username: f.Get("username"), DisplayName: f.Get("display_name"), Role: f.Get("role")}
	if f.Get("password") != f.Get("password2") {
		d.Error = "The two passwords differ."
		return c.renderUsers(w, r, http.StatusUnprocessableEntity, d)
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
		return fmt.Errorf("create user: %w", err)
	}
	if d.Error != "" {
		return c.renderUsers(w, r, http.StatusUnprocessableEntity, d)
	}
	return redirect(w, r, "/console/users?done=user-created")
}

func (c *Console) usersSetDisabled(disable bool) userHandler {
	return func(w http.ResponseWriter, r *http.Request, u store.User) error {
		id := r.PathValue("id")
		var err error
		done := "user-enabled"
		if disable {
			if id == u.ID {
				return c.renderUsers(w, r, http.StatusUnprocessableEntity, usersData{Me: u.ID, Role: store.RoleMember,
					Error: "You cannot disable your own account."})
			}
			_, err = c.users.Disable(r.Context(), actor(u), id)
			done = "user-disabled"
		} else {
			_, err = c.users.Enable(r.Context(), actor(u), id)
		}
		if err != nil {
			return userErr(err)
		}
		return redirect(w, r, "/console/users?done="+done)
	}
}

func (c *Console) usersSetPassword(w http.ResponseWriter, r *http.Request, u store.User) error {
	f := r.PostForm
	if f.Get("password") != f.Get("password2") {
		return c.renderUsers(w, r, http.StatusUnprocessableEntity, usersData{Me: u.ID, Role: store.RoleMember,
			Error: "The two passwords differ; the password was not changed."})
	}
	err := c.users.SetPassword(r.Context(), actor(u), r.PathValue("id"), f.Get("password"))
	var ve *users.ValidationError
	if errors.As(err, &ve) {
		return c.renderUsers(w, r, http.StatusUnprocessableEntity, usersData{Me: u.ID, Role: store.RoleMember,
			Error: "The password was not changed: " + ve.Error()})
	}
	if err != nil {
		return userErr(err)
	}
	return redirect(w, r, "/console/users?done=password-set")
}

// userErr is the error for a failed user change.
func userErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("There is no such user.")
	case errors.Is(err, users.ErrLastAdmin):
		return &pageError{status: http.StatusConflict, title: "Conflict",
			msg: "That is the last enabled administrator. Create or enable another administrator first."}
	}
	return fmt.Errorf("change user: %w", err)
}

// --- Audit log ---

// AuditLimit is how many events the audit page shows at most.
const AuditLimit = 200

type auditData struct {
	Target, Action string
	Events         []store.AuditEvent
	Limit          int
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, _ store.User) error {
	q := r.URL.Query()
	d := auditData{Target: strings.TrimSpace(q.Get("target")), Action: strings.TrimSpace(q.Get("action")), Limit: AuditLimit}
	evs, err := c.st.ListAudit(r.Context(), store.AuditFilter{Target: d.Target, Action: d.Action, Limit: AuditLimit})
	if err != nil {
		return fmt.Errorf("list audit events: %w", err)
	}
	d.Events = evs
	c.Render(w, r, http.StatusOK, "audit", d)
	return nil
}

// --- Authorized apps (every user) ---

type authorizedData struct {
	Notice string
	Apps   []consents.App
}

func (c *Console) authorizedPage(w http.ResponseWriter, r *http.Request, u store.User) error {
	apps, err := c.consents.List(r.Context(), u.ID)
	if err != nil {
		return fmt.Errorf("list consents: %w", err)
	}
	c.Render(w, r, http.StatusOK, "authorized_apps", authorizedData{Notice: notice(r), Apps: apps})
	return nil
}

func (c *Console) authorizedRevoke(w http.ResponseWriter, r *http.Request, u store.User) error {
	err := c.consents.Revoke(r.Context(), actor(u), u, r.PathValue("client"))
	switch {
	case errors.Is(err, consents.ErrNotFound):
		return notFound("You have not authorized that app (any more).")
	case err != nil:
		return fmt.Errorf("revoke consent: %w", err)
	}
	return redirect(w, r, "/console/authorized-apps?done=consent-revoked")
}

// appPath is the console path of an app.
func appPath(id string, rest ...string) string {
	p := "/console/apps/" + url.PathEscape(id)
	for _, s := range rest {
		p += "/" + s
	}
	return p
}
