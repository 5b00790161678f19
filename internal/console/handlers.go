package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/users"
)

func (c *Console) home(w http.ResponseWriter, r *http.Request, _ store.User) error {
	c.Render(w, r, http.StatusOK, "home", homeData{Apps: c.clients != nil, Keys: c.keys != nil})
	return nil
}

// homeData is the data of home.html: which admin pages this server has.
type homeData struct{ Apps, Keys bool }

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

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) error {
	next := SafeNext(r.URL.Query().Get("next"))
	if _, ok := c.User(r); ok {
		return redirect(w, r, orHome(next))
	}
	if err := c.ensureCSRFCookie(w, r); err != nil {
		return fmt.Errorf("login page: %w", err)
	}
	c.Render(w, r, http.StatusOK, "login", loginData{Next: next, App: c.appAsking(r.Context(), next)})
	return nil
}

func orHome(next string) string {
	if next == "" {
		return "/console/"
	}
	return next
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) error {
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
		return nil
	case errors.Is(err, users.ErrInvalidCredentials):
		d.Error = "Wrong username or password."
		c.Render(w, r, http.StatusOK, "login", d)
		return nil
	case errors.Is(err, users.ErrDisabled):
		d.Error = "This account is disabled. Ask an administrator to enable it."
		c.Render(w, r, http.StatusOK, "login", d)
		return nil
	case err != nil:
		return fmt.Errorf("login: %w", err)
	}
	if err := c.startSession(w, r, u); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	c.log.Info("console login", "user", u.ID, "username", u.Username)
	return redirect(w, r, orHome(d.Next))
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) error {
	if id := sessionID(r); id != "" {
		if err := c.st.DeleteSession(r.Context(), id); err != nil {
			return fmt.Errorf("logout: %w", err)
		}
	}
	http.SetCookie(w, c.cookie(SessionCookie, "", -1))
	return redirect(w, r, "/console/login")
}

// setupData is the data of setup.html.
type setupData struct {
	Done, Invalid                bool
	Token, Username, DisplayName string
	Error                        string
}

func (c *Console) setupPage(w http.ResponseWriter, r *http.Request) error {
	tok := r.URL.Query().Get("token")
	if ok, err := c.setupTokenOK(w, r, tok); !ok {
		return err
	}
	if err := c.ensureCSRFCookie(w, r); err != nil {
		return fmt.Errorf("setup page: %w", err)
	}
	c.Render(w, r, http.StatusOK, "setup", setupData{Token: tok})
	return nil
}

// setupTokenOK reports whether the setup token may create the first
// administrator, and if not answers with the page that says why or returns
// the error that stopped the check.
func (c *Console) setupTokenOK(w http.ResponseWriter, r *http.Request, tok string) (bool, error) {
	return c.setupErr(w, r, c.users.CheckSetupToken(r.Context(), tok))
}

// setupErr answers a setup error that is not about the form's fields with
// the setup page that says why, or returns it as an error for serveError;
// ok reports whether there was none.
func (c *Console) setupErr(w http.ResponseWriter, r *http.Request, err error) (ok bool, _ error) {
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, users.ErrSetupDone):
		c.Render(w, r, http.StatusOK, "setup", setupData{Done: true})
		return false, nil
	case errors.Is(err, users.ErrSetupInvalid):
		c.Render(w, r, http.StatusForbidden, "setup", setupData{Invalid: true})
		return false, nil
	}
	return false, fmt.Errorf("setup: %w", err)
}

func (c *Console) setupSubmit(w http.ResponseWriter, r *http.Request) error {
	f := r.PostForm
	d := setupData{Token: f.Get("token"), Username: f.Get("username"), DisplayName: f.Get("display_name")}
	// Checked first so that a dead link says so rather than complaining
	// about the form; Setup checks again, atomically.
	if ok, err := c.setupTokenOK(w, r, d.Token); !ok {
		return err
	}
	if f.Get("password") != f.Get("password2") {
		d.Error = "The two passwords differ."
		c.Render(w, r, http.StatusOK, "setup", d)
		return nil
	}
	u, err := c.users.Setup(r.Context(), "console:setup", d.Token, users.Spec{
		Username: d.Username, DisplayName: d.DisplayName, Password: f.Get("password"),
	})
	var ve *users.ValidationError
	switch {
	case errors.As(err, &ve):
		d.Error = ve.Error()
		c.Render(w, r, http.StatusOK, "setup", d)
		return nil
	case errors.Is(err, users.ErrUsernameTaken):
		d.Error = "That username is taken."
		c.Render(w, r, http.StatusOK, "setup", d)
		return nil
	}
	if ok, err := c.setupErr(w, r, err); !ok {
		return err
	}
	c.log.Info("first administrator created", "user", u.ID, "username", u.Username)
	if err := c.startSession(w, r, u); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	return redirect(w, r, "/console/")
}

// setPasswordData is the data of set_password.html.
type setPasswordData struct {
	Done, Invalid   bool
	Token, Username string
	Error           string
}

// setPasswordPage is where a user created without a password chooses one
// with the code of a set-password link (users.SetPasswordLink). The code is
// in the link's fragment, which no browser sends: the page's script moves
// it into the form, or the user pastes it.
func (c *Console) setPasswordPage(w http.ResponseWriter, r *http.Request) error {
	if err := c.ensureCSRFCookie(w, r); err != nil {
		return fmt.Errorf("set-password page: %w", err)
	}
	c.Render(w, r, http.StatusOK, "set_password", setPasswordData{})
	return nil
}

func (c *Console) setPasswordSubmit(w http.ResponseWriter, r *http.Request) error {
	f := r.PostForm
	d := setPasswordData{Token: strings.TrimSpace(f.Get("token"))}
	// Checked first so that a dead link says so rather than complaining
	// about the form; RedeemPasswordToken checks again, atomically.
	err := c.users.CheckPasswordToken(r.Context(), d.Token)
	if err == nil && f.Get("password") != f.Get("password2") {
		d.Error = "The two passwords differ."
		c.Render(w, r, http.StatusUnprocessableEntity, "set_password", d)
		return nil
	}
	var u store.User
	if err == nil {
		u, err = c.users.RedeemPasswordToken(r.Context(), "console:set-password", d.Token, f.Get("password"))
	}
	var ve *users.ValidationError
	switch {
	case errors.As(err, &ve):
		d.Error = ve.Error()
		c.Render(w, r, http.StatusUnprocessableEntity, "set_password", d)
		return nil
	case errors.Is(err, users.ErrPasswordTokenInvalid):
		c.Render(w, r, http.StatusForbidden, "set_password", setPasswordData{Invalid: true})
		return nil
	case err != nil:
		return fmt.Errorf("set password with a link: %w", err)
	}
	c.log.Info("password set with a one-time link", "user", u.ID, "username", u.Username)
	c.Render(w, r, http.StatusOK, "set_password", setPasswordData{Done: true, Username: u.Username})
	return nil
}
