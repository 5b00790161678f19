package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse/e2e/harness"
	"github.com/gatehouse/gatehouse/internal/grant"
)

// TestResources runs serve with two resources (RFC 8707) besides the
// default API, each with its own catalog and audience, and the embedded
// gateway configured as the reports resource: a token is for the resource
// its request names, with that resource's scopes and lifetime, and the
// gateway of one resource refuses a token for another with 401
// invalid_token.
func TestResources(t *testing.T) {
	const (
		billing = "https://billing.example/api"
		reports = "https://reports.example/api"
	)
	in := newInstance(t)
	up := newUpstream(t)
	dir := in.DataDir
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	billingCat := write("billing.yaml", "invoices:read:\n  label: Read your invoices\n  endpoints:\n    - invoices/*: GET\n")
	reportsCat := write("reports.yaml", "reports:read:\n  label: Read your reports\n  endpoints:\n    - reports/*: GET\n")
	cfg := write("gatehouse.yaml", `resources:
  - id: `+billing+`
    name: Billing API
    scopes_file: `+billingCat+`
    default_ttl: 10m
  - id: `+reports+`
    name: Reports API
    scopes_file: `+reportsCat+`
gateway:
  enabled: true
  addr: 127.0.0.1:0
  upstream: `+up.URL+`
  base_path: /api
  resource: `+reports+`
`)
	in = instance{in.WithEnv("GATEHOUSE_CONFIG=" + cfg)}
	srv := in.serve()
	var gwURL string
	harness.Within(t, 10*time.Second, "gateway listening in serve's log", func() bool {
		m := gatewayRE.FindStringSubmatch(srv.Logs.String())
		if m != nil {
			gwURL = "http://" + m[1]
		}
		return m != nil
	})

	c := in.CreateClient("--name", "Both APIs", "--scopes", "api:read-only invoices:read reports:read",
		"--resource", billing, "--resource", reports)
	plain := in.CreateClient("--name", "Default API only", "--scopes", "api:read-only")

	// The client's own library names the resource (x/oauth2 EndpointParams).
	tokenFor := func(c createdClient, resource string) (string, map[string]any) {
		t.Helper()
		cc := clientcredentials.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, TokenURL: srv.URL + "/oauth/token"}
		if resource != "" {
			cc.EndpointParams = url.Values{"resource": {resource}}
		}
		tok, err := cc.Token(context.Background())
		if err != nil {
			t.Fatalf("token for %s at %q: %v", c.ClientID, resource, err)
		}
		parts := strings.Split(tok.AccessToken, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken, claims
	}
	forBilling, bc := tokenFor(c, billing)
	forReports, rc := tokenFor(c, reports)
	forDefault, dc := tokenFor(c, "")
	for _, tt := range []struct {
		name   string
		claims map[string]any
		aud    string
		scope  string
		ttl    float64
	}{
		{"billing", bc, billing, "invoices:read", 600},
		{"reports", rc, reports, "reports:read", 3600},
		{"default", dc, srv.URL, "api:read-only", 3600},
	} {
		if tt.claims["aud"] != tt.aud || tt.claims["scope"] != tt.scope || tt.claims["exp"].(float64)-tt.claims["iat"].(float64) != tt.ttl {
			t.Errorf("%s token: aud %v, scope %v, lifetime %v; want %s, %s, %vs", tt.name, tt.claims["aud"], tt.claims["scope"],
				tt.claims["exp"].(float64)-tt.claims["iat"].(float64), tt.aud, tt.scope, tt.ttl)
		}
	}

	// The gateway is the reports resource: its audience and catalog.
	if res := call(t, "GET", gwURL+"/api/reports/1", forReports); res.status != 200 || res.upstream.Header.Get("X-Gatehouse-Client-Id") != c.ClientID {
		t.Errorf("reports token at the reports gateway: got %d %s, want 200", res.status, res.body)
	}
	if res := call(t, "GET", gwURL+"/api/invoices/1", forReports); res.status != 403 {
		t.Errorf("reports token for a path outside the reports catalog: got %d %s, want 403", res.status, res.body)
	}
	for name, tok := range map[string]string{"billing": forBilling, "default": forDefault} {
		res := call(t, "GET", gwURL+"/api/reports/1", tok)
		if res.status != 401 || !strings.Contains(res.challenge, `error="invalid_token"`) || res.upstream != nil {
			t.Errorf("%s token at the reports gateway: got %d, WWW-Authenticate %q; want 401 invalid_token", name, res.status, res.challenge)
		}
	}

	// invalid_target: unknown, not absolute, not allowed for the client.
	for _, tt := range []struct {
		c        createdClient
		resource string
	}{
		{c, "https://unknown.example/api"},
		{c, "reports"},
		{plain, billing},
	} {
		form := url.Values{"grant_type": {"client_credentials"}, "resource": {tt.resource}}
		req, _ := http.NewRequest("POST", srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(tt.c.ClientID, tt.c.ClientSecret)
		if code, m := harness.DoJSON(t, req); code != 400 || m["error"] != "invalid_target" {
			t.Errorf("resource %q for %s: got %d %v, want 400 invalid_target", tt.resource, tt.c.Name, code, m)
		}
	}

	// Discovery lists every resource's scopes.
	var meta struct {
		Scopes []string `json:"scopes_supported"`
	}
	if err := json.Unmarshal([]byte(harness.Fetch(t, srv.URL+"/.well-known/oauth-authorization-server")), &meta); err != nil {
		t.Fatal(err)
	}
	for _, sc := range []string{"api", "invoices:read", "reports:read"} {
		if !slices.Contains(meta.Scopes, sc) {
			t.Errorf("scopes_supported %q lacks %s", meta.Scopes, sc)
		}
	}

	// Authorization code with PKCE for both resources: the consent page
	// labels each scope from its resource's catalog; the token request
	// picks one, a refresh another.
	in.MustCLIInput("correct horse battery\n", "users", "create", "--username", "alice", "--role", "member")
	const cb = "https://app.example/callback"
	app := in.CreateClient("--name", "Dashboard", "--grant-types", "authorization_code,refresh_token", "--redirect-uris", cb,
		"--scopes", "invoices:read reports:read", "--resource", billing, "--resource", reports)
	b := newBrowser(t)
	_, _, page := b.get(srv.URL + "/console/login")
	if status, _, body := b.post(srv.URL+"/console/login", url.Values{"csrf_token": {csrfField(t, page)},
		"username": {"alice"}, "password": {"correct horse battery"}, "next": {"/console/"}}); status != http.StatusSeeOther && status != http.StatusFound {
		t.Fatalf("login: got %d\n%s", status, body)
	}
	verifier := strings.Repeat("v", 43)
	q := url.Values{"response_type": {"code"}, "client_id": {app.ClientID}, "redirect_uri": {cb}, "state": {"s1"},
		"scope": {"invoices:read reports:read"}, "resource": {billing, reports},
		"code_challenge": {grant.S256(verifier)}, "code_challenge_method": {"S256"}}
	status, _, body := b.get(srv.URL + "/oauth/authorize?" + q.Encode())
	for _, want := range []string{"Read your invoices", "at Billing API", "Read your reports", "at Reports API"} {
		if status != 200 || !strings.Contains(body, want) {
			t.Fatalf("consent page: got %d, want 200 with %q\n%s", status, want, body)
		}
	}
	form := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		form.Add(m[1], html.UnescapeString(m[2]))
	}
	form.Set("decision", "allow")
	status, h, _ := b.post(srv.URL+"/oauth/authorize", form)
	loc, _ := url.Parse(h.Get("Location"))
	if status != http.StatusSeeOther || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("consent: got %d %q, want a redirect with a code", status, h.Get("Location"))
	}
	exchange := func(form url.Values) map[string]any {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(app.ClientID, app.ClientSecret)
		code, m := harness.DoJSON(t, req)
		if code != 200 {
			t.Fatalf("token request %v: got %d %v", form, code, m)
		}
		return m
	}
	m := exchange(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {cb},
		"code_verifier": {verifier}, "resource": {reports}})
	if m["scope"] != "reports:read" {
		t.Errorf("code for both, token for reports: scope %v, want reports:read", m["scope"])
	}
	if res := call(t, "GET", gwURL+"/api/reports/1", m["access_token"].(string)); res.status != 200 {
		t.Errorf("the code's reports token at the reports gateway: got %d %s", res.status, res.body)
	}
	m = exchange(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}, "resource": {billing}})
	if m["scope"] != "invoices:read" || m["expires_in"] != float64(600) {
		t.Errorf("refresh for billing: scope %v, expires_in %v; want invoices:read, 600", m["scope"], m["expires_in"])
	}
	if res := call(t, "GET", gwURL+"/api/reports/1", m["access_token"].(string)); res.status != 401 {
		t.Errorf("the refreshed billing token at the reports gateway: got %d, want 401", res.status)
	}

	// A configuration mistake stops serve with every problem listed.
	bad := write("bad.yaml", "resources:\n  - id: reports\n  - id: "+srv.URL+"\n    scopes_file: "+reportsCat+"\n")
	_, errOut, code := in.CLI("", "serve", "--addr", "127.0.0.1:0", "--config", bad)
	for _, want := range []string{`resources[0].id "reports" is not an absolute URI`, `resources[0] has no scope catalog`} {
		if code == 0 || !strings.Contains(errOut, want) {
			t.Errorf("serve with a bad resources list: exit %d, stderr %q; want %q", code, errOut, want)
		}
	}
}
