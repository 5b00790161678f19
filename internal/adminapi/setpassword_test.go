package adminapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/users"
)

// TestSetPasswordLink: a user created without a password gets a one-time
// link on the issuer; the console page it opens sets the password once,
// and then the user logs in with it.
func TestSetPasswordLink(t *testing.T) {
	h := newHarness(t)
	_, tok := h.admin()
	created := h.clk.Now()
	r := h.call(tok, "POST", "/users", admin.NewUser{Username: "nia", DisplayName: "Nia New"}, "Idempotency-Key", "nia-1")
	wantStatus(t, "create without a password", r, http.StatusCreated)
	u := decode[admin.User](t, r)
	prefix := h.url + "/console/set-password#"
	if !strings.HasPrefix(u.SetPasswordURL, prefix) || len(u.SetPasswordURL) != len(prefix)+43 {
		t.Fatalf("set_password_url = %q, want %s and a 43-character code", u.SetPasswordURL, prefix)
	}
	if u.SetPasswordExpiresAt == nil || !u.SetPasswordExpiresAt.Equal(created.Add(72*time.Hour)) {
		t.Errorf("set_password_expires_at = %v, want %v", u.SetPasswordExpiresAt, created.Add(72*time.Hour))
	}
	code := strings.TrimPrefix(u.SetPasswordURL, prefix)

	// A retry with the key gets the same link; no second user, no second
	// link. GET never shows the link, and has the create's ETag.
	again := h.call(tok, "POST", "/users", admin.NewUser{Username: "nia", DisplayName: "Nia New"}, "Idempotency-Key", "nia-1")
	if again.code != http.StatusCreated || again.body != r.body {
		t.Errorf("retry: %d %s, want the first response", again.code, again.body)
	}
	g := h.call(tok, "GET", "/users/"+u.ID, nil)
	if strings.Contains(g.body, "set_password") || strings.Contains(g.body, code) {
		t.Errorf("GET shows the set-password link: %s", g.body)
	}
	if g.hdr.Get("ETag") != r.hdr.Get("ETag") {
		t.Errorf("GET ETag %s, want the create's %s", g.hdr.Get("ETag"), r.hdr.Get("ETag"))
	}

	// Before the link is used, no password logs in.
	b := h.browser()
	login := func(password string) resp {
		t.Helper()
		return h.form(b, "/console/login", "/console/login", url.Values{"username": {"nia"}, "password": {password}})
	}
	if got := login(""); got.code != http.StatusOK || !strings.Contains(got.body, "Wrong username or password") {
		t.Errorf("login without a password: %d, want the form saying wrong username or password", got.code)
	}

	// A browser opens the link: it requests the page without the fragment.
	link, err := url.Parse(u.SetPasswordURL)
	if err != nil || link.Fragment != code || link.RawQuery != "" {
		t.Fatalf("set_password_url %q: the code must be the fragment, not the query", u.SetPasswordURL)
	}
	link.Fragment = ""
	path := strings.TrimPrefix(link.String(), h.url)
	r = h.form(b, path, path, url.Values{"token": {code}, "password": {"short"}, "password2": {"short"}})
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "at least 12") {
		t.Errorf("a short password: %d, want 422 with the rule:\n%s", r.code, r.body)
	}
	const newPW = "nia's own long password"
	r = h.form(b, path, path, url.Values{"token": {code}, "password": {newPW}, "password2": {newPW}})
	if r.code != http.StatusOK || !strings.Contains(r.body, "Log in as <strong>nia</strong>") {
		t.Fatalf("set the password: %d, want 200 naming nia:\n%s", r.code, r.body)
	}
	if got := login(newPW); got.code != http.StatusSeeOther || got.hdr.Get("Location") != "/console/" {
		t.Errorf("login with the password set: %d %s, want 303 /console/", got.code, got.hdr.Get("Location"))
	}
	r = h.form(h.browser(), path, path, url.Values{"token": {code}, "password": {"an attacker's password"}, "password2": {"an attacker's password"}})
	if r.code != http.StatusForbidden || !strings.Contains(r.body, "invalid, already used or expired") {
		t.Errorf("second use of the link: %d, want 403 saying it is spent", r.code)
	}

	// The link expires after 72 hours.
	late := decode[admin.User](t, h.call(tok, "POST", "/users", admin.NewUser{Username: "late"}))
	lateCode := late.SetPasswordURL[strings.IndexByte(late.SetPasswordURL, '#')+1:]
	h.clk.Add(users.SetPasswordValidity)
	r = h.form(h.browser(), path, path, url.Values{"token": {lateCode}, "password": {newPW}, "password2": {newPW}})
	if r.code != http.StatusForbidden {
		t.Errorf("an expired link: %d, want 403", r.code)
	}

	// The codes appear in no log line.
	for _, c := range []string{code, lateCode} {
		if strings.Contains(h.logs.String(), c) {
			t.Errorf("the log holds a set-password code:\n%s", h.logs.String())
		}
	}
}
