package e2e

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/e2e/harness"
)

// preflightTo sends a CORS preflight for method with a bearer token from
// origin to url.
func preflightTo(t *testing.T, url, origin, method string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("OPTIONS", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// countingUpstream is newUpstream that also counts its requests.
func countingUpstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	echo := newUpstream(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		echo.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	return up, &calls
}

// TestCORSWithoutConfiguration: `serve` with the embedded gateway and no
// CORS setting. A page on the issuer's origin (the API reference page) may
// call the API through the gateway: the gateway answers its preflight
// without a token and without the upstream. No other origin may, and the
// server's own endpoints answer no other origin.
func TestCORSWithoutConfiguration(t *testing.T) {
	in := newInstance(t)
	up, calls := countingUpstream(t)
	cfg := filepath.Join(in.DataDir, "gatehouse.yaml")
	if err := os.WriteFile(cfg, []byte("gateway:\n  enabled: true\n  addr: 127.0.0.1:0\n  upstream: "+up.URL+"\n  base_path: /api\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := server{in.Start([]string{"serve", "--addr", "127.0.0.1:0", "--config", cfg}, harness.ListenRE, gatewayRE)}
	gw := "http://" + srv.Matches[1]
	issuerOrigin := srv.URL // the issuer is derived from the address: http://127.0.0.1:PORT

	resp := preflightTo(t, gw+"/api/records/1", issuerOrigin, "GET")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != issuerOrigin ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(resp.Header.Get("Vary"), "Origin") {
		t.Errorf("preflight from the issuer's origin: got %d %v; want 204 allowing it with Authorization", resp.StatusCode, resp.Header)
	}
	if resp := preflightTo(t, gw+"/api/records/1", "https://app.example", "GET"); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: got %d %v; want 403 without CORS headers", resp.StatusCode, resp.Header)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("upstream called %d times for preflights, want 0", n)
	}

	c := in.CreateClient("--name", "Reference page", "--scopes", "api:read-only")
	tok := srv.accessToken(t, c, "")
	res := call(t, "GET", gw+"/api/records/1", tok, "Origin", issuerOrigin)
	if res.status != 200 || res.upstream == nil || calls.Load() != 1 {
		t.Fatalf("GET from the issuer's origin: got %d %s, want 200 from the upstream", res.status, res.body)
	}
	req, _ := http.NewRequest("GET", gw+"/api/records/1", nil)
	req.Header.Set("Origin", issuerOrigin)
	resp, err := http.DefaultClient.Do(req) // no token
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("Access-Control-Allow-Origin") != issuerOrigin ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
		t.Errorf("GET without a token from the issuer's origin: got %d %v; want 401 a page there can read, WWW-Authenticate exposed", resp.StatusCode, resp.Header)
	}

	// The server: nothing for other origins without configuration.
	for _, path := range []string{"/oauth/token", "/.well-known/jwks.json", "/.well-known/oauth-authorization-server", "/oauth/revocations"} {
		resp := preflightTo(t, srv.URL+path, "https://app.example", "POST")
		if resp.StatusCode == 204 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight to %s from another origin: got %d %v; want no CORS answer", path, resp.StatusCode, resp.Header)
		}
	}
}

// TestCORSConfigured: serve's origins from the environment apply to its
// endpoints; `gatehouse gateway --cors-allowed-origins` to the standalone
// gateway, besides the issuer's origin.
func TestCORSConfigured(t *testing.T) {
	in := newInstance(t, "GATEHOUSE_CORS_ALLOWED_ORIGINS=https://app.example", "GATEHOUSE_CORS_PUBLIC_ORIGINS=*")
	srv := in.serve()
	for _, tc := range []struct{ path, method, origin, want string }{
		{"/oauth/token", "POST", "https://app.example", "https://app.example"},
		{"/oauth/access_token", "POST", "https://app.example", "https://app.example"},
		{"/oauth/revocations", "GET", "https://app.example", "https://app.example"},
		{"/oauth/token", "POST", "https://other.example", ""},
	} {
		resp := preflightTo(t, srv.URL+tc.path, tc.origin, tc.method)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.want || (tc.want != "") != (resp.StatusCode == 204) {
			t.Errorf("preflight to %s from %s: got %d, Access-Control-Allow-Origin %q; want %q", tc.path, tc.origin, resp.StatusCode, got, tc.want)
		}
	}
	req, _ := http.NewRequest("GET", srv.URL+"/.well-known/jwks.json", nil)
	req.Header.Set("Origin", "https://anyone.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("JWKS from any origin with public_origins *: got %d %q, want 200 and *", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}

	up, calls := countingUpstream(t)
	gw := in.gateway("--upstream", up.URL, "--issuer", srv.URL, "--cors-allowed-origins", "https://tools.example, HTTPS://App.Example:443")
	for origin, want := range map[string]int{srv.URL: 204, "https://app.example": 204, "https://tools.example": 204, "https://other.example": 403} {
		if resp := preflightTo(t, gw.URL+"/records/1", origin, "DELETE"); resp.StatusCode != want {
			t.Errorf("gateway preflight from %s: got %d, want %d", origin, resp.StatusCode, want)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("upstream called %d times for preflights, want 0", n)
	}
}

// TestCORSStarRefused: "*" where exact origins are needed stops serve and
// the gateway at start-up with one line naming the fix (exit 1 for serve's
// configuration, 2 for the gateway's flags and environment, as for their
// other settings).
func TestCORSStarRefused(t *testing.T) {
	in := newInstance(t)
	for _, tc := range []struct {
		env      string
		args     []string
		wantCode int
		want     string
	}{
		{"GATEHOUSE_CORS_ALLOWED_ORIGINS=*", []string{"serve", "--addr", "127.0.0.1:0"}, 1, `cors.public_origins: ["*"]`},
		{"", []string{"gateway", "--upstream", "http://127.0.0.1:1", "--issuer", "http://127.0.0.1:1", "--cors-allowed-origins", "*"}, 2, `--cors-allowed-origins[0] "*": the gateway allows exact origins only`},
		{"GATEHOUSE_GATEWAY_CORS_ALLOWED_ORIGINS=https://*.example", []string{"gateway", "--upstream", "http://127.0.0.1:1", "--issuer", "http://127.0.0.1:1"}, 2, `has a wildcard`},
	} {
		cmdIn := in.Instance
		if tc.env != "" {
			cmdIn = in.WithEnv(tc.env)
		}
		done := make(chan struct{})
		var stderr string
		var code int
		go func() { _, stderr, code = cmdIn.CLI("", tc.args...); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("gatehouse %s with %s: still running; want it refused at start-up", strings.Join(tc.args, " "), tc.env)
		}
		if code != tc.wantCode || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("gatehouse %s with %s: got exit %d, stderr %q; want exit %d and one line mentioning %q", strings.Join(tc.args, " "), tc.env, code, stderr, tc.wantCode, tc.want)
		}
	}
}
