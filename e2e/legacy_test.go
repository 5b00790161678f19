package e2e

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/e2e/harness"
)

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// TestLegacyClientWithoutPKCE: a confidential client registered with
// `clients create --require-pkce=false` (a legacy app whose documented flow
// has no PKCE) runs the authorization code flow without code_challenge on
// a server that requires PKCE; a client registered without the flag is
// refused, and `clients update --require-pkce=true` turns it back on.
func TestLegacyClientWithoutPKCE(t *testing.T) {
	in := newInstance(t)
	in.MustCLIInput("correct horse battery\n", "users", "create", "--username", "alice", "--display-name", "Alice", "--role", "admin")
	srv := in.serve()
	const cb = "https://cerb.example/oauth/callback"
	legacy := in.CreateClient("--name", "Cerb", "--grant-types", "authorization_code,refresh_token",
		"--redirect-uris", cb, "--scopes", "profile", "--require-pkce=false")
	strict := in.CreateClient("--name", "Strict", "--grant-types", "authorization_code",
		"--redirect-uris", cb, "--scopes", "profile")

	show := in.MustCLI("clients", "show", legacy.ClientID)
	if !strings.Contains(show, "not required for this client") {
		t.Errorf("clients show: got\n%s\nwant a PKCE row saying not required", show)
	}
	var j map[string]any
	if err := json.Unmarshal([]byte(in.MustCLI("clients", "show", strict.ClientID, "--output", "json")), &j); err != nil || j["require_pkce"] != true {
		t.Errorf("clients show --output json for the strict client: require_pkce %v (%v), want true", j["require_pkce"], err)
	}
	if audit := in.MustCLI("audit", "--target", legacy.ClientID); !strings.Contains(audit, "PKCE not required") {
		t.Errorf("audit: got\n%s\nwant the creation to say PKCE not required", audit)
	}
	out, errOut, code := in.CLI("", "clients", "create", "--name", "Native", "--token-endpoint-auth-method", "none",
		"--grant-types", "authorization_code", "--redirect-uris", cb, "--require-pkce=false")
	if code == 0 || !strings.Contains(errOut, "always needs PKCE") {
		t.Errorf("public client with --require-pkce=false: exit %d, stdout %q, stderr %q; want a refusal naming PKCE", code, out, errOut)
	}

	b := newBrowser(t)
	authorize := func(clientID string) url.Values {
		t.Helper()
		q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {cb}, "scope": {"profile"}, "state": {"s1"}}
		status, h, body := b.get(srv.URL + "/oauth/authorize?" + q.Encode())
		if status == http.StatusOK && strings.Contains(body, "Allow") {
			form := url.Values{}
			for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
				form.Set(m[1], html.UnescapeString(m[2]))
			}
			form.Set("decision", "allow")
			status, h, body = b.post(srv.URL+"/oauth/authorize", form)
		}
		loc, err := url.Parse(h.Get("Location"))
		if status != http.StatusFound && status != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), cb) {
			t.Fatalf("authorize %s: got %d %q, want a redirect to the callback\n%s", clientID, status, h.Get("Location"), body)
		}
		return loc.Query()
	}
	// Log in through the console's login page.
	_, _, page := b.get(srv.URL + "/console/login")
	if status, _, body := b.post(srv.URL+"/console/login", url.Values{"csrf_token": {csrfField(t, page)},
		"username": {"alice"}, "password": {"correct horse battery"}, "next": {"/console/"}}); status != http.StatusSeeOther && status != http.StatusFound {
		t.Fatalf("login: got %d\n%s", status, body)
	}

	q := authorize(legacy.ClientID)
	if q.Get("code") == "" {
		t.Fatalf("legacy client without PKCE: got %v, want a code", q)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {cb}}
	req, _ := http.NewRequest("POST", srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(legacy.ClientID, legacy.ClientSecret)
	if status, m := harness.DoJSON(t, req); status != 200 || m["access_token"] == nil || m["refresh_token"] == nil {
		t.Fatalf("code exchange without code_verifier: got %d %v, want 200 with tokens", status, m)
	}

	if q := authorize(strict.ClientID); q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "PKCE is required") {
		t.Errorf("strict client without PKCE: got %v, want invalid_request PKCE is required", q)
	}
	in.MustCLI("clients", "update", legacy.ClientID, "--require-pkce=true")
	harness.Within(t, 5*time.Second, "the update to reach the server", func() bool {
		q := url.Values{"response_type": {"code"}, "client_id": {legacy.ClientID}, "redirect_uri": {cb}, "scope": {"profile"}}
		_, h, _ := b.get(srv.URL + "/oauth/authorize?" + q.Encode())
		return strings.Contains(h.Get("Location"), "error=invalid_request")
	})
}

// TestRefreshWithClientCredentialsCLI: a client created with
// --refresh-with-client-credentials gets a refresh token with client
// credentials and can use it (Cerkl Broadcast's documented flow).
func TestRefreshWithClientCredentialsCLI(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	c := in.CreateClient("--name", "Broadcast", "--scopes", "search",
		"--grant-types", "client_credentials,refresh_token", "--refresh-with-client-credentials")
	status, m := srv.token(t, c.ClientID, c.ClientSecret, "")
	rt, _ := m["refresh_token"].(string)
	if status != 200 || !strings.HasPrefix(rt, "ghr_") {
		t.Fatalf("client credentials: got %d %v, want a refresh token", status, m)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	req, _ := http.NewRequest("POST", srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	if status, m := harness.DoJSON(t, req); status != 200 || m["access_token"] == nil || m["refresh_token"] == rt {
		t.Fatalf("refresh: got %d %v, want a new access and refresh token", status, m)
	}
	if show := in.MustCLI("clients", "show", c.ClientID); !strings.Contains(show, "also with client_credentials") {
		t.Errorf("clients show: got\n%s\nwant the refresh row", show)
	}
}
