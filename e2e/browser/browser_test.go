package browser

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	adminPassword  = "correct horse battery staple"
	memberPassword = "members-only password 42"
)

// setupAdmin creates the first administrator through the printed setup
// link and waits for the console home page.
func setupAdmin(t *testing.T, ctx context.Context, srv *server) {
	t.Helper()
	do(t, ctx, "open the setup link",
		chromedp.Navigate(srv.setupLink),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/console/setup"] #password2`)))
	do(t, ctx, "fill in the setup form",
		chromedp.SendKeys(chromedp.CSS(`#username`), "ada"),
		chromedp.SendKeys(chromedp.CSS(`#display_name`), "Ada Admin"),
		chromedp.SendKeys(chromedp.CSS(`#password`), adminPassword),
		chromedp.SendKeys(chromedp.CSS(`#password2`), adminPassword))
	shoot(t, ctx, "setup")
	do(t, ctx, "submit the setup form",
		chromedp.Click(chromedp.CSS(`form[action="/console/setup"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`header form[action="/console/logout"]`)))
}

// logIn fills in the login form the tab shows.
func logIn(t *testing.T, ctx context.Context, username, password string) {
	t.Helper()
	do(t, ctx, "log in as "+username,
		chromedp.WaitVisible(chromedp.CSS(`form[action="/console/login"] #password`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), username),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`form[action="/console/login"] button[type=submit]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`form[action="/console/login"]`)))
}

func TestFirstAdminSetup(t *testing.T) {
	in := newInstance(t)
	srv := in.serve(true)
	ctx := newBrowser(t)

	setupAdmin(t, ctx, srv)
	if got, want := text(t, ctx, "main h1"), "Welcome, Ada Admin"; got != want {
		t.Errorf("home page heading: got %q, want %q", got, want)
	}
	if got := text(t, ctx, "main"); !strings.Contains(got, "ada (admin)") {
		t.Errorf("home page: got %q, want it to say ada (admin)", got)
	}

	// The link does not work twice.
	do(t, ctx, "open the setup link again",
		chromedp.Navigate(srv.setupLink),
		chromedp.WaitVisible(chromedp.CSS(`main h1`)))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('form[action="/console/setup"]').length`)); err != nil || n != 0 {
		t.Errorf("setup form after setup: got %d forms (err %v), want none", n, err)
	}

	// Log out, and back in with the new password.
	do(t, ctx, "log out",
		chromedp.Navigate(srv.URL+"/console/"),
		chromedp.Click(chromedp.CSS(`header form[action="/console/logout"] button`)),
		chromedp.WaitNotPresent(chromedp.CSS(`header form[action="/console/logout"]`)))
	do(t, ctx, "open the console", chromedp.Navigate(srv.URL+"/console/"))
	logIn(t, ctx, "ada", adminPassword)
	if got, want := text(t, ctx, "main h1"), "Welcome, Ada Admin"; got != want {
		t.Errorf("home page after login: got %q, want %q", got, want)
	}
}

// createAppInConsole fills in "Generate New OAuth Credentials" and returns
// the client ID and secret the created page shows.
func createAppInConsole(t *testing.T, ctx context.Context, srv *server, name string, screenshot bool) (id, secret string) {
	t.Helper()
	do(t, ctx, "open the new app form",
		chromedp.Navigate(srv.URL+"/console/apps/new"),
		chromedp.WaitVisible(chromedp.CSS(`#app-form #save`)),
		chromedp.SendKeys(chromedp.CSS(`#app-form [name=name]`), name),
		// The client credentials grant and the search scope, by their
		// checkboxes.
		script(`(() => {
			const check = (sel) => { const el = document.querySelector(sel); if (el && !el.checked) el.click(); return !!el; };
			check('#app-form input[type=checkbox][value="client_credentials"]');
			return check('#app-form input[type=checkbox][value="search"]');
		})()`))
	if screenshot {
		shoot(t, ctx, "app-new")
	}
	do(t, ctx, "save the app",
		chromedp.Click(chromedp.CSS(`#app-form #save`)),
		chromedp.WaitVisible(chromedp.CSS(`#client-secret`)))
	if screenshot {
		shoot(t, ctx, "app-secret-once")
	}
	id, secret = secretShown(t, ctx)
	return id, secret
}

// script runs JavaScript in the page as a step.
func script(js string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](js)(ctx, t)
		return chromedp.Void{}, err
	}
}

// secretShown reads #client-id and #client-secret from the page.
func secretShown(t *testing.T, ctx context.Context) (id, secret string) {
	t.Helper()
	id, secret = valueOrText(t, ctx, "#client-id"), valueOrText(t, ctx, "#client-secret")
	if id == "" || secret == "" {
		t.Fatalf("created page: got client ID %q and secret %q, want both", id, secret)
	}
	return id, secret
}

// valueOrText is an input's value or an element's text.
func valueOrText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(
		`(() => { const el = document.querySelector(%q); return el ? ('value' in el ? el.value : el.textContent) : ''; })()`, sel)))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

func TestAppSecretShownOnce(t *testing.T) {
	in := newInstance(t)
	srv := in.serve(true)
	ctx := newBrowser(t)
	setupAdmin(t, ctx, srv)

	id, secret := createAppInConsole(t, ctx, srv, "Billing sync", true)
	created := location(t, ctx)
	do(t, ctx, "reload the created page",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#secret-gone`)))
	if html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS(`html`))); strings.Contains(html, secret) {
		t.Errorf("reloading %s shows the secret again", created)
	}
	// Opening the page afresh, as from a bookmark or the history, neither.
	do(t, ctx, "open the created page again",
		chromedp.Navigate(created),
		chromedp.WaitVisible(chromedp.CSS(`#secret-gone`)))
	if html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS(`html`))); strings.Contains(html, secret) {
		t.Errorf("opening %s again shows the secret", created)
	}

	if code, m := srv.clientCredentials(t, id, secret); code != http.StatusOK || m["access_token"] == nil {
		t.Errorf("token with the secret shown once: got %d %v, want 200 and a token", code, m)
	}
}

func TestRegenerateSecretWithGrace(t *testing.T) {
	in := newInstance(t)
	srv := in.serve(true)
	ctx := newBrowser(t)
	setupAdmin(t, ctx, srv)
	id, oldSecret := createAppInConsole(t, ctx, srv, "Rotating app", false)

	do(t, ctx, "open the app",
		chromedp.Navigate(srv.URL+"/console/apps/"+url.PathEscape(id)),
		chromedp.WaitVisible(chromedp.CSS(`#regenerate-form #regenerate`)))
	grace, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const s = document.querySelector('#regenerate-form select[name=grace]');
		const o = [...s.options].find(o => !/^(0|0s|none|)$/.test(o.value));
		s.value = o.value;
		return o.value;
	})()`))
	if err != nil {
		t.Fatalf("choose a grace period: %v", err)
	}
	do(t, ctx, "regenerate the secret with grace "+grace,
		chromedp.Click(chromedp.CSS(`#regenerate-form #regenerate`)),
		chromedp.WaitVisible(chromedp.CSS(`#client-secret`)))
	_, newSecret := secretShown(t, ctx)
	if newSecret == oldSecret {
		t.Fatalf("regenerated secret: got the old one back")
	}

	for _, s := range []struct{ name, secret string }{{"old", oldSecret}, {"new", newSecret}} {
		if code, m := srv.clientCredentials(t, id, s.secret); code != http.StatusOK {
			t.Errorf("token with the %s secret during the grace period %s: got %d %v, want 200", s.name, grace, code, m)
		}
	}
}

// thirdPartyApp is the test's stand-in for an app that uses Gatehouse: it
// receives the browser at its callback.
type thirdPartyApp struct {
	callback  string
	callbacks chan url.Values
}

func newThirdPartyApp(t *testing.T) *thirdPartyApp {
	t.Helper()
	app := &thirdPartyApp{callbacks: make(chan url.Values, 4)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		app.callbacks <- r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>Acme Reports</title><h1 id="callback">Acme Reports got the answer</h1>`)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	app.callback = ts.URL + "/callback"
	return app
}

// next returns the query of the callback the browser just made.
func (app *thirdPartyApp) next(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-app.callbacks:
		return q
	case <-time.After(10 * time.Second):
		t.Fatal("the app's callback was not called")
		return nil
	}
}

// authRequest is one authorization request with PKCE (RFC 7636 §4).
type authRequest struct {
	state, verifier string
	url             string
}

func newAuthRequest(t *testing.T, srv *server, app *thirdPartyApp, clientID, scope string) authRequest {
	t.Helper()
	r := authRequest{state: rand.Text(), verifier: rand.Text() + rand.Text()}
	sum := sha256.Sum256([]byte(r.verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {app.callback},
		"scope":                 {scope},
		"state":                 {r.state},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	r.url = srv.URL + "/oauth/authorize?" + q.Encode()
	return r
}

const consentAllow = `button[name=decision][value=allow]`

// consent waits for the consent page, checks it, and answers it.
func consent(t *testing.T, ctx context.Context, decision string, screenshot bool) {
	t.Helper()
	do(t, ctx, "wait for the consent page", chromedp.WaitVisible(chromedp.CSS(consentAllow)))
	page := text(t, ctx, "main")
	for _, want := range []string{"Authorize Acme Reports", "https://reports.example", "Access your profile information", "Search records on your behalf"} {
		if !strings.Contains(page, want) {
			t.Errorf("consent page: got %q, want it to show %q", page, want)
		}
	}
	if screenshot {
		shoot(t, ctx, "consent")
	}
	do(t, ctx, decision,
		chromedp.Click(chromedp.CSS(`button[name=decision][value=`+decision+`]`)),
		chromedp.WaitVisible(chromedp.CSS(`#callback`)))
}

// exchange redeems an authorization code at the token endpoint.
func exchange(t *testing.T, srv *server, c createdClient, app *thirdPartyApp, code, verifier string) map[string]any {
	t.Helper()
	status, m := srv.tokenRequest(t, c.ClientID, c.ClientSecret, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {app.callback},
		"code_verifier": {verifier},
	})
	if status != http.StatusOK {
		t.Fatalf("exchange the code: got %d %v, want 200", status, m)
	}
	for _, k := range []string{"access_token", "refresh_token"} {
		if s, _ := m[k].(string); s == "" {
			t.Fatalf("token response: got %v, want a %s", m, k)
		}
	}
	return m
}

// refresh uses a refresh token and returns the status and response.
func refresh(t *testing.T, srv *server, c createdClient, token string) (int, map[string]any) {
	t.Helper()
	return srv.tokenRequest(t, c.ClientID, c.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}})
}

// peopleFixture is a member and a third-party app registered for the
// authorization code flow.
func peopleFixture(t *testing.T) (instance, *server, *thirdPartyApp, createdClient) {
	t.Helper()
	in := newInstance(t)
	in.createUser("mia", "Mia Member", "member", memberPassword)
	app := newThirdPartyApp(t)
	c := in.CreateClient("--name", "Acme Reports", "--website", "https://reports.example",
		"--grant-types", "authorization_code,refresh_token", "--redirect-uris", app.callback,
		"--scopes", "profile search")
	return in, in.serve(false), app, c
}

func TestAuthorizationCodeFlow(t *testing.T) {
	in, srv, app, c := peopleFixture(t)
	ctx := newBrowser(t)

	// Not logged in: the login page first, then consent. Deny.
	deny := newAuthRequest(t, srv, app, c.ClientID, "profile search")
	do(t, ctx, "start the authorization request", chromedp.Navigate(deny.url),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/console/login"] #password`)))
	if got, want := text(t, ctx, "#app-asking"), "Sign in to continue to Acme Reports (https://reports.example)."; got != want {
		t.Errorf("login page of the authorization request: got %q, want %q", got, want)
	}
	shoot(t, ctx, "login")
	logIn(t, ctx, "mia", memberPassword)
	consent(t, ctx, "deny", false)
	q := app.next(t)
	if q.Get("error") != "access_denied" || q.Get("state") != deny.state || q.Get("iss") != srv.URL || q.Has("code") {
		t.Errorf("callback after Deny: got %v, want error=access_denied, state=%s, iss=%s and no code", q, deny.state, srv.URL)
	}

	// Logged in now: straight to consent. Allow.
	allow := newAuthRequest(t, srv, app, c.ClientID, "profile search")
	do(t, ctx, "start the authorization request again", chromedp.Navigate(allow.url))
	consent(t, ctx, "allow", true)
	q = app.next(t)
	if q.Get("code") == "" || q.Get("state") != allow.state || q.Get("iss") != srv.URL || q.Has("error") {
		t.Fatalf("callback after Allow: got %v, want a code, state=%s, iss=%s", q, allow.state, srv.URL)
	}
	tok := exchange(t, srv, c, app, q.Get("code"), allow.verifier)

	// The access token is the member's.
	var users []struct{ ID, Username string }
	if err := json.Unmarshal([]byte(in.cli("", "users", "list", "--output", "json")), &users); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok["access_token"].(string), ".")
	if len(parts) != 3 {
		t.Fatalf("access token: got %d parts, want a JWT", len(parts))
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Sub, Scope string
	}
	json.Unmarshal(payload, &claims)
	if len(users) != 1 || claims.Sub != users[0].ID || claims.Scope != "profile search" {
		t.Errorf("access token claims: got sub %q scope %q, want sub %v and scope \"profile search\"", claims.Sub, claims.Scope, users)
	}

	// The refresh token works, and rotates.
	status, m := refresh(t, srv, c, tok["refresh_token"].(string))
	if status != http.StatusOK || m["refresh_token"] == nil || m["refresh_token"] == tok["refresh_token"] {
		t.Errorf("refresh: got %d %v, want 200 and a new refresh token", status, m)
	}

	// The code works once.
	if status, m := srv.tokenRequest(t, c.ClientID, c.ClientSecret, url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {app.callback}, "code_verifier": {allow.verifier},
	}); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("second use of the code: got %d %v, want 400 invalid_grant", status, m)
	}
}

func TestAuthorizedAppsRevoke(t *testing.T) {
	_, srv, app, c := peopleFixture(t)
	ctx := newBrowser(t)

	do(t, ctx, "open the console", chromedp.Navigate(srv.URL+"/console/"))
	logIn(t, ctx, "mia", memberPassword)
	req := newAuthRequest(t, srv, app, c.ClientID, "profile search")
	do(t, ctx, "start the authorization request", chromedp.Navigate(req.url))
	consent(t, ctx, "allow", false)
	q := app.next(t)
	tok := exchange(t, srv, c, app, q.Get("code"), req.verifier)

	do(t, ctx, "open Authorized apps",
		chromedp.Navigate(srv.URL+"/console/authorized-apps"),
		chromedp.WaitVisible(chromedp.CSS(`#authorized-apps .revoke-consent`)))
	if got := text(t, ctx, "#authorized-apps"); !strings.Contains(got, "Acme Reports") {
		t.Fatalf("authorized apps: got %q, want Acme Reports", got)
	}
	shoot(t, ctx, "authorized-apps")
	do(t, ctx, "revoke", chromedp.Click(chromedp.CSS(`#authorized-apps .revoke-consent`)))
	// The page comes back without the app.
	gone := func() bool {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('#authorized-apps .revoke-consent')].length`))
		return err == nil && n == 0
	}
	for deadline := time.Now().Add(10 * time.Second); !gone(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("authorized apps after revoke: still lists the app: %q", text(t, ctx, "main"))
		}
	}

	if status, m := refresh(t, srv, c, tok["refresh_token"].(string)); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("refresh after revoking the consent: got %d %v, want 400 invalid_grant", status, m)
	}
}

// TestAppWithRefreshAndProvidedSecret: "Generate New OAuth Credentials"
// with a secret provided by the operator and refresh tokens with client
// credentials (Cerkl Broadcast's flow). A too-short secret is refused and
// not filled in again; the created page shows the secret once, the token
// endpoint, the scopes' labels and a curl that works.
func TestAppWithRefreshAndProvidedSecret(t *testing.T) {
	in := newInstance(t)
	srv := in.serve(true)
	ctx := newBrowser(t)
	setupAdmin(t, ctx, srv)
	const short, provided = "too-short-secret", "provided-by-our-connectivity-team-0123456789"
	fill := func(secret string) {
		t.Helper()
		do(t, ctx, "fill in the new app form",
			chromedp.WaitVisible(chromedp.CSS(`#app-form #save`)),
			script(`(() => {
				document.querySelector('#app-form [name=name]').value = 'Broadcast';
				document.querySelectorAll('#app-form input[type=checkbox]').forEach(el => { el.checked = false; });
				for (const sel of ['[value="client_credentials"]', '[value="refresh_token"]', '#refresh_with_client_credentials', '[value="search"]']) {
					document.querySelector('#app-form input' + sel).checked = true;
				}
				const s = document.querySelector('#client_secret');
				s.value = '';
				s.removeAttribute('minlength'); // let the server judge the length
				return true;
			})()`),
			chromedp.SendKeys(chromedp.CSS(`#client_secret`), secret))
	}
	do(t, ctx, "open the new app form", chromedp.Navigate(srv.URL+"/console/apps/new"))
	fill(short)
	do(t, ctx, "save with a short secret",
		chromedp.Click(chromedp.CSS(`#app-form #save`)),
		chromedp.WaitVisible(chromedp.CSS(`.error`)))
	if got := text(t, ctx, ".error"); !strings.Contains(got, "at least 32 are required") || !strings.Contains(got, "enter it again") {
		t.Errorf("short secret: got %q, want the length rule and to enter it again", got)
	}
	if html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS(`html`))); strings.Contains(html, short) {
		t.Errorf("the form shown again contains the secret typed")
	}
	if v := valueOrText(t, ctx, "#client_secret"); v != "" {
		t.Errorf("secret field after the error: got %q, want empty", v)
	}

	fill(provided)
	do(t, ctx, "save",
		chromedp.Click(chromedp.CSS(`#app-form #save`)),
		chromedp.WaitVisible(chromedp.CSS(`#client-secret`)))
	id, secret := secretShown(t, ctx)
	if secret != provided {
		t.Errorf("secret shown: got %q, want the provided one", secret)
	}
	if got, want := text(t, ctx, "#token-url"), srv.URL+"/oauth/token"; got != want {
		t.Errorf("token endpoint: got %q, want %q", got, want)
	}
	wantCurl := `curl -u "` + id + ":" + provided + `" -d grant_type=client_credentials ` + srv.URL + "/oauth/token"
	if got := text(t, ctx, "#curl"); got != wantCurl {
		t.Errorf("curl: got %q, want %q", got, wantCurl)
	}
	if got := text(t, ctx, "#scopes"); !strings.Contains(got, "search") || !strings.Contains(got, "Search records on your behalf") {
		t.Errorf("scopes: got %q, want search with its label", got)
	}

	// What the curl does: client credentials, which now also give a
	// refresh token, which works.
	code, m := srv.clientCredentials(t, id, provided)
	rt, _ := m["refresh_token"].(string)
	if code != http.StatusOK || rt == "" {
		t.Fatalf("client credentials: got %d %v, want 200 with a refresh token", code, m)
	}
	if code, m := srv.tokenRequest(t, id, provided, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}); code != http.StatusOK || m["access_token"] == nil {
		t.Errorf("refresh: got %d %v, want 200 and a token", code, m)
	}
	do(t, ctx, "open the app",
		chromedp.Navigate(srv.URL+"/console/apps/"+url.PathEscape(id)),
		chromedp.WaitVisible(chromedp.CSS(`#refresh-cc`)))
	for _, sec := range []string{short, provided} {
		if strings.Contains(srv.Logs.String(), sec) {
			t.Errorf("the server log contains a secret typed into the console")
		}
	}
}
