package console_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/console"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/internal/users"
)

// invite creates a user without a password and returns the code of the
// set-password link.
func (h *harness) invite(username string) string {
	h.t.Helper()
	_, inv, err := h.users.Invite(context.Background(), "test", users.Spec{Username: username, DisplayName: "New " + username})
	if err != nil {
		h.t.Fatal(err)
	}
	return inv.Token
}

func TestSetPassword(t *testing.T) {
	var logs testutil.SyncBuffer
	h := newHarnessWith(t, users.Options{}, func(o *console.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	code := h.invite("nina")
	if got, want := users.SetPasswordLink(h.srv.URL+"/", code), h.srv.URL+"/console/set-password#"+code; got != want {
		t.Errorf("SetPasswordLink = %q, want %q", got, want)
	}

	// The page is the same for every link: the code is not sent.
	r := h.get("/console/set-password")
	wantCode(t, "set-password page", r, http.StatusOK)
	wantBody(t, "set-password page", r, `action="/console/set-password"`, `name="token"`, `src="/console/static/set-password.js"`)
	if csp := r.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy = %q; want default-src 'self'", csp)
	}
	js := h.get("/console/static/set-password.js")
	wantCode(t, "script", js, http.StatusOK)
	wantBody(t, "script", js, "location.hash", "replaceState")
	csrf := csrfOf(t, r.body)
	form := url.Values{"token": {code}, "password": {pw}, "password2": {pw}}

	wantCode(t, "without a CSRF token", h.post("/console/set-password", form), http.StatusForbidden)
	form.Set("csrf_token", csrf)
	form.Set("password2", pw+"!")
	r = h.post("/console/set-password", form)
	wantCode(t, "passwords differ", r, http.StatusUnprocessableEntity)
	wantBody(t, "passwords differ", r, "The two passwords differ.", `value="`+code+`"`)
	form.Set("password", "short")
	form.Set("password2", "short")
	r = h.post("/console/set-password", form)
	wantCode(t, "short password", r, http.StatusUnprocessableEntity)
	wantBody(t, "short password", r, "at least 12")
	if got := h.login("nina", "short", ""); got.code != http.StatusOK {
		t.Errorf("login with a refused password: status %d, want 200 (the form again)", got.code)
	}
	for _, bad := range []string{"", "wrong", code + "x"} {
		f := url.Values{"csrf_token": {csrf}, "token": {bad}, "password": {pw}, "password2": {pw}}
		r = h.post("/console/set-password", f)
		wantCode(t, "code "+bad, r, http.StatusForbidden)
		wantBody(t, "code "+bad, r, "This link is invalid, already used or expired.")
	}

	form.Set("password", pw)
	form.Set("password2", pw)
	r = h.post("/console/set-password", form)
	wantCode(t, "set password", r, http.StatusOK)
	wantBody(t, "set password", r, `id="password-set"`, "Log in as <strong>nina</strong>")
	wantLocation(t, "login with the new password", h.login("nina", pw, ""), "/console/")

	// Once only.
	h.hc = h.newClient()
	r = h.get("/console/set-password")
	form.Set("csrf_token", csrfOf(t, r.body))
	form.Set("password", "another long password")
	form.Set("password2", "another long password")
	r = h.post("/console/set-password", form)
	wantCode(t, "second use", r, http.StatusForbidden)
	wantBody(t, "second use", r, "This link is invalid, already used or expired.")
	wantLocation(t, "login after a second use", h.login("nina", pw, ""), "/console/")

	if strings.Contains(logs.String(), code) {
		t.Errorf("the log holds the set-password code:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "password set with a one-time link") {
		t.Errorf("the log does not record the password set:\n%s", logs.String())
	}
}

// TestSetPasswordConcurrent: two browsers submit one link at once; one
// sets the password, the other is told the link is spent.
func TestSetPasswordConcurrent(t *testing.T) {
	h := newHarness(t, users.Options{})
	code := h.invite("omar")
	passwords := []string{"first long password", "second long password"}
	var reqs []*http.Request
	var clients []*http.Client
	for _, p := range passwords {
		hc := h.newClient()
		var page resp
		h.as(hc, func() { page = h.get("/console/set-password") })
		form := url.Values{"csrf_token": {csrfOf(t, page.body)}, "token": {code}, "password": {p}, "password2": {p}}
		req, _ := http.NewRequest("POST", h.srv.URL+"/console/set-password", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		reqs, clients = append(reqs, req), append(clients, hc)
	}
	codes := make([]int, len(reqs))
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() {
			r, err := clients[i].Do(reqs[i])
			if err != nil {
				t.Errorf("POST #%d: %v", i, err)
				return
			}
			r.Body.Close()
			codes[i] = r.StatusCode
		})
	}
	wg.Wait()
	won := -1
	for i, c := range codes {
		switch {
		case c == http.StatusOK && won < 0:
			won = i
		case c == http.StatusForbidden:
		default:
			t.Errorf("POST #%d: status %d", i, c)
		}
	}
	if won < 0 {
		t.Fatalf("statuses %v: no submission set the password", codes)
	}
	if _, err := h.users.Authenticate(context.Background(), "omar", passwords[won], "a"); err != nil {
		t.Errorf("the winner's password: %v", err)
	}
	evs, _ := h.st.ListAudit(context.Background(), store.AuditFilter{Action: "user.set_password"})
	if len(evs) != 1 || evs[0].Actor != "console:set-password" {
		t.Errorf("audit = %+v; want one user.set_password by console:set-password", evs)
	}
}
