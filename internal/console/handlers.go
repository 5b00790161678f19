package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/users"
	"github.com/gatehouse/gatehouse/internal/web"
)

// maxForm bounds console request bodies.
const maxForm = 64 << 10

// Register mounts the console's routes and static assets on mux.
func (c *Console) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /console/{$}", c.home)
	mux.HandleFunc("GET /console/login", c.loginPage)
	mux.HandleFunc("POST /console/login", c.login)
	mux.HandleFunc("POST /console/logout", c.logout)
	mux.HandleFunc("GET /console/setup", c.setupPage)
	mux.HandleFunc("POST /console/setup", c.setupSubmit)
	mux.HandleFunc("GET /console/authorized-apps", c.authorizedPage)
	mux.HandleFunc("POST /console/authorized-apps/{client}/revoke", c.authorizedRevoke)
	mux.HandleFunc("GET /console/users", c.usersPage)
	mux.HandleFunc("POST /console/users", c.usersCreate)
	mux.HandleFunc("POST /console/users/{id}/disable", c.usersSetDisabled(true))
	mux.HandleFunc("POST /console/users/{id}/enable", c.usersSetDisabled(false))
	mux.HandleFunc("POST /console/users/{id}/password", c.usersSetPassword)
	mux.HandleFunc("GET /console/audit", c.auditPage)
	if c.keys != nil {
		mux.HandleFunc("GET /console/keys", c.keysPage)
		mux.HandleFunc("POST /console/keys/rotate", c.keysRotate)
	}
	if c.clients != nil {
		mux.HandleFunc("GET /console/apps", c.appsPage)
		mux.HandleFunc("GET /console/apps/new", c.appNewPage)
		mux.HandleFunc("POST /console/apps/new", c.appCreate)
		mux.HandleFunc("GET /console/apps/{id}", c.appPage)
		mux.HandleFunc("POST /console/apps/{id}", c.appUpdate)
		mux.HandleFunc("GET /console/apps/{id}/created", c.appCreated)
		mux.HandleFunc("POST /console/apps/{id}/secrets", c.appRegenerate)
		mux.HandleFunc("POST /console/apps/{id}/secrets/{secret}/revoke", c.appRevokeSecret)
		mux.HandleFunc("POST /console/apps/{id}/disable", c.appSetDisabled(true))
		mux.HandleFunc("POST /console/apps/{id}/enable", c.appSetDisabled(false))
		mux.HandleFunc("GET /console/apps/{id}/delete", c.appDeletePage)
		mux.HandleFunc("POST /console/apps/{id}/delete", c.appDelete)
	}
	static := http.StripPrefix("/console/static/", http.FileServerFS(web.Static()))
	mux.Handle("GET /console/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		static.ServeHTTP(w, r)
	}))
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, http.StatusNotFound, "Not found", "There is no such page.")
	})
}

func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.RequireUser(w, r); !ok {
		return
	}
	c.Render(w, r, http.StatusOK, "home", homeData{Apps: c.clients != nil, Keys: c.keys != nil})
}

// homeData is the data of home.html: which admin pages this server has.
type homeData struct{ Apps, Keys bool }

// parsePost parses a bounded form body and checks its CSRF token,
// answering 400 or 403 itself if either fails.
func (c *Console) parsePost(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return false
	}
	if err := c.CheckCSRF(r); err != nil {
		c.renderError(w, r, http.StatusForbidden, "Forbidden",
			"The form was stale or did not come from this site. Go back, reload the page and try again.")
		return false
	}
	return true
}

// serverError shows the error page for an unexpected error: 503 with
// Retry-After when the store is unreachable (temporarily_unavailable), 500
// otherwise. The cause is logged, never shown.
func (c *Console) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, store.ErrUnavailable) {
		c.log.Warn(what+": store unavailable", "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(int(store.RetryAfter/time.Second)))
		c.renderError(w, r, http.StatusServiceUnavailable, "Temporarily unavailable",
			"The service is temporarily unavailable (temporarily_unavailable). Please try again in a few seconds.")
		return
	}
	c.log.Error(what, "err", err)
	c.renderError(w, r, http.StatusInternalServerError, "Something went wrong", "The server could not complete the request. Please try again.")
}

// loginData is the data of login.html.
type loginData struct {
	Next, Username, Error string
	App                   *askingApp // the app whose authorization request sent the user here, if any
}

// askingApp names the app that asks the user to log in.
type askingApp struct{ Name, Website string }

// appAsking returns the app whose authorization request next continues,
// or nil if next is not one or names no enabled client. Only the name and
// website are shown, as on the consent page; the request itself is checked
// again when the browser comes back to it.
func (c *Console) appAsking(ctx context.Context, next string) *askingApp {
	u, err := url.Parse(next)
	if err != nil || u.Path != "/oauth/authorize" {
		return nil
	}
	id := u.Query().Get("client_id")
	if id == "" {
		return nil
	}
	cl, err := c.st.GetClient(ctx, id)
	if err != nil || cl.Disabled {
		return nil
	}
	return &askingApp{Name: cl.Name, Website: cl.Website}
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	next := SafeNext(r.URL.Query().Get("next"))
	if _, ok := c.User(r); ok {
		http.Redirect(w, r, orHome(next), http.StatusSeeOther)
		return
	}
	if err := c.ensureCSRFCookie(w, r); err != nil {
		c.serverError(w, r, "login page", err)
		return
	}
	c.Render(w, r, http.StatusOK, "login", loginData{Next: next, App: c.appAsking(r.Context(), next)})
}

func orHome(next string) string {
	if next == "" {
		return "/console/"
	}
	return next
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !c.parsePost(w, r) {
		return
	}
	f := r.PostForm
	d := loginData{Next: SafeNext(f.Get("next")), Username: f.Get("username")}
	d.App = c.appAsking(r.Context(), d.Next)
	u, err := c.users.Authenticate(r.Context(), d.Username, f.Get("password"), c.clientIP.Addr(r))
	var rl *users.RateLimitError
	switch {
	case errors.As(err, &rl):
		secs := int((rl.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		d.Error = "Too many failed attempts. Wait " + strconv.Itoa(secs) + " seconds and try again."
		c.Render(w, r, http.StatusTooManyRequests, "login", d)
		return
	case errors.Is(err, users.ErrInvalidCredentials):
		d.Error = "Wrong username or password."
		c.Render(w, r, http.StatusOK, "login", d)
		return
	case errors.Is(err, users.ErrDisabled):
		d.Error = "This account is disabled. Ask an administrator to enable it."
		c.Render(w, r, http.StatusOK, "login", d)
		return
	case err != nil:
		c.serverError(w, r, "login", err)
		return
	}
	if err := c.startSession(w, r, u); err != nil {
		c.serverError(w, r, "login", err)
		return
	}
	c.log.Info("console login", "user", u.ID, "username", u.Username)
	http.Redirect(w, r, orHome(d.Next), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if !c.parsePost(w, r) {
		return
	}
	if id := sessionID(r); id != "" {
		if err := c.st.DeleteSession(r.Context(), id); err != nil {
			c.serverError(w, r, "logout", err)
			return
		}
	}
	http.SetCookie(w, c.cookie(SessionCookie, "", -1))
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// setupData is the data of setup.html.
type setupData struct {
	Done, Invalid                bool
	Token, Username, DisplayName string
	Error                        string
}

func (c *Console) setupPage(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	if !c.setupTokenOK(w, r, tok) {
		return
	}
	if err := c.ensureCSRFCookie(w, r); err != nil {
		c.serverError(w, r, "setup page", err)
		return
	}
	c.Render(w, r, http.StatusOK, "setup", setupData{Token: tok})
}

// setupTokenOK reports whether the setup token may create the first
// administrator, and if not answers with the page that says why.
func (c *Console) setupTokenOK(w http.ResponseWriter, r *http.Request, tok string) bool {
	return c.setupErr(w, r, c.users.CheckSetupToken(r.Context(), tok))
}

// setupErr answers a setup error that is not about the form's fields and
// reports whether there was none.
func (c *Console) setupErr(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, users.ErrSetupDone):
		c.Render(w, r, http.StatusOK, "setup", setupData{Done: true})
	case errors.Is(err, users.ErrSetupInvalid):
		c.Render(w, r, http.StatusForbidden, "setup", setupData{Invalid: true})
	default:
		c.serverError(w, r, "setup", err)
	}
	return false
}

func (c *Console) setupSubmit(w http.ResponseWriter, r *http.Request) {
	if !c.parsePost(w, r) {
		return
	}
	f := r.PostForm
	d := setupData{Token: f.Get("token"), Username: f.Get("username"), DisplayName: f.Get("display_name")}
	// Checked first so that a dead link says so rather than complaining
	// about the form; Setup checks again, atomically.
	if !c.setupTokenOK(w, r, d.Token) {
		return
	}
	if f.Get("password") != f.Get("password2") {
		d.Error = "The two passwords differ."
		c.Render(w, r, http.StatusOK, "setup", d)
		return
	}
	u, err := c.users.Setup(r.Context(), "console:setup", d.Token, users.Spec{
		Username: d.Username, DisplayName: d.DisplayName, Password: f.Get("password"),
	})
	var ve *users.ValidationError
	switch {
	case errors.As(err, &ve):
		d.Error = ve.Error()
		c.Render(w, r, http.StatusOK, "setup", d)
		return
	case errors.Is(err, users.ErrUsernameTaken):
		d.Error = "That username is taken."
		c.Render(w, r, http.StatusOK, "setup", d)
		return
	case !c.setupErr(w, r, err):
		return
	}
	c.log.Info("first administrator created", "user", u.ID, "username", u.Username)
	if err := c.startSession(w, r, u); err != nil {
		c.serverError(w, r, "setup", err)
		return
	}
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}
