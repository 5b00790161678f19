package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/console"
	"github.com/gatehouse/gatehouse/internal/grant"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/users"
)

const (
	testRedirect = "https://app.example/callback"
	testPassword = "correct horse battery staple"
)

// authzHarness is a server with the console, and a browser.
type authzHarness struct {
	*harness
	browser *http.Client // cookie jar; does not follow redirects
	user    store.User
}

func newAuthzHarness(t *testing.T, mod ...func(*Options)) *authzHarness {
	t.Helper()
	var con *console.Console
	var us *users.Service
	h := newHarness(t, harnessOpts{opts: func(o *Options) {
		us = users.New(users.Options{Store: o.Store, Now: o.Now, Rand: rand.Reader})
		var err error
		con, err = console.New(console.Options{Store: o.Store, Users: us, Issuer: o.Issuer, Now: o.Now})
		if err != nil {
			t.Fatal(err)
		}
		o.Console = con
		o.ConsolePages = con.Register
		for _, m := range mod {
			m(o)
		}
	}})
	jar, _ := cookiejar.New(nil)
	ah := &authzHarness{harness: h, browser: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	u, err := us.Create(context.Background(), "test", users.Spec{Username: "alice", DisplayName: "Alice", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	ah.user = u
	return ah
}

type page struct {
	status int
	header http.Header
	body   string
}

func (ah *authzHarness) get(path string) page {
	ah.t.Helper()
	resp, err := ah.browser.Get(ah.http.URL + path)
	if err != nil {
		ah.t.Fatal(err)
	}
	return readPage(ah.t, resp)
}

func (ah *authzHarness) postForm(path string, v url.Values) page {
	ah.t.Helper()
	resp, err := ah.browser.PostForm(ah.http.URL+path, v)
	if err != nil {
		ah.t.Fatal(err)
	}
	return readPage(ah.t, resp)
}

func readPage(t testing.TB, resp *http.Response) page {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{resp.StatusCode, resp.Header, string(b)}
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// hidden returns a page's hidden form fields.
func (p page) hidden() url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(p.body, -1) {
		v.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// login logs alice in through the console's login form.
func (ah *authzHarness) login() {
	ah.t.Helper()
	p := ah.get("/console/login")
	if p.status == http.StatusSeeOther {
		return // still logged in
	}
	f := p.hidden()
	f.Set("username", "alice")
	f.Set("password", testPassword)
	if p := ah.postForm("/console/login", f); p.status != http.StatusSeeOther {
		ah.t.Fatalf("login: got %d, want 303\n%s", p.status, p.body)
	}
}

func authorizePath(v url.Values) string { return PathAuthorize + "?" + v.Encode() }

// pkce returns a verifier and its S256 challenge.
func pkce(t testing.TB) (verifier, challenge string) {
	b := make([]byte, 32)
	rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	return verifier, grant.S256(verifier)
}

func authzParamsFor(clientID, challenge, scope string) url.Values {
	v := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {testRedirect}, "state": {"xyz 1"}}
	if challenge != "" {
		v.Set("code_challenge", challenge)
		v.Set("code_challenge_method", "S256")
	}
	if scope != "" {
		v.Set("scope", scope)
	}
	return v
}

// redirectParams checks that p redirects to testRedirect and returns the
// query parameters.
func (ah *authzHarness) redirectParams(p page) url.Values {
	ah.t.Helper()
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		ah.t.Fatalf("got %d, want a redirect to the client\n%s", p.status, p.body)
	}
	loc, err := url.Parse(p.header.Get("Location"))
	if err != nil {
		ah.t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
		ah.t.Fatalf("redirected to %q, want %q", got, testRedirect)
	}
	q := loc.Query()
	if q.Get("iss") != "http://issuer.test" {
		ah.t.Errorf("iss: got %q, want http://issuer.test (RFC 9207)", q.Get("iss"))
	}
	return q
}

// consent runs the authorization request through the consent page with the
// given decision and returns the redirect's parameters.
func (ah *authzHarness) consent(v url.Values, decision string) url.Values {
	ah.t.Helper()
	p := ah.get(authorizePath(v))
	if p.status != http.StatusOK || !strings.Contains(p.body, "Allow") {
		ah.t.Fatalf("consent page: got %d, want 200 with Allow\n%s", p.status, p.body)
	}
	f := p.hidden()
	f.Set("decision", decision)
	return ah.redirectParams(ah.postForm(PathAuthorize, f))
}

// code runs the flow up to the code, consenting if asked.
func (ah *authzHarness) code(v url.Values) string {
	ah.t.Helper()
	p := ah.get(authorizePath(v))
	var q url.Values
	if p.status == http.StatusOK {
		f := p.hidden()
		f.Set("decision", "allow")
		q = ah.redirectParams(ah.postForm(PathAuthorize, f))
	} else {
		q = ah.redirectParams(p)
	}
	if q.Get("code") == "" {
		ah.t.Fatalf("no code in the redirect: %v", q)
	}
	return q.Get("code")
}

func (ah *authzHarness) exchange(id, secret, code, verifier string) response {
	ah.t.Helper()
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}}
	if verifier != "" {
		v.Set("code_verifier", verifier)
	}
	return ah.clientPost(PathToken, id, secret, v)
}

func (ah *authzHarness) refresh(id, secret, tok, scope string) response {
	ah.t.Helper()
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}}
	if scope != "" {
		v.Set("scope", scope)
	}
	return ah.clientPost(PathToken, id, secret, v)
}

// clientPost authenticates with Basic, or as a public client without a secret.
func (ah *authzHarness) clientPost(path, id, secret string, v url.Values) response {
	hdr := map[string]string{}
	if secret == "" {
		v.Set("client_id", id)
	} else {
		hdr["Authorization"] = basic(id, secret)
	}
	return ah.post(path, v.Encode(), hdr)
}

func (ah *authzHarness) app(sp clients.Spec) (string, string) {
	ah.t.Helper()
	if sp.GrantTypes == nil {
		sp.GrantTypes = []string{store.GrantAuthorizationCode, store.GrantRefreshToken}
	}
	if sp.RedirectURIs == nil {
		sp.RedirectURIs = []string{testRedirect, "http://localhost:8000/cb"}
	}
	if sp.Scopes == nil {
		sp.Scopes = []string{"profile", "search", "api:read-only"}
	}
	return ah.client(sp)
}

func (ah *authzHarness) active(id, secret, tok string) bool {
	ah.t.Helper()
	r := ah.clientPost(PathIntrospect, id, secret, url.Values{"token": {tok}})
	if r.status != http.StatusOK {
		ah.t.Fatalf("introspect: got %d %s", r.status, r.body)
	}
	return r.json["active"] == true
}

func TestAuthorizeCodeFlow(t *testing.T) {
	ah := newAuthzHarness(t, func(o *Options) { o.TokenPaths = append(o.TokenPaths, "/oauth/access_token") })
	id, secret := ah.app(clients.Spec{Name: "Report Builder", Website: "https://reports.example"})

	// Not logged in: to the login page, and back.
	ver, chal := pkce(t)
	v := authzParamsFor(id, chal, "profile search")
	p := ah.get(authorizePath(v))
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/console/login?next="+url.QueryEscape(authorizePath(v))) {
		t.Fatalf("not logged in: got %d Location %q, want 303 to the login page", p.status, p.header.Get("Location"))
	}
	ah.login()

	p = ah.get(authorizePath(v))
	if p.status != http.StatusOK {
		t.Fatalf("consent page: got %d, want 200\n%s", p.status, p.body)
	}
	for _, want := range []string{"Report Builder", "https://reports.example", "Access your profile information", "Search records on your behalf", `value="allow"`, `value="deny"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if strings.Contains(p.body, "Make any read-only API request") {
		t.Error("consent page shows a scope that was not requested")
	}
	if got := p.header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options: got %q, want DENY", got)
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://app.example") {
		t.Errorf("Content-Security-Policy %q does not let the form's redirect reach the client", csp)
	}
	f := p.hidden()
	f.Set("decision", "allow")
	q := ah.redirectParams(ah.postForm(PathAuthorize, f))
	if q.Get("state") != "xyz 1" || q.Get("code") == "" {
		t.Fatalf("redirect parameters %v: want a code and state %q", q, "xyz 1")
	}

	r := ah.exchange(id, secret, q.Get("code"), ver)
	if r.status != http.StatusOK {
		t.Fatalf("token: got %d %s", r.status, r.body)
	}
	c := claims(t, r.json["access_token"].(string))
	if c["sub"] != ah.user.ID || c["client_id"] != id || c["scope"] != "profile search" {
		t.Errorf("claims sub=%v client_id=%v scope=%v, want %s, %s, %q", c["sub"], c["client_id"], c["scope"], ah.user.ID, id, "profile search")
	}
	rt, _ := r.json["refresh_token"].(string)
	if !strings.HasPrefix(rt, grant.RefreshPrefix) {
		t.Errorf("refresh_token %q, want one starting with %s", rt, grant.RefreshPrefix)
	}
	if !ah.active(id, secret, r.json["access_token"].(string)) {
		t.Error("access token is not active")
	}

	// The consent is remembered: no page for the same or fewer scopes.
	ver2, chal2 := pkce(t)
	q = ah.redirectParams(ah.get(authorizePath(authzParamsFor(id, chal2, "search"))))
	// Exchanged at the /oauth/access_token alias.
	v = url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {ver2}}
	if r := ah.clientPost("/oauth/access_token", id, secret, v); r.status != http.StatusOK || r.json["scope"] != "search" {
		t.Fatalf("remembered consent: token got %d %s, want 200 with scope search", r.status, r.body)
	}
	// A new scope asks again.
	_, chal3 := pkce(t)
	if p := ah.get(authorizePath(authzParamsFor(id, chal3, "search api:read-only"))); p.status != http.StatusOK || !strings.Contains(p.body, "Make any read-only API request") {
		t.Fatalf("new scope: got %d, want the consent page", p.status)
	}

	// Refresh at an alias path too.
	if r := ah.post("/oauth/v2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode(),
		map[string]string{"Authorization": basic(id, secret)}); r.status != http.StatusOK {
		t.Errorf("refresh at an alias path: got %d %s", r.status, r.body)
	}
}

func TestAuthorizeDeny(t *testing.T) {
	ah := newAuthzHarness(t)
	id, _ := ah.app(clients.Spec{})
	ah.login()
	_, chal := pkce(t)
	q := ah.consent(authzParamsFor(id, chal, "profile"), "deny")
	if q.Get("error") != "access_denied" || q.Get("state") != "xyz 1" || q.Get("code") != "" {
		t.Fatalf("deny: got %v, want error=access_denied with the state and no code", q)
	}
	// Denying remembers nothing.
	if p := ah.get(authorizePath(authzParamsFor(id, chal, "profile"))); p.status != http.StatusOK {
		t.Errorf("after deny: got %d, want the consent page again", p.status)
	}
}

func TestAuthorizeErrorPages(t *testing.T) {
	ah := newAuthzHarness(t)
	id, _ := ah.app(clients.Spec{})
	one, _ := ah.app(clients.Spec{Name: "single", RedirectURIs: []string{testRedirect}})
	cc, _ := ah.client(clients.Spec{Name: "machine", RedirectURIs: []string{testRedirect}})
	ah.login()
	_, chal := pkce(t)
	set := func(v url.Values, k, val string) url.Values {
		v = maps(v)
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
		return v
	}
	base := authzParamsFor(id, chal, "profile")
	for _, tc := range []struct {
		name string
		v    url.Values
	}{
		{"unknown client", set(base, "client_id", "nope")},
		{"no client", set(base, "client_id", "")},
		{"redirect mismatch", set(base, "redirect_uri", "https://evil.example/callback")},
		{"redirect prefix", set(base, "redirect_uri", testRedirect+"/more")},
		{"redirect case", set(base, "redirect_uri", strings.ToUpper(testRedirect))},
		{"redirect with query", set(base, "redirect_uri", testRedirect+"?x=1")},
		{"redirect omitted, several registered", set(base, "redirect_uri", "")},
		{"repeated redirect", func() url.Values { v := maps(base); v.Add("redirect_uri", testRedirect); return v }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ah.get(authorizePath(tc.v))
			if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
				t.Fatalf("got %d Location %q, want 400 and no redirect", p.status, p.header.Get("Location"))
			}
			if !strings.Contains(p.body, "not sent back to the application") {
				t.Errorf("error page lacks the explanation:\n%s", p.body)
			}
		})
	}

	// The only registered URI may be omitted.
	v := set(authzParamsFor(one, chal, "profile"), "redirect_uri", "")
	if p := ah.get(authorizePath(v)); p.status != http.StatusOK {
		t.Errorf("omitted redirect_uri with one registered: got %d, want the consent page", p.status)
	}

	// Once the redirect URI is trusted, errors go back to the client.
	for _, tc := range []struct {
		name, code string
		v          url.Values
	}{
		{"no PKCE", "invalid_request", set(set(base, "code_challenge", ""), "code_challenge_method", "")},
		{"plain PKCE", "invalid_request", set(base, "code_challenge_method", "plain")},
		{"no method means plain", "invalid_request", set(base, "code_challenge_method", "")},
		{"malformed challenge", "invalid_request", set(base, "code_challenge", "short")},
		{"response type", "unsupported_response_type", set(base, "response_type", "token")},
		{"no response type", "invalid_request", set(base, "response_type", "")},
		{"unknown scope", "invalid_scope", set(base, "scope", "profile nope")},
		{"scope not allowed", "invalid_scope", set(base, "scope", "api")},
		{"repeated scope", "invalid_request", func() url.Values { v := maps(base); v.Add("scope", "search"); return v }()},
		{"client without the grant", "unauthorized_client", set(base, "client_id", cc)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := ah.redirectParams(ah.get(authorizePath(tc.v)))
			if q.Get("error") != tc.code || q.Get("state") != "xyz 1" || q.Get("error_description") == "" {
				t.Errorf("got %v, want error=%s with a description and the state", q, tc.code)
			}
		})
	}
}

// TestAuthorizeStoredBadRedirectURI: a javascript: or data: URI stored
// before registration refused them gets the error page, never a redirect.
func TestAuthorizeStoredBadRedirectURI(t *testing.T) {
	ah := newAuthzHarness(t)
	ah.login()
	_, chal := pkce(t)
	for _, bad := range []string{"javascript:alert(document.domain)//", "data:text/html,<script>alert(1)</script>", "http://evil.example/cb"} {
		t.Run(bad, func(t *testing.T) {
			id, _ := ah.app(clients.Spec{Name: "old app", RedirectURIs: []string{testRedirect}})
			if _, err := ah.st.UpdateClient(context.Background(), id, func(c *store.Client) error {
				c.RedirectURIs = []string{bad}
				return nil
			}, &store.AuditEvent{Time: ah.clock.Now(), Actor: "test", Action: "client.update", Target: id}); err != nil {
				t.Fatal(err)
			}
			for _, sent := range []string{bad, ""} { // sent, or the only one registered
				v := authzParamsFor(id, chal, "profile")
				if sent == "" {
					v.Del("redirect_uri")
				} else {
					v.Set("redirect_uri", sent)
				}
				p := ah.get(authorizePath(v))
				if p.status == http.StatusOK { // the consent page: Allow would redirect
					f := p.hidden()
					f.Set("decision", "allow")
					p = ah.postForm(PathAuthorize, f)
				}
				if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
					t.Fatalf("redirect_uri %q: got %d Location %q, want 400 and no redirect", sent, p.status, p.header.Get("Location"))
				}
				if !strings.Contains(p.body, "registered redirect URI is not allowed") {
					t.Errorf("error page does not say why:\n%s", p.body)
				}
			}
		})
	}
}

func maps(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func TestAuthorizeCSRF(t *testing.T) {
	ah := newAuthzHarness(t)
	id, _ := ah.app(clients.Spec{})
	ah.login()
	_, chal := pkce(t)
	p := ah.get(authorizePath(authzParamsFor(id, chal, "profile")))
	f := p.hidden()
	f.Set("decision", "allow")
	for _, tok := range []string{"", "forged"} {
		f.Set("csrf_token", tok)
		if tok == "" {
			f.Del("csrf_token")
		}
		p := ah.postForm(PathAuthorize, f)
		if p.status != http.StatusForbidden || p.header.Get("Location") != "" {
			t.Errorf("csrf_token %q: got %d Location %q, want 403 and no redirect", tok, p.status, p.header.Get("Location"))
		}
	}
	// Nothing was remembered.
	if p := ah.get(authorizePath(authzParamsFor(id, chal, "profile"))); p.status != http.StatusOK {
		t.Errorf("after a forged consent: got %d, want the consent page", p.status)
	}
}

func TestAuthorizationCodeRedemption(t *testing.T) {
	ah := newAuthzHarness(t)
	id, secret := ah.app(clients.Spec{})
	other, otherSecret := ah.app(clients.Spec{Name: "other"})
	ah.login()

	t.Run("PKCE", func(t *testing.T) {
		ver, chal := pkce(t)
		code := ah.code(authzParamsFor(id, chal, "profile"))
		wantError(t, ah.exchange(id, secret, code, ""), 400, "invalid_grant")
		// A failed attempt uses the code up.
		wantError(t, ah.exchange(id, secret, code, ver), 400, "invalid_grant")

		code = ah.code(authzParamsFor(id, chal, "profile"))
		wrong, _ := pkce(t)
		wantError(t, ah.exchange(id, secret, code, wrong), 400, "invalid_grant")

		code = ah.code(authzParamsFor(id, chal, "profile"))
		wantError(t, ah.exchange(id, secret, code, chal), 400, "invalid_grant") // plain
	})
	t.Run("redirect_uri", func(t *testing.T) {
		ver, chal := pkce(t)
		code := ah.code(authzParamsFor(id, chal, "profile"))
		v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {ver}, "redirect_uri": {"http://localhost:8000/cb"}}
		wantError(t, ah.clientPost(PathToken, id, secret, v), 400, "invalid_grant")
	})
	t.Run("other client", func(t *testing.T) {
		ver, chal := pkce(t)
		code := ah.code(authzParamsFor(id, chal, "profile"))
		wantError(t, ah.exchange(other, otherSecret, code, ver), 400, "invalid_grant")
	})
	t.Run("expired", func(t *testing.T) {
		ver, chal := pkce(t)
		code := ah.code(authzParamsFor(id, chal, "profile"))
		ah.clock.Add(61 * time.Second)
		wantError(t, ah.exchange(id, secret, code, ver), 400, "invalid_grant")
	})
	t.Run("replay revokes the first tokens", func(t *testing.T) {
		ah.login() // the clock moved
		ver, chal := pkce(t)
		code := ah.code(authzParamsFor(id, chal, "profile"))
		first := ah.exchange(id, secret, code, ver)
		if first.status != http.StatusOK {
			t.Fatalf("first use: got %d %s", first.status, first.body)
		}
		at, rt := first.json["access_token"].(string), first.json["refresh_token"].(string)
		if !ah.active(id, secret, at) {
			t.Fatal("first access token is not active")
		}
		wantError(t, ah.exchange(id, secret, code, ver), 400, "invalid_grant")
		if ah.active(id, secret, at) {
			t.Error("access token of the first use is still active after a replay")
		}
		wantError(t, ah.refresh(id, secret, rt, ""), 400, "invalid_grant")
	})
	t.Run("garbage", func(t *testing.T) {
		wantError(t, ah.exchange(id, secret, "nope", "x"), 400, "invalid_grant")
		wantError(t, ah.clientPost(PathToken, id, secret, url.Values{"grant_type": {"authorization_code"}}), 400, "invalid_request")
	})
}

func TestRefreshTokens(t *testing.T) {
	ah := newAuthzHarness(t)
	id, secret := ah.app(clients.Spec{})
	ah.login()
	ver, chal := pkce(t)
	code := ah.code(authzParamsFor(id, chal, "profile search"))
	r := ah.exchange(id, secret, code, ver)
	rt0 := r.json["refresh_token"].(string)

	t.Run("rotation", func(t *testing.T) {
		r := ah.refresh(id, secret, rt0, "")
		if r.status != http.StatusOK {
			t.Fatalf("refresh: got %d %s", r.status, r.body)
		}
		rt1 := r.json["refresh_token"].(string)
		if rt1 == "" || rt1 == rt0 {
			t.Fatalf("refresh_token %q, want a new one", rt1)
		}
		if c := claims(t, r.json["access_token"].(string)); c["sub"] != ah.user.ID || c["scope"] != "profile search" {
			t.Errorf("refreshed claims sub=%v scope=%v, want %s and the original scope", c["sub"], c["scope"], ah.user.ID)
		}
		// Reuse of the rotated token: refused, and the family is revoked.
		wantError(t, ah.refresh(id, secret, rt0, ""), 400, "invalid_grant")
		wantError(t, ah.refresh(id, secret, rt1, ""), 400, "invalid_grant")
	})

	ver, chal = pkce(t)
	rt := ah.exchange(id, secret, ah.code(authzParamsFor(id, chal, "profile search")), ver).json["refresh_token"].(string)
	t.Run("narrow", func(t *testing.T) {
		r := ah.refresh(id, secret, rt, "search")
		if r.status != http.StatusOK || r.json["scope"] != "search" {
			t.Fatalf("narrowing: got %d %s, want 200 with scope search", r.status, r.body)
		}
		rt = r.json["refresh_token"].(string)
		// The new refresh token keeps the original scope (RFC 6749 §6).
		r = ah.refresh(id, secret, rt, "profile")
		if r.status != http.StatusOK || r.json["scope"] != "profile" {
			t.Fatalf("after narrowing: got %d %s, want 200 with scope profile", r.status, r.body)
		}
		rt = r.json["refresh_token"].(string)
	})
	t.Run("widen", func(t *testing.T) {
		wantError(t, ah.refresh(id, secret, rt, "profile api:read-only"), 400, "invalid_scope")
	})
	t.Run("other client", func(t *testing.T) {
		other, otherSecret := ah.app(clients.Spec{Name: "other"})
		wantError(t, ah.refresh(other, otherSecret, rt, ""), 400, "invalid_grant")
	})
	t.Run("revocation", func(t *testing.T) {
		r := ah.refresh(id, secret, rt, "")
		next := r.json["refresh_token"].(string)
		resp := ah.clientPost(PathRevoke, id, secret, url.Values{"token": {next}, "token_type_hint": {"refresh_token"}})
		if resp.status != http.StatusOK {
			t.Fatalf("revoke: got %d %s", resp.status, resp.body)
		}
		wantError(t, ah.refresh(id, secret, next, ""), 400, "invalid_grant")
	})
	t.Run("idle expiry", func(t *testing.T) {
		ah.login()
		ver, chal := pkce(t)
		rt := ah.exchange(id, secret, ah.code(authzParamsFor(id, chal, "profile")), ver).json["refresh_token"].(string)
		ah.clock.Add(15 * 24 * time.Hour)
		wantError(t, ah.refresh(id, secret, rt, ""), 400, "invalid_grant")
	})
	t.Run("disabled user", func(t *testing.T) {
		ah.login()
		ver, chal := pkce(t)
		tr := ah.exchange(id, secret, ah.code(authzParamsFor(id, chal, "profile")), ver)
		rt := tr.json["refresh_token"].(string)
		at := tr.json["access_token"].(string)
		if r := ah.clientPost(PathIntrospect, id, secret, url.Values{"token": {at}}); r.json["active"] != true {
			t.Fatalf("introspect before disabling: got %s, want active", r.body)
		}
		if _, err := ah.st.UpdateUser(context.Background(), ah.user.ID, func(u *store.User, _ int) error { u.Disabled = true; return nil },
			&store.AuditEvent{Time: ah.clock.Now(), Actor: "test", Action: "user.disable", Target: ah.user.ID}); err != nil {
			t.Fatal(err)
		}
		wantError(t, ah.refresh(id, secret, rt, ""), 400, "invalid_grant")
		if r := ah.clientPost(PathIntrospect, id, secret, url.Values{"token": {at}}); r.body != `{"active":false}` {
			t.Errorf("introspect a disabled user's token: got %s, want inactive", r.body)
		}
	})
}

func TestPublicClient(t *testing.T) {
	ah := newAuthzHarness(t)
	id, secret := ah.app(clients.Spec{Name: "cli tool", TokenEndpointAuthMethod: store.AuthMethodNone})
	if secret != "" {
		t.Fatalf("public client got a secret")
	}
	ah.login()
	ver, chal := pkce(t)
	r := ah.exchange(id, "", ah.code(authzParamsFor(id, chal, "profile")), ver)
	if r.status != http.StatusOK || r.json["refresh_token"] == nil {
		t.Fatalf("public client token: got %d %s", r.status, r.body)
	}
	r = ah.refresh(id, "", r.json["refresh_token"].(string), "")
	if r.status != http.StatusOK {
		t.Fatalf("public client refresh: got %d %s", r.status, r.body)
	}
	rt := r.json["refresh_token"].(string)
	if r := ah.clientPost(PathRevoke, id, "", url.Values{"token": {rt}}); r.status != http.StatusOK {
		t.Fatalf("public client revoke: got %d %s", r.status, r.body)
	}
	wantError(t, ah.refresh(id, "", rt, ""), 400, "invalid_grant")
	// PKCE is required of public clients even where it is optional.
	optional := false
	ah2 := newAuthzHarness(t, func(o *Options) { o.RequirePKCE = &optional })
	pub, _ := ah2.app(clients.Spec{Name: "cli tool", TokenEndpointAuthMethod: store.AuthMethodNone})
	conf, confSecret := ah2.app(clients.Spec{Name: "web app"})
	ah2.login()
	q := ah2.redirectParams(ah2.get(authorizePath(authzParamsFor(pub, "", "profile"))))
	if q.Get("error") != "invalid_request" {
		t.Errorf("public client without PKCE: got %v, want invalid_request", q)
	}
	code := ah2.code(authzParamsFor(conf, "", "profile"))
	if r := ah2.exchange(conf, confSecret, code, ""); r.status != http.StatusOK {
		t.Errorf("confidential client without PKCE where optional: got %d %s", r.status, r.body)
	}
	// A public client cannot use other grants or endpoints without a secret.
	wantError(t, ah.clientPost(PathToken, id, "", url.Values{"grant_type": {"client_credentials"}}), 401, "invalid_client")
	wantError(t, ah.clientPost(PathIntrospect, id, "", url.Values{"token": {"x"}}), 401, "invalid_client")
}

// TestPerClientPKCE: with PKCE required (the default), a confidential client
// registered with PKCEOptional may leave it out; one that sends it anyway
// is still checked; every other client still needs it.
func TestPerClientPKCE(t *testing.T) {
	ah := newAuthzHarness(t)
	legacy, legacySecret := ah.app(clients.Spec{Name: "Cerb", PKCEOptional: true})
	normal, _ := ah.app(clients.Spec{Name: "web app"})
	ah.login()
	code := ah.code(authzParamsFor(legacy, "", "profile"))
	if r := ah.exchange(legacy, legacySecret, code, ""); r.status != http.StatusOK {
		t.Errorf("client with PKCE not required, without PKCE: got %d %s, want 200", r.status, r.body)
	}
	ver, chal := pkce(t)
	code = ah.code(authzParamsFor(legacy, chal, "profile"))
	wantError(t, ah.exchange(legacy, legacySecret, code, ""), 400, "invalid_grant")
	code = ah.code(authzParamsFor(legacy, chal, "profile"))
	if r := ah.exchange(legacy, legacySecret, code, ver); r.status != http.StatusOK {
		t.Errorf("client with PKCE not required, with PKCE: got %d %s, want 200", r.status, r.body)
	}
	q := ah.redirectParams(ah.get(authorizePath(authzParamsFor(normal, "", "profile"))))
	if q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "PKCE is required") {
		t.Errorf("client with PKCE required, without PKCE: got %v, want invalid_request PKCE is required", q)
	}
	// A public client's record that says otherwise (written around the
	// service, which refuses it) does not turn PKCE off.
	pub, _ := ah.app(clients.Spec{Name: "cli tool", TokenEndpointAuthMethod: store.AuthMethodNone})
	ev := store.AuditEvent{Time: time.Now(), Actor: "test", Action: "client.update", Target: pub}
	if _, err := ah.st.UpdateClient(context.Background(), pub, func(c *store.Client) error { c.PKCEOptional = true; return nil }, &ev); err != nil {
		t.Fatal(err)
	}
	q = ah.redirectParams(ah.get(authorizePath(authzParamsFor(pub, "", "profile"))))
	if q.Get("error") != "invalid_request" {
		t.Errorf("public client without PKCE: got %v, want invalid_request", q)
	}
}

func TestRefreshWithClientCredentials(t *testing.T) {
	ah := newAuthzHarness(t)
	id, secret := ah.client(clients.Spec{Name: "sync", Scopes: []string{"search"},
		GrantTypes: []string{store.GrantClientCredentials, store.GrantRefreshToken}, RefreshWithClientCredentials: true})
	r := ah.token(id, secret, "")
	rt, _ := r.json["refresh_token"].(string)
	if r.status != http.StatusOK || rt == "" {
		t.Fatalf("client credentials: got %d %s, want a refresh token", r.status, r.body)
	}
	r = ah.refresh(id, secret, rt, "")
	if r.status != http.StatusOK || claims(t, r.json["access_token"].(string))["sub"] != id {
		t.Fatalf("refresh: got %d %s, want a token for the client", r.status, r.body)
	}
	// A client limited to several accounts refreshes without naming the
	// account again: the refresh token keeps it.
	multi, multiSecret := ah.client(clients.Spec{Name: "multi", Scopes: []string{"search"}, Accounts: []string{"acme", "globex"},
		GrantTypes: []string{store.GrantClientCredentials, store.GrantRefreshToken}, RefreshWithClientCredentials: true})
	r = ah.token(multi, multiSecret, "scope=account%3Aglobex")
	rt, _ = r.json["refresh_token"].(string)
	if r.status != http.StatusOK || rt == "" {
		t.Fatalf("several accounts: got %d %s, want a refresh token", r.status, r.body)
	}
	for _, sc := range []string{"", "search"} {
		r = ah.refresh(multi, multiSecret, rt, sc)
		if r.status != http.StatusOK {
			t.Fatalf("several accounts, refresh with scope %q: got %d %s, want 200", sc, r.status, r.body)
		}
		if c := claims(t, r.json["access_token"].(string)); c["account_id"] != "globex" {
			t.Errorf("several accounts, refresh with scope %q: account_id = %v, want globex", sc, c["account_id"])
		}
		rt, _ = r.json["refresh_token"].(string)
	}
	plain, plainSecret := ah.client(clients.Spec{Name: "plain", Scopes: []string{"search"}})
	if r := ah.token(plain, plainSecret, ""); r.json["refresh_token"] != nil {
		t.Errorf("client credentials without the option issued a refresh token: %s", r.body)
	}
}

// TestAuthorizeAccounts: the authorization endpoint applies the token
// endpoint's account rules: a client limited to one account is restricted
// to it without asking; one limited to several must name one.
func TestAuthorizeAccounts(t *testing.T) {
	ah := newAuthzHarness(t)
	ah.login()
	one, oneSecret := ah.app(clients.Spec{Name: "One", Accounts: []string{"acme"}})
	ver, chal := pkce(t)
	p := ah.get(authorizePath(authzParamsFor(one, chal, "profile")))
	if p.status != http.StatusOK || !strings.Contains(p.body, "acme") {
		t.Fatalf("one account: got %d, want the consent page naming account acme\n%s", p.status, p.body)
	}
	f := p.hidden()
	f.Set("decision", "allow")
	q := ah.redirectParams(ah.postForm(PathAuthorize, f))
	r := ah.exchange(one, oneSecret, q.Get("code"), ver)
	if r.status != http.StatusOK {
		t.Fatalf("one account: token: got %d %s", r.status, r.body)
	}
	if c := claims(t, r.json["access_token"].(string)); c["account_id"] != "acme" || c["scope"] != "profile account:acme" {
		t.Errorf("one account: account_id = %v, scope = %v; want acme, %q", c["account_id"], c["scope"], "profile account:acme")
	}

	several, _ := ah.app(clients.Spec{Name: "Several", Accounts: []string{"acme", "globex"}})
	q = ah.redirectParams(ah.get(authorizePath(authzParamsFor(several, chal, "profile"))))
	if q.Get("error") != "invalid_scope" || !strings.Contains(q.Get("error_description"), "account:<id>") {
		t.Errorf("several accounts, none named: redirect parameters %v, want invalid_scope naming account:<id>", q)
	}
}

func TestAuthorizeMetadataGolden(t *testing.T) {
	ah := newAuthzHarness(t)
	req, _ := http.NewRequest("GET", ah.http.URL+PathMetadata, nil)
	checkGolden(t, "metadata-authorize", render(ah.do(req)))
}

func FuzzAuthorizeRequest(f *testing.F) {
	h := newHarness(f, harnessOpts{opts: func(o *Options) { o.Console = nopConsole{} }})
	registered := []string{testRedirect, "http://localhost:8000/cb?a=b"}
	id, _ := h.client(clients.Spec{ID: "fuzz-app", Scopes: []string{"profile", "search"}, Accounts: []string{"*"},
		GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: registered})
	_, chal := pkce(f)
	f.Add(authzParamsFor(id, chal, "profile").Encode())
	f.Add(authzParamsFor(id, chal, "profile account:42").Encode())
	f.Add("client_id=fuzz-app&redirect_uri=https%3A%2F%2Fevil.example&response_type=code")
	f.Add("client_id=fuzz-app&response_type=token&redirect_uri=http://localhost:8000/cb?a=b")
	f.Add("client_id=fuzz-app&client_id=fuzz-app")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		ar, err := h.srv.parseAuthorize(context.Background(), q)
		var ae *authzError
		switch {
		case err == nil:
			if !slices.Contains(registered, ar.target) {
				t.Fatalf("accepted request for unregistered redirect URI %q", ar.target)
			}
		case errors.As(err, &ae):
			if ae.redirect && !slices.Contains(registered, ae.target) {
				t.Fatalf("error redirects to unregistered URI %q", ae.target)
			}
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	})
}

// nopConsole satisfies Console for tests that never render.
type nopConsole struct{}

func (nopConsole) RequireUser(http.ResponseWriter, *http.Request) (store.User, bool) {
	return store.User{}, false
}
func (nopConsole) CheckCSRF(*http.Request) error                               { return errors.New("no") }
func (nopConsole) Render(http.ResponseWriter, *http.Request, int, string, any) {}

// TestConsoleMeasured: console pages are measured like the protocol
// endpoints (and share their body limit, set by the same wrapper).
func TestConsoleMeasured(t *testing.T) {
	ah := newAuthzHarness(t)
	ah.login()
	if body := ah.metrics(); !strings.Contains(body, `route="console"`) {
		t.Errorf("metrics have no console route after a login:\n%s", body)
	}
}

// TestRootRedirectsToConsole: GET / with a console sends a browser to it;
// other methods and other unknown paths are not redirected.
func TestRootRedirectsToConsole(t *testing.T) {
	ah := newAuthzHarness(t)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		method, path string
		status       int
		location     string
	}{
		{"GET", "/", http.StatusSeeOther, "/console/"},
		{"HEAD", "/", http.StatusSeeOther, "/console/"},
		{"POST", "/", http.StatusMethodNotAllowed, ""},
		{"GET", "/nope", http.StatusNotFound, ""},
	} {
		req, _ := http.NewRequest(tc.method, ah.http.URL+tc.path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
			t.Errorf("%s %s: got %d Location %q, want %d %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.location)
		}
	}
}
