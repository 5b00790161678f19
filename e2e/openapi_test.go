package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/e2e/harness"
)

// ordersOpenAPI is the protected API's document: reading an order needs
// orders:read, deleting one orders:write and admin together; /status is
// public; /reports takes an API key, which no token is.
const ordersOpenAPI = `openapi: 3.1.0
info: {title: Orders, version: "1"}
servers: [{url: "https://api.example.com/v1"}]
security: [{oauth: [orders:read]}]
paths:
  /orders/{id}:
    get: {operationId: getOrder, responses: {"200": {description: ok}}}
    delete:
      operationId: deleteOrder
      security: [{oauth: [orders:write, admin]}]
      responses: {"204": {description: deleted}}
  /status:
    get: {security: [], responses: {"200": {description: up}}}
  /reports:
    get: {security: [{key: []}], responses: {"200": {description: ok}}}
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows:
        clientCredentials:
          tokenUrl: https://auth.example.com/oauth/token
          scopes:
            orders:read: Read your orders
            orders:write: Change your orders
            admin: ""
    key: {type: apiKey, in: header, name: X-Key}
`

// TestOpenAPI runs serve with --openapi (and a YAML catalog merged in) and
// its embedded gateway, which enforces the document's AND requirement,
// and the standalone gateway from the same document.
func TestOpenAPI(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "openapi.yaml")
	labels := filepath.Join(dir, "scopes.yaml")
	os.WriteFile(doc, []byte(ordersOpenAPI), 0o600)
	os.WriteFile(labels, []byte("admin:\n  label: Administer the shop\norders:read:\n  default: true\n"), 0o600)
	// The CLI reads the same catalog from the environment.
	in := newInstance(t, "GATEHOUSE_OPENAPI="+doc, "GATEHOUSE_SCOPES="+labels)
	up := newUpstream(t)
	cfg := filepath.Join(in.DataDir, "gatehouse.yaml")
	os.WriteFile(cfg, []byte("gateway:\n  enabled: true\n  addr: 127.0.0.1:0\n  upstream: "+up.URL+"\n  allow_public: true\n"), 0o600)
	srv := server{in.Start([]string{"serve", "--addr", "127.0.0.1:0", "--config", cfg, "--openapi", doc, "--scopes", labels}, harness.ListenRE)}
	var gwURL string
	harness.Within(t, 10*time.Second, "gateway listening in serve's log", func() bool {
		m := gatewayRE.FindStringSubmatch(srv.Logs.String())
		if m != nil {
			gwURL = "http://" + m[1]
		}
		return m != nil
	})
	logs := srv.Logs.String()
	for _, want := range []string{`scopes="orders:read orders:write admin"`, `base_path=/v1`, `allow_public=true`, `GET /reports: none of its security requirements can be met`} {
		if !strings.Contains(logs, want) {
			t.Errorf("serve's log lacks %q:\n%s", want, logs)
		}
	}

	// The authorization server's catalog is the derived one.
	if _, m := harness.DoJSON(t, mustRequest(t, "GET", srv.URL+"/.well-known/oauth-authorization-server")); !strings.Contains(strings.Join(toStrings(m["scopes_supported"]), " "), "orders:write") {
		t.Errorf("scopes_supported %v lacks orders:write", m["scopes_supported"])
	}
	def := in.CreateClient("--name", "Default")
	if strings.Join(def.Scopes, " ") != "orders:read" {
		t.Errorf("a client created without scopes got %q, want the YAML catalog's default, orders:read", def.Scopes)
	}
	c := in.CreateClient("--name", "Back office", "--scopes", "orders:read orders:write admin")
	if code, m := srv.token(t, c.ClientID, c.ClientSecret, "nope"); code != 400 || m["error"] != "invalid_scope" {
		t.Errorf("token for a scope not in the document: got %d %v, want 400 invalid_scope", code, m)
	}
	write := srv.accessToken(t, c, "orders:write")
	both := srv.accessToken(t, c, "orders:write admin")
	read := srv.accessToken(t, c, "orders:read")

	check := func(t *testing.T, base string, allowPublic bool) {
		publicStatus := 401
		if allowPublic {
			publicStatus = 200
		}
		for _, tc := range []struct {
			name, method, path, token string
			wantStatus                int
			wantChallenge             string
		}{
			{"read", "GET", "/v1/orders/7", read, 200, ""},
			{"AND: both scopes", "DELETE", "/v1/orders/7", both, 200, ""},
			{"AND: one scope", "DELETE", "/v1/orders/7", write, 403, `error="insufficient_scope", scope="orders:write admin"`},
			{"AND: another scope", "DELETE", "/v1/orders/7", read, 403, `scope="orders:write admin"`},
			{"API key only", "GET", "/v1/reports", both, 403, `error_description="no scope allows this call"`},
			{"public with a token", "GET", "/v1/status", write, 200, ""},
			{"public without a token", "GET", "/v1/status", "", publicStatus, ""},
			{"outside the base path", "GET", "/orders/7", read, 404, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := call(t, tc.method, base+tc.path, tc.token)
				if res.status != tc.wantStatus || !strings.Contains(res.challenge, tc.wantChallenge) {
					t.Errorf("got %d, WWW-Authenticate %q; want %d and %q", res.status, res.challenge, tc.wantStatus, tc.wantChallenge)
				}
				if res.status == 200 && tc.token == both && res.upstream.Header.Get("X-Gatehouse-Scope") != "orders:write admin" {
					t.Errorf("upstream X-Gatehouse-Scope %q, want the token's", res.upstream.Header.Get("X-Gatehouse-Scope"))
				}
			})
		}
	}
	t.Run("embedded gateway", func(t *testing.T) { check(t, gwURL, true) })
	t.Run("standalone gateway", func(t *testing.T) {
		gw := in.gateway("--upstream", up.URL, "--issuer", srv.URL, "--openapi", doc, "--scopes", labels)
		check(t, gw.URL, false)
	})

	t.Run("a bad document stops serve", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.yaml")
		os.WriteFile(bad, []byte(strings.Replace(ordersOpenAPI, "[orders:write, admin]", "[orders:write, amdin]", 1)), 0o600)
		_, stderr, code := in.CLI("", "serve", "--addr", "127.0.0.1:0", "--openapi", bad, "--scopes", labels)
		want := bad + `: line 8: DELETE /orders/{id}: scope "amdin" of scheme "oauth" is not declared in that scheme's flows`
		if code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("serve --openapi bad.yaml: exit %d, stderr %q; want non-zero and %q", code, stderr, want)
		}
		_, stderr, code = in.CLI("", "serve", "--addr", "127.0.0.1:0", "--openapi", filepath.Join(dir, "missing.yaml"))
		if code == 0 || !strings.Contains(stderr, `api.openapi "`+filepath.Join(dir, "missing.yaml")+`": no such file`) {
			t.Errorf("serve --openapi missing.yaml: exit %d, stderr %q", code, stderr)
		}
	})
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// toStrings returns the strings of a JSON array.
func toStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
