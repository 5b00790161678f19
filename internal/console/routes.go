package console

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/users"
	"github.com/gatehouse/gatehouse/internal/web"
)

// maxForm bounds console request bodies.
const maxForm = 64 << 10

// Register mounts the console's routes and static assets on mux. Who may
// use a route is the wrapper it is registered with: public (anyone),
// loggedIn (a user with a session; others go to the login page) or admin
// (an administrator; a member gets 403). Every POST's form is parsed and
// its CSRF token checked by the wrapper, and on admin routes the role is
// checked on the POST itself, not only when the form was shown.
func (c *Console) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	})
	mux.Handle("GET /console/login", c.public(c.loginPage))
	mux.Handle("POST /console/login", c.public(c.login))
	mux.Handle("POST /console/logout", c.public(c.logout))
	mux.Handle("GET /console/setup", c.public(c.setupPage))
	mux.Handle("POST /console/setup", c.public(c.setupSubmit))
	mux.Handle("GET "+users.SetPasswordPath, c.public(c.setPasswordPage))
	mux.Handle("POST "+users.SetPasswordPath, c.public(c.setPasswordSubmit))

	mux.Handle("GET /console/{$}", c.loggedIn(c.home))
	mux.Handle("GET /console/authorized-apps", c.loggedIn(c.authorizedPage))
	mux.Handle("POST /console/authorized-apps/{client}/revoke", c.loggedIn(c.authorizedRevoke))

	mux.Handle("GET /console/users", c.admin(c.usersPage))
	mux.Handle("POST /console/users", c.admin(c.usersCreate))
	mux.Handle("POST /console/users/{id}/disable", c.admin(c.usersSetDisabled(true)))
	mux.Handle("POST /console/users/{id}/enable", c.admin(c.usersSetDisabled(false)))
	mux.Handle("POST /console/users/{id}/password", c.admin(c.usersSetPassword))
	mux.Handle("GET /console/audit", c.admin(c.auditPage))
	if c.keys != nil {
		mux.Handle("GET /console/keys", c.admin(c.keysPage))
		mux.Handle("POST /console/keys/rotate", c.admin(c.keysRotate))
	}
	if c.clients != nil {
		mux.Handle("GET /console/apps", c.admin(c.appsPage))
		mux.Handle("GET /console/apps/new", c.admin(c.appNewPage))
		mux.Handle("POST /console/apps/new", c.admin(c.appCreate))
		mux.Handle("GET /console/apps/{id}", c.admin(c.appPage))
		mux.Handle("POST /console/apps/{id}", c.admin(c.appUpdate))
		mux.Handle("GET /console/apps/{id}/created", c.admin(c.appCreated))
		mux.Handle("POST /console/apps/{id}/secrets", c.admin(c.appRegenerate))
		mux.Handle("POST /console/apps/{id}/keys", c.admin(c.appKeys))
		mux.Handle("POST /console/apps/{id}/secrets/{secret}/revoke", c.admin(c.appRevokeSecret))
		mux.Handle("POST /console/apps/{id}/disable", c.admin(c.appSetDisabled(true)))
		mux.Handle("POST /console/apps/{id}/enable", c.admin(c.appSetDisabled(false)))
		mux.Handle("GET /console/apps/{id}/delete", c.admin(c.appDeletePage))
		mux.Handle("POST /console/apps/{id}/delete", c.admin(c.appDelete))
	}

	static := http.StripPrefix("/console/static/", http.FileServerFS(web.Static()))
	mux.Handle("GET /console/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		static.ServeHTTP(w, r)
	}))
	// Any method: a POST to no route is 404, not a CSRF failure.
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.serveError(w, r, notFound("There is no such page."))
	})
}

// handler is a console page or form action for anyone. It writes its
// response, or returns an error for serveError to show.
type handler func(w http.ResponseWriter, r *http.Request) error

// userHandler is a handler for the logged-in user u.
type userHandler func(w http.ResponseWriter, r *http.Request, u store.User) error

// public serves h to anyone; a POST must carry a readable form with a valid
// CSRF token.
func (c *Console) public(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := c.parsePost(w, r)
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			c.serveError(w, r, err)
		}
	})
}

// loggedIn serves h to a logged-in user and sends anyone else to the login
// page; a POST must carry a readable form with a valid CSRF token.
func (c *Console) loggedIn(h userHandler) http.Handler {
	return c.withUser("", h)
}

// admin is loggedIn for administrators only: a member gets 403, also on
// every POST.
func (c *Console) admin(h userHandler) http.Handler {
	return c.withUser(store.RoleAdmin, h)
}

func (c *Console) withUser(role string, h userHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := c.RequireUser(w, r)
		if !ok {
			return
		}
		err := c.parsePost(w, r)
		if err == nil && role != "" && u.Role != role {
			err = forbidden("Only administrators may use this page.")
			if r.Method == http.MethodPost {
				err = forbidden("Only administrators may do this.")
			}
		}
		if err == nil {
			err = h(w, r, u)
		}
		if err != nil {
			c.serveError(w, r, err)
		}
	})
}

// parsePost parses the bounded form body of a POST and checks its CSRF
// token; other methods pass.
func (c *Console) parsePost(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return &pageError{status: http.StatusBadRequest, title: "Bad request", msg: "The form could not be read."}
	}
	if err := c.CheckCSRF(r); err != nil {
		return forbidden("The form was stale or did not come from this site. Go back, reload the page and try again.")
	}
	return nil
}

// pageError is an error the visitor is shown as it is: its status, title
// and message on the error page.
type pageError struct {
	status     int
	title, msg string
}

func (e *pageError) Error() string { return strconv.Itoa(e.status) + " " + e.title + ": " + e.msg }

func notFound(msg string) error {
	return &pageError{status: http.StatusNotFound, title: "Not found", msg: msg}
}

func forbidden(msg string) error {
	return &pageError{status: http.StatusForbidden, title: "Forbidden", msg: msg}
}

func badRequest(msg string) error {
	return &pageError{status: http.StatusBadRequest, title: "Bad request", msg: msg}
}

// serveError shows the error page for err: a *pageError as it says; 503
// with Retry-After when the store is unreachable (temporarily_unavailable);
// 500 for anything else. Unexpected errors are logged with the route
// pattern, never the URL (which may hold a setup token or a secret's
// ticket) nor form values; the visitor never sees the cause.
func (c *Console) serveError(w http.ResponseWriter, r *http.Request, err error) {
	var pe *pageError
	switch {
	case errors.As(err, &pe):
		c.renderError(w, r, pe.status, pe.title, pe.msg)
	case errors.Is(err, store.ErrUnavailable):
		c.log.Warn("console: store unavailable", "route", r.Pattern, "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(int(store.RetryAfter/time.Second)))
		c.renderError(w, r, http.StatusServiceUnavailable, "Temporarily unavailable",
			"The service is temporarily unavailable (temporarily_unavailable). Please try again in a few seconds.")
	default:
		c.log.Error("console: request failed", "route", r.Pattern, "err", err)
		c.renderError(w, r, http.StatusInternalServerError, "Something went wrong", "The server could not complete the request. Please try again.")
	}
}

// redirect answers 303 See Other to path.
func redirect(w http.ResponseWriter, r *http.Request, path string) error {
	http.Redirect(w, r, path, http.StatusSeeOther)
	return nil
}
