package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/console"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/internal/users"
)

type harness struct {
	t     *testing.T
	st    store.Store
	users *users.Service
	con   *console.Console
	clk   *testutil.Clock
	srv   *httptest.Server
	hc    *http.Client
	xff   string // X-Forwarded-For sent with every request, if set
}

func newHarness(t *testing.T, uo users.Options) *harness {
	t.Helper()
	return newHarnessWith(t, uo, func(*console.Options) {})
}

func newHarnessWith(t *testing.T, uo users.Options, co func(*console.Options)) *harness {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/g.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, st: st, clk: testutil.NewClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))}
	uo.Store, uo.Now, uo.Password = st, h.clk.Now, testutil.CheapPassword()
	h.users = users.New(uo)
	mux := http.NewServeMux()
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	o := console.Options{Store: st, Users: h.users, Issuer: h.srv.URL, Now: h.clk.Now}
	co(&o)
	h.con, err = console.New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.con.Register(mux)
	h.hc = h.newClient()
	return h
}

func (h *harness) newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type resp struct {
	code int
	hdr  http.Header
	body string
}

func (h *harness) do(req *http.Request) resp {
	h.t.Helper()
	if h.xff != "" {
		req.Header.Set("X-Forwarded-For", h.xff)
	}
	r, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, r.Header, string(b)}
}

func (h *harness) get(path string) resp {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
	return h.do(req)
}

func (h *harness) post(path string, form url.Values) resp {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil || m[1] == "" {
		t.Fatalf("no csrf_token in page:\n%s", body)
	}
	return m[1]
}

const pw = "a good long password"

func (h *harness) createUser(name, role string) store.User {
	h.t.Helper()
	u, err := h.users.Create(context.Background(), "test", users.Spec{Username: name, Password: pw, Role: role})
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

// login logs in through the form and returns the response to the POST.
func (h *harness) login(user, password, next string) resp {
	h.t.Helper()
	page := h.get("/console/login")
	return h.post("/console/login", url.Values{"csrf_token": {csrfOf(h.t, page.body)}, "username": {user}, "password": {password}, "next": {next}})
}

func wantCode(t *testing.T, what string, r resp, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: status %d, want %d; body:\n%s", what, r.code, code, r.body)
	}
}

func wantLocation(t *testing.T, what string, r resp, loc string) {
	t.Helper()
	if r.code != http.StatusSeeOther || r.hdr.Get("Location") != loc {
		t.Errorf("%s: got %d Location %q, want 303 %q", what, r.code, r.hdr.Get("Location"), loc)
	}
}

func TestSetupFlow(t *testing.T) {
	h := newHarness(t, users.Options{})
	ctx := context.Background()
	link, err := h.con.SetupLink(ctx)
	if err != nil || !strings.HasPrefix(link, h.srv.URL+"/console/setup?token=") {
		t.Fatalf("SetupLink = %q, %v; want %s/console/setup?token=...", link, err, h.srv.URL)
	}
	path := strings.TrimPrefix(link, h.srv.URL)
	tok := strings.TrimPrefix(path, "/console/setup?token=")

	r := h.get("/console/setup?token=wrong" + tok)
	wantCode(t, "wrong token", r, http.StatusForbidden)
	if !strings.Contains(r.body, "invalid, already used or expired") {
		t.Errorf("wrong token page does not say so:\n%s", r.body)
	}

	r = h.get(path)
	wantCode(t, "setup page", r, http.StatusOK)
	csrf := csrfOf(t, r.body)
	form := url.Values{"token": {tok}, "username": {"root"}, "display_name": {"Ruth Root"}, "password": {pw}, "password2": {pw}}

	r = h.post("/console/setup", form)
	wantCode(t, "setup without CSRF token", r, http.StatusForbidden)

	form.Set("csrf_token", csrf)
	form.Set("password2", pw+"!")
	r = h.post("/console/setup", form)
	wantCode(t, "passwords differ", r, http.StatusOK)
	if !strings.Contains(r.body, "The two passwords differ.") {
		t.Errorf("mismatch page does not say so:\n%s", r.body)
	}
	form.Set("password2", pw)
	r = h.post("/console/setup", form)
	wantLocation(t, "setup", r, "/console/")

	r = h.get("/console/")
	wantCode(t, "home after setup", r, http.StatusOK)
	if !strings.Contains(r.body, "logged in as <strong>root</strong> (admin)") {
		t.Errorf("home page does not show the new admin:\n%s", r.body)
	}

	// The link is spent, and an admin exists now.
	form.Set("csrf_token", csrfOf(t, r.body))
	form.Set("username", "root2")
	r = h.post("/console/setup", form)
	wantCode(t, "setup replay", r, http.StatusOK)
	if !strings.Contains(r.body, "An administrator already exists") {
		t.Errorf("replayed setup does not say an admin exists:\n%s", r.body)
	}
	h.hc = h.newClient()
	r = h.get(path)
	if !strings.Contains(r.body, "An administrator already exists") {
		t.Errorf("setup link in another browser does not say an admin exists:\n%s", r.body)
	}
	us, _ := h.users.List(ctx)
	if len(us) != 1 {
		t.Errorf("%d users after a replayed setup, want 1", len(us))
	}
	if link, err := h.con.SetupLink(ctx); link != "" || err != nil {
		t.Errorf("SetupLink with an admin = %q, %v; want \"\", nil", link, err)
	}
}

func TestSetupTokenSingleUse(t *testing.T) {
	h := newHarness(t, users.Options{})
	link, _ := h.con.SetupLink(context.Background())
	path := strings.TrimPrefix(link, h.srv.URL)
	r := h.get(path)
	form := url.Values{"csrf_token": {csrfOf(t, r.body)}, "token": {strings.TrimPrefix(path, "/console/setup?token=")},
		"username": {"root"}, "password": {pw}, "password2": {pw}}
	wantLocation(t, "setup", h.post("/console/setup", form), "/console/")

	// Even with the admin gone (as if deleted), the token stays spent.
	if _, err := h.st.UpdateUser(context.Background(), mustUser(t, h, "root").ID, func(u *store.User, _ int) error {
		u.Role = store.RoleMember
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "second use of the token", h.get(path), http.StatusForbidden)
}

func mustUser(t *testing.T, h *harness, name string) store.User {
	u, err := h.users.GetByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSetupTokenExpires(t *testing.T) {
	h := newHarness(t, users.Options{})
	link, _ := h.con.SetupLink(context.Background())
	path := strings.TrimPrefix(link, h.srv.URL)
	h.clk.Add(time.Hour - time.Second)
	r := h.get(path)
	wantCode(t, "setup link before 1h", r, http.StatusOK)
	h.clk.Add(time.Second)
	wantCode(t, "setup link after 1h", h.get(path), http.StatusForbidden)
	form := url.Values{"csrf_token": {csrfOf(t, r.body)}, "token": {strings.TrimPrefix(path, "/console/setup?token=")},
		"username": {"root"}, "password": {pw}, "password2": {pw}}
	wantCode(t, "setup POST after 1h", h.post("/console/setup", form), http.StatusForbidden)
}

func TestLogin(t *testing.T) {
	h := newHarness(t, users.Options{})
	h.createUser("alice", store.RoleMember)

	r := h.get("/console/")
	wantLocation(t, "home, not logged in", r, "/console/login?next=%2Fconsole%2F")

	for _, tc := range []struct{ user, pw string }{{"alice", "wrong password!"}, {"nobody", pw}} {
		r = h.login(tc.user, tc.pw, "")
		wantCode(t, "bad login", r, http.StatusOK)
		if !strings.Contains(r.body, "Wrong username or password.") {
			t.Errorf("login(%q, %q): page does not say wrong username or password:\n%s", tc.user, tc.pw, r.body)
		}
	}
	wantLocation(t, "home, still not logged in", h.get("/console/"), "/console/login?next=%2Fconsole%2F")

	r = h.login("Alice", pw, "/console/x?y=1")
	wantLocation(t, "login", r, "/console/x?y=1")
	ck := r.hdr.Values("Set-Cookie")
	var sess string
	for _, c := range ck {
		if strings.HasPrefix(c, console.SessionCookie+"=") {
			sess = c
		}
	}
	for _, attr := range []string{"Path=/", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(sess, attr) {
			t.Errorf("session cookie %q lacks %s", sess, attr)
		}
	}
	if strings.Contains(sess, "Secure") {
		t.Errorf("session cookie %q is Secure for an http issuer", sess)
	}
	r = h.get("/console/")
	wantCode(t, "home after login", r, http.StatusOK)
	if !strings.Contains(r.body, "alice") {
		t.Errorf("home does not show alice:\n%s", r.body)
	}
	// Logged in, the login page goes on to next.
	wantLocation(t, "login page when logged in", h.get("/console/login?next=/console/abc"), "/console/abc")
}

func TestSecureCookieForHTTPSIssuer(t *testing.T) {
	h := newHarness(t, users.Options{})
	h.createUser("alice", store.RoleMember)
	con, err := console.New(console.Options{Store: h.st, Users: h.users, Issuer: "https://auth.example", Now: h.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	con.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/console/login", nil))
	pre := rec.Result().Cookies()
	if len(pre) != 1 || !pre[0].Secure || !pre[0].HttpOnly {
		t.Fatalf("pre-session cookies %+v; want one Secure HttpOnly cookie", pre)
	}
	req := httptest.NewRequest("POST", "/console/login", strings.NewReader(url.Values{
		"csrf_token": {csrfOf(t, rec.Body.String())}, "username": {"alice"}, "password": {pw}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(pre[0])
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	var found bool
	for _, c := range rec.Result().Cookies() {
		if c.Name == console.SessionCookie {
			found = true
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
				t.Errorf("session cookie %+v; want Secure, HttpOnly, SameSite=Lax, Path=/", c)
			}
		}
	}
	if !found {
		t.Errorf("no session cookie after login (status %d)", rec.Code)
	}
}

func TestLoginOpenRedirect(t *testing.T) {
	h := newHarness(t, users.Options{})
	h.createUser("alice", store.RoleMember)
	for _, next := range []string{
		"//evil.example/", "https://evil.example/", "/\\evil.example", "\\/evil.example", "/\t/evil.example",
		"javascript:alert(1)", "evil.example", "///evil.example", "http:/evil.example", "/\r\n/evil.example",
	} {
		h.hc = h.newClient()
		wantLocation(t, "login with next="+next, h.login("alice", pw, next), "/console/")
	}
}

func TestLoginRateLimit(t *testing.T) {
	h := newHarness(t, users.Options{FailuresPerUser: 1, FailureBurst: 2})
	h.createUser("alice", store.RoleMember)
	for range 2 {
		wantCode(t, "failure", h.login("alice", "wrong password!", ""), http.StatusOK)
	}
	r := h.login("alice", pw, "")
	wantCode(t, "over the limit", r, http.StatusTooManyRequests)
	if ra := r.hdr.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q; want seconds", ra)
	}
	if !strings.Contains(r.body, "Too many failed attempts") {
		t.Errorf("429 page does not say why:\n%s", r.body)
	}
	h.clk.Add(time.Minute)
	wantLocation(t, "a minute later", h.login("alice", pw, ""), "/console/")
}

// TestLoginRateLimitSparesKnownPairs: guessing alice's password from many
// addresses, and other usernames from the office address bob shares with
// the attacker, locks out neither of them where they logged in before;
// everyone else over a limit gets 429 without the password being checked.
func TestLoginRateLimitSparesKnownPairs(t *testing.T) {
	cip, err := clientip.New([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, users.Options{FailuresPerUser: 5, FailuresPerAddress: 20, FailureBurst: 5, RememberSuccess: 24 * time.Hour},
		func(o *console.Options) { o.ClientIP = cip })
	h.createUser("alice", store.RoleMember)
	h.createUser("bob", store.RoleMember)
	h.createUser("carol", store.RoleMember)
	const home, office = "203.0.113.1", "198.51.100.7"
	loginFrom := func(addr, user, password string) resp {
		h.hc, h.xff = h.newClient(), addr
		return h.login(user, password, "")
	}
	wantLocation(t, "alice at home", loginFrom(home, "alice", pw), "/console/")
	wantLocation(t, "bob at the office", loginFrom(office, "bob", pw), "/console/")

	for i := range 5 { // alice's allowance, from ever new addresses
		loginFrom("192.0.2."+strconv.Itoa(i), "alice", "wrong password!")
	}
	for i := range 20 { // the office's allowance
		loginFrom(office, "user"+strconv.Itoa(i), "wrong password!")
	}
	for i := range 20 {
		if r := loginFrom(home, "alice", pw); r.code != http.StatusSeeOther {
			t.Fatalf("alice at home, login %d during the attack: got %d, want 303\n%s", i+1, r.code, r.body)
		}
		if r := loginFrom(office, "bob", pw); r.code != http.StatusSeeOther {
			t.Fatalf("bob at the office, login %d during the attack: got %d, want 303\n%s", i+1, r.code, r.body)
		}
	}
	// Over a limit and not a known pair: refused, right password or not.
	for _, tc := range []struct{ name, addr, user, password string }{
		{"attacker guessing alice", "192.0.2.99", "alice", "another guess"},
		{"alice from a new address", "192.0.2.100", "alice", pw},
		{"carol at the office", office, "carol", pw},
	} {
		r := loginFrom(tc.addr, tc.user, tc.password)
		wantCode(t, tc.name, r, http.StatusTooManyRequests)
		if ra, err := strconv.Atoi(r.hdr.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("%s: Retry-After = %q; want seconds", tc.name, r.hdr.Get("Retry-After"))
		}
	}
	// alice elsewhere and carol once the allowances are back.
	h.clk.Add(time.Minute)
	wantLocation(t, "alice from a new address a minute later", loginFrom("192.0.2.100", "alice", pw), "/console/")
	wantLocation(t, "carol at the office a minute later", loginFrom(office, "carol", pw), "/console/")
}

func TestCSRF(t *testing.T) {
	h := newHarness(t, users.Options{})
	h.createUser("alice", store.RoleMember)
	h.get("/console/login") // gets the pre-session cookie
	for _, tok := range []string{"", "wrong"} {
		r := h.post("/console/login", url.Values{"csrf_token": {tok}, "username": {"alice"}, "password": {pw}})
		wantCode(t, "login with csrf_token="+tok, r, http.StatusForbidden)
	}
	// A token from another browser does not work either.
	other := h.get("/console/login")
	h.hc = h.newClient()
	h.get("/console/login")
	r := h.post("/console/login", url.Values{"csrf_token": {csrfOf(t, other.body)}, "username": {"alice"}, "password": {pw}})
	wantCode(t, "login with another browser's token", r, http.StatusForbidden)

	wantLocation(t, "login", h.login("alice", pw, ""), "/console/")
	home := h.get("/console/")
	wantCode(t, "logout without token", h.post("/console/logout", nil), http.StatusForbidden)
	wantCode(t, "still logged in", h.get("/console/"), http.StatusOK)
	if got, want := csrfOf(t, home.body), h.con.CSRFToken(requestWithJar(t, h)); got != want {
		t.Errorf("page token %q != CSRFToken %q", got, want)
	}
}

func requestWithJar(t *testing.T, h *harness) *http.Request {
	req := httptest.NewRequest("GET", h.srv.URL+"/console/", nil)
	u, _ := url.Parse(h.srv.URL)
	for _, c := range h.hc.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	return req
}

func TestLogout(t *testing.T) {
	h := newHarness(t, users.Options{})
	h.createUser("alice", store.RoleMember)
	h.login("alice", pw, "")
	u, _ := url.Parse(h.srv.URL)
	old := h.hc.Jar.Cookies(u)
	home := h.get("/console/")
	r := h.post("/console/logout", url.Values{"csrf_token": {csrfOf(t, home.body)}})
	wantLocation(t, "logout", r, "/console/login")
	wantLocation(t, "home after logout", h.get("/console/"), "/console/login?next=%2Fconsole%2F")
	// The old cookie value no longer names a session.
	h.hc = h.newClient()
	h.hc.Jar.SetCookies(u, old)
	wantLocation(t, "home with the old cookie", h.get("/console/"), "/console/login?next=%2Fconsole%2F")
}

func TestSessionIdleTimeout(t *testing.T) {
	h := newHarness(t, users.Options{})
	h.createUser("alice", store.RoleMember)
	h.login("alice", pw, "")
	h.clk.Add(2*time.Hour - time.Minute)
	wantCode(t, "after 1h59m idle", h.get("/console/"), http.StatusOK)
	h.clk.Add(2*time.Hour - time.Minute)
	wantCode(t, "1h59m after the last request", h.get("/console/"), http.StatusOK)
	h.clk.Add(2 * time.Hour)
	wantLocation(t, "after 2h idle", h.get("/console/"), "/console/login?next=%2Fconsole%2F")
}

func TestSessionAbsoluteTimeout(t *testing.T) {
	h := newHarness(t, users.Options{})
	h.createUser("alice", store.RoleMember)
	h.login("alice", pw, "")
	for i := 1; i < 24; i++ {
		h.clk.Add(time.Hour)
		wantCode(t, "busy session", h.get("/console/"), http.StatusOK)
	}
	h.clk.Add(time.Hour)
	wantLocation(t, "after 24h", h.get("/console/"), "/console/login?next=%2Fconsole%2F")
}

func TestDisabledUserSession(t *testing.T) {
	h := newHarness(t, users.Options{})
	u := h.createUser("alice", store.RoleMember)
	h.login("alice", pw, "")
	wantCode(t, "logged in", h.get("/console/"), http.StatusOK)
	// Disabled behind the service's back (sessions kept): still refused.
	if _, err := h.st.UpdateUser(context.Background(), u.ID, func(u *store.User, _ int) error { u.Disabled = true; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	wantLocation(t, "disabled user", h.get("/console/"), "/console/login?next=%2Fconsole%2F")
	r := h.login("alice", pw, "")
	if !strings.Contains(r.body, "disabled") {
		t.Errorf("login of a disabled user does not say so:\n%s", r.body)
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, users.Options{})
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
		"Content-Type":            "text/html; charset=utf-8",
	}
	for _, path := range []string{"/console/login", "/console/setup", "/console/nope"} {
		r := h.get(path)
		for k, v := range want {
			if got := r.hdr.Get(k); got != v {
				t.Errorf("GET %s: %s = %q, want %q", path, k, got, v)
			}
		}
	}
	r := h.get("/console/static/style.css")
	wantCode(t, "style.css", r, http.StatusOK)
	if ct := r.hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("style.css Content-Type = %q", ct)
	}
	if r := h.get("/console/nope"); r.code != http.StatusNotFound {
		t.Errorf("GET /console/nope: %d, want 404", r.code)
	}
}

func TestRenderUnknownTemplate(t *testing.T) {
	h := newHarness(t, users.Options{})
	rec := httptest.NewRecorder()
	h.con.Render(rec, httptest.NewRequest("GET", "/", nil), http.StatusOK, "no-such-page", nil)
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("X-Frame-Options") != "DENY" {
		t.Errorf("unknown template: %d, X-Frame-Options %q; want 500, DENY", rec.Code, rec.Header().Get("X-Frame-Options"))
	}
}
