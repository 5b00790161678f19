package e2e

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/e2e/harness"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/go-jose/go-jose/v4"
)

// gatewayRE finds the gateway's address in a log line, standalone or
// inside serve.
var gatewayRE = regexp.MustCompile(`gateway listening.* addr=http://(127\.0\.0\.1:\d+)`)

// gateway starts `gatehouse gateway` with args and waits for its address,
// as serve does for the server.
func (in instance) gateway(args ...string) server {
	in.T.Helper()
	return server{in.Start(append([]string{"gateway", "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}, args...),
		gatewayRE, metricsRE)}
}

// metricsRE finds the metrics listener's address in a "listening" log line
// (--metrics-addr).
var metricsRE = regexp.MustCompile(`listening.* metrics=http://(127\.0\.0\.1:\d+)`)

// metricsURL is the /metrics of a server started with metricsRE as its
// second pattern.
func (s server) metricsURL() string { return "http://" + s.Matches[1] + "/metrics" }

// seen is what the test upstream received.
type seen struct {
	Method string      `json:"method"`
	URI    string      `json:"uri"`
	Header http.Header `json:"header"`
}

// newUpstream starts the API behind the gateway: it answers every request
// with what it received.
func newUpstream(t *testing.T) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(seen{Method: r.Method, URI: r.RequestURI, Header: r.Header})
	}))
	t.Cleanup(up.Close)
	return up
}

// result is a gateway response.
type result struct {
	status    int
	challenge string // WWW-Authenticate
	upstream  *seen  // what the upstream saw, if the request reached it
	body      string
}

func call(t *testing.T, method, url, token string, header ...string) result {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	res := result{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate"), body: string(b)}
	if resp.StatusCode == 200 && method != "HEAD" {
		res.upstream = &seen{}
		if err := json.Unmarshal(b, res.upstream); err != nil {
			t.Fatalf("%s %s: upstream answer %q: %v", method, url, b, err)
		}
	}
	return res
}

// accessToken gets a client-credentials token from srv.
func (s server) accessToken(t *testing.T, c createdClient, scope string) string {
	t.Helper()
	code, m := s.token(t, c.ClientID, c.ClientSecret, scope)
	tok, _ := m["access_token"].(string)
	if code != 200 || tok == "" {
		t.Fatalf("token for %s with scope %q: got %d %v", c.ClientID, scope, code, m)
	}
	return tok
}

// mint signs claims as an RFC 9068 access token with s; exp is relative
// to now.
func mint(t *testing.T, s *testutil.Signer, iss, aud, sub, scope string, exp time.Duration) string {
	t.Helper()
	now := time.Now()
	return s.Sign(t, map[string]any{
		"iss": iss, "aud": aud, "sub": sub, "client_id": sub, "scope": scope, "jti": rand.Text(),
		"iat": now.Add(exp - time.Hour).Unix(), "nbf": now.Add(exp - time.Hour).Unix(), "exp": now.Add(exp).Unix(),
	})
}

// currentKID returns the key ID the server signs with.
func currentKID(t *testing.T, tok string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

func metricValue(t *testing.T, metrics, series string) string {
	t.Helper()
	for line := range strings.Lines(metrics) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			return v
		}
	}
	return "0"
}

func TestGateway(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	up := newUpstream(t)
	gw := in.gateway("--upstream", up.URL, "--issuer", srv.URL, "--base-path", "/api", "--revocation-poll", "1s")

	app := in.CreateClient("--name", "Billing sync", "--scopes", "api:read-only search")
	tenant := in.CreateClient("--name", "Tenant app", "--scopes", "api", "--accounts", "acct-1")
	readOnly := srv.accessToken(t, app, "api:read-only")
	search := srv.accessToken(t, app, "search")
	acct := srv.accessToken(t, tenant, "api account:acct-1")

	t.Run("allowed and forbidden endpoints", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, path, token string
			wantStatus                int
			wantChallenge             string // substring of WWW-Authenticate
		}{
			{"read-only reads", "GET", "/api/records/1", readOnly, 200, ""},
			{"HEAD is a read", "HEAD", "/api/records/1", readOnly, 200, ""},
			{"read-only writes", "POST", "/api/records", readOnly, 403, `error="insufficient_scope", scope="api"`},
			{"search searches", "GET", "/api/records/7/search", search, 200, ""},
			{"search reads a record", "GET", "/api/records/7", search, 403, `scope="api:read-only api"`},
			{"search one level too deep", "GET", "/api/records/7/search/x", search, 403, `error="insufficient_scope"`},
			{"no token", "GET", "/api/records/1", "", 401, `Bearer realm=`},
			{"garbage token", "GET", "/api/records/1", "abc.def.ghi", 401, `error="invalid_token"`},
			{"outside the base path", "GET", "/admin", readOnly, 404, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := call(t, tc.method, gw.URL+tc.path, tc.token)
				if res.status != tc.wantStatus || !strings.Contains(res.challenge, tc.wantChallenge) {
					t.Errorf("got %d, WWW-Authenticate %q; want %d and %q", res.status, res.challenge, tc.wantStatus, tc.wantChallenge)
				}
			})
		}
	})

	t.Run("identity headers replace spoofed ones", func(t *testing.T) {
		res := call(t, "GET", gw.URL+"/api/records/1?x=1", readOnly,
			"X-Gatehouse-Client-Id", "admin", "x-gatehouse-scope", "api", "X-Gatehouse-Account", "acct-9")
		if res.status != 200 {
			t.Fatalf("got %d %s, want 200", res.status, res.body)
		}
		h := res.upstream.Header
		for name, want := range map[string]string{
			"X-Gatehouse-Client-Id": app.ClientID, "X-Gatehouse-Subject": app.ClientID,
			"X-Gatehouse-Scope": "api:read-only", "X-Gatehouse-Account": "",
		} {
			if got := strings.Join(h.Values(name), ","); got != want {
				t.Errorf("upstream %s: got %q, want %q", name, got, want)
			}
		}
		if res.upstream.URI != "/api/records/1?x=1" {
			t.Errorf("upstream request URI: got %q, want /api/records/1?x=1 (the path unchanged)", res.upstream.URI)
		}
	})

	t.Run("account-restricted token", func(t *testing.T) {
		for _, tc := range []struct {
			name       string
			header     []string
			wantStatus int
		}{
			{"its own account", []string{"X-Account", "acct-1"}, 200},
			{"another account", []string{"X-Account", "acct-2"}, 403},
			{"no account header", nil, 200},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := call(t, "DELETE", gw.URL+"/api/records/1", acct, tc.header...)
				if res.status != tc.wantStatus {
					t.Fatalf("got %d %s, want %d", res.status, res.body, tc.wantStatus)
				}
				if res.status != 200 {
					return
				}
				if got := res.upstream.Header.Get("X-Account"); got != "acct-1" {
					t.Errorf("upstream X-Account: got %q, want acct-1", got)
				}
				if got := res.upstream.Header.Get("X-Gatehouse-Account"); got != "acct-1" {
					t.Errorf("upstream X-Gatehouse-Account: got %q, want acct-1", got)
				}
			})
		}
	})

	t.Run("tokens the server did not issue", func(t *testing.T) {
		// The server's own key ID, but another key: the signature fails.
		forged := mint(t, testutil.NewSigner(t, currentKID(t, readOnly)), srv.URL, srv.URL, app.ClientID, "api", time.Hour)
		unknownKey := mint(t, testutil.NewSigner(t, "unknown-kid"), srv.URL, srv.URL, app.ClientID, "api", time.Hour)
		// A valid token of another issuer.
		other := testutil.NewSigner(t, "other")
		otherIssuer := mint(t, other, testutil.NewIssuer(t, other).URL, srv.URL, app.ClientID, "api", time.Hour)
		for name, tok := range map[string]string{"forged with the server's kid": forged, "unknown key": unknownKey, "another issuer": otherIssuer} {
			res := call(t, "GET", gw.URL+"/api/records/1", tok)
			if res.status != 401 || !strings.Contains(res.challenge, `error="invalid_token"`) {
				t.Errorf("%s: got %d %q, want 401 invalid_token", name, res.status, res.challenge)
			}
		}
	})

	t.Run("revoked token refused within the poll interval", func(t *testing.T) {
		tok := srv.accessToken(t, app, "api:read-only")
		if res := call(t, "GET", gw.URL+"/api/records/1", tok); res.status != 200 {
			t.Fatalf("before revocation: got %d %s", res.status, res.body)
		}
		req, _ := http.NewRequest("POST", srv.URL+"/oauth/revoke", strings.NewReader("token="+tok))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(app.ClientID, app.ClientSecret)
		if code, m := harness.DoJSON(t, req); code != 200 {
			t.Fatalf("revoke: got %d %v", code, m)
		}
		harness.Within(t, 2*time.Second, "revoked token refused (poll 1s + 1s)", func() bool {
			res := call(t, "GET", gw.URL+"/api/records/1", tok)
			return res.status == 401 && strings.Contains(res.challenge, `error="invalid_token"`)
		})
		if res := call(t, "GET", gw.URL+"/api/records/1", readOnly); res.status != 200 {
			t.Errorf("another token after the revocation: got %d, want 200", res.status)
		}
	})

	t.Run("health and metrics", func(t *testing.T) {
		if body := harness.Fetch(t, gw.URL+"/healthz"); !strings.Contains(body, "ok") {
			t.Errorf("/healthz: got %q", body)
		}
		m := harness.Fetch(t, gw.metricsURL())
		for _, series := range []string{
			`gatehouse_gateway_requests_total{decision="allowed",reason=""}`,
			`gatehouse_gateway_requests_total{decision="denied",reason="insufficient_scope"}`,
			`gatehouse_gateway_requests_total{decision="denied",reason="account_mismatch"}`,
			`gatehouse_gateway_requests_total{decision="denied",reason="revoked"}`,
			`gatehouse_gateway_upstream_duration_seconds_count`,
		} {
			if v := metricValue(t, m, series); v == "0" {
				t.Errorf("/metrics: %s is 0", series)
			}
		}
		// On the proxied listener /metrics is a path like any other: here,
		// outside the base path, so 404.
		if res := call(t, "GET", gw.URL+"/metrics", ""); res.status != 404 {
			t.Errorf("/metrics on the gateway's own listener: got %d, want 404", res.status)
		}
	})

	// The gateway stops in order on SIGTERM.
	gw.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-gw.Done:
		if err != nil || !strings.Contains(gw.Logs.String(), "stopped") {
			t.Errorf("gateway after SIGTERM: %v\n%s", err, gw.Logs)
		}
	case <-time.After(20 * time.Second):
		t.Error("gateway did not stop after SIGTERM")
	}
	for _, secret := range []string{app.ClientSecret, readOnly[:40]} {
		if strings.Contains(gw.Logs.String(), secret) {
			t.Errorf("gateway log shows a secret or token")
		}
	}
}

// After `gatehouse keys rotate --now`, a running gateway accepts the tokens
// the server signs with the new key within seconds: it refetches the JWKS
// for the unknown kid at most once per 5 s (it used to refuse them for about
// 30 s), and keeps accepting the earlier key's tokens.
func TestGatewayAcceptsNewKeyAfterRotateNow(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	up := newUpstream(t)
	gw := in.gateway("--upstream", up.URL, "--issuer", srv.URL, "--revocation-poll", "0")
	app := in.CreateClient("--name", "Rotation", "--scopes", "api")

	before := srv.accessToken(t, app, "api")
	if r := call(t, "GET", gw.URL+"/records/1", before); r.status != 200 {
		t.Fatalf("token before the rotation: got %d %s, want 200", r.status, r.body)
	}
	// The gateway has just fetched the JWKS; now the key changes at once.
	out := in.MustCLI("keys", "rotate", "--now")
	if msg := strings.Join(strings.Fields(out), " "); !strings.Contains(msg, "unknown kid refetch in the gatehouse gateway and resource middleware, within 5s") {
		t.Errorf("keys rotate --now: got %q, want it to say the gateway picks up the key within 5s", out)
	}
	var after string
	harness.Within(t, 10*time.Second, "the server signing with the new key", func() bool {
		after = srv.accessToken(t, app, "api")
		return currentKID(t, after) != currentKID(t, before)
	})
	harness.Within(t, 15*time.Second, "the gateway accepting the new key's token", func() bool {
		return call(t, "GET", gw.URL+"/records/1", after).status == 200
	})
	if r := call(t, "GET", gw.URL+"/records/1", before); r.status != 200 {
		t.Errorf("token from the earlier key after the rotation: got %d %s, want 200", r.status, r.body)
	}
}

// TestGatewayTokenChecks uses a stand-in issuer whose key the test holds,
// so that it can mint tokens serve never would: expired ones, and ones
// with the issuer's key but another iss.
func TestGatewayTokenChecks(t *testing.T) {
	in := newInstance(t)
	up := newUpstream(t)
	sg := testutil.NewSigner(t, "k1")
	iss := testutil.NewIssuer(t, sg)
	gw := in.gateway("--upstream", up.URL, "--issuer", iss.URL)

	for _, tc := range []struct {
		name, token string
		want        int
		wantDesc    string
	}{
		{"valid", mint(t, sg, iss.URL, iss.URL, "app", "api", time.Hour), 200, ""},
		{"expired", mint(t, sg, iss.URL, iss.URL, "app", "api", -2*time.Minute), 401, "expired"},
		{"another issuer", mint(t, sg, "https://auth.other.example", iss.URL, "app", "api", time.Hour), 401, ""},
		{"another audience", mint(t, sg, iss.URL, "https://api.other.example", "app", "api", time.Hour), 401, ""},
		{"unknown key", mint(t, testutil.NewSigner(t, "k2"), iss.URL, iss.URL, "app", "api", time.Hour), 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := call(t, "GET", gw.URL+"/records/1", tc.token)
			if res.status != tc.want {
				t.Fatalf("got %d %s, want %d", res.status, res.body, tc.want)
			}
			if tc.want == 401 && !strings.Contains(res.challenge, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate: got %q, want error=\"invalid_token\"", res.challenge)
			}
			if !strings.Contains(res.body, tc.wantDesc) {
				t.Errorf("body: got %s, want it to mention %q", res.body, tc.wantDesc)
			}
		})
	}
	m := harness.Fetch(t, gw.metricsURL())
	if v := metricValue(t, m, `gatehouse_gateway_requests_total{decision="denied",reason="expired"}`); v != "1" {
		t.Errorf("expired denials: got %s, want 1", v)
	}
	if v := metricValue(t, m, `gatehouse_gateway_requests_total{decision="denied",reason="invalid_token"}`); v != "3" {
		t.Errorf("invalid_token denials: got %s, want 3", v)
	}
}

func TestGatewayUpstreamDown(t *testing.T) {
	in := newInstance(t)
	sg := testutil.NewSigner(t, "k1")
	iss := testutil.NewIssuer(t, sg)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	gw := in.gateway("--upstream", down.URL, "--issuer", iss.URL)
	res := call(t, "GET", gw.URL+"/records/1", mint(t, sg, iss.URL, iss.URL, "app", "api", time.Hour))
	if res.status != 502 || !strings.Contains(res.body, `"bad_gateway"`) || strings.Contains(res.body, "127.0.0.1") {
		t.Errorf("upstream down: got %d %s, want 502 bad_gateway without the address", res.status, res.body)
	}
}

// TestGatewayInServe runs the gateway from serve's config file.
func TestGatewayInServe(t *testing.T) {
	in := newInstance(t)
	up := newUpstream(t)
	cfg := filepath.Join(in.DataDir, "gatehouse.yaml")
	os.WriteFile(cfg, []byte("metrics_addr: 127.0.0.1:0\ngateway:\n  enabled: true\n  addr: 127.0.0.1:0\n  upstream: "+up.URL+"\n  base_path: /api\n"), 0o600)
	srv := server{in.Start([]string{"serve", "--addr", "127.0.0.1:0", "--config", cfg}, harness.ListenRE, metricsRE)}
	var gwURL string
	harness.Within(t, 10*time.Second, "gateway listening in serve's log", func() bool {
		m := gatewayRE.FindStringSubmatch(srv.Logs.String())
		if m != nil {
			gwURL = "http://" + m[1]
		}
		return m != nil
	})
	c := in.CreateClient("--name", "embedded", "--scopes", "api:read-only")
	tok := srv.accessToken(t, c, "")
	if res := call(t, "GET", gwURL+"/api/records/1", tok); res.status != 200 || res.upstream.Header.Get("X-Gatehouse-Client-Id") != c.ClientID {
		t.Errorf("allowed call: got %d %s", res.status, res.body)
	}
	if res := call(t, "PUT", gwURL+"/api/records/1", tok); res.status != 403 {
		t.Errorf("forbidden call: got %d, want 403", res.status)
	}
	// serve's metrics listener has the gateway's metrics beside the server's.
	m := harness.Fetch(t, srv.metricsURL())
	for _, series := range []string{`gatehouse_gateway_requests_total{decision="allowed",reason=""}`, `gatehouse_tokens_issued_total{grant_type="client_credentials"}`} {
		if v := metricValue(t, m, series); v != "1" {
			t.Errorf("serve's /metrics: %s is %s, want 1", series, v)
		}
	}
	srv.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-srv.Done:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v\n%s", err, srv.Logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve with a gateway did not stop after SIGTERM")
	}
	if _, err := http.Get(gwURL + "/healthz"); err == nil {
		t.Errorf("the gateway still answers after serve stopped")
	}
}

func TestGatewayCLIErrors(t *testing.T) {
	in := newInstance(t)
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"gateway", "--issuer", "http://127.0.0.1:1"}, "", "--upstream is required"},
		{[]string{"gateway", "--upstream", "http://127.0.0.1:1"}, "", "--issuer is required"},
		{[]string{"gateway", "--upstream", "localhost:3000", "--issuer", "http://127.0.0.1:1"}, "", "--upstream"},
		{[]string{"gateway", "--upstream", "http://127.0.0.1:1", "--issuer", "http://auth.example.com"}, "", "must use https"},
		{[]string{"gateway", "--upstream", "http://127.0.0.1:1", "--issuer", "http://127.0.0.1:1", "--client-id", "feed"}, "", "GATEHOUSE_GATEWAY_CLIENT_SECRET"},
		{[]string{"gateway", "--upstream", "http://127.0.0.1:1", "--issuer", "http://127.0.0.1:1", "--revocation-poll", "often"}, "", "--revocation-poll"},
		{[]string{"gateway", "--upstream", "http://127.0.0.1:1", "--issuer", "http://127.0.0.1:1", "--account-header", "X-Gatehouse-Account"}, "", "--account-header"},
		{[]string{"gateway", "--issuer", "http://127.0.0.1:1", "--client-secret", "x"}, "", "unknown flag"},
		{[]string{"gateway", "--upstream", "http://127.0.0.1:1", "--issuer", "http://127.0.0.1:1"}, "GATEHOUSE_GATEWAY_ALLOW_ENCODED_SLASHES=maybe", "GATEHOUSE_GATEWAY_ALLOW_ENCODED_SLASHES"},
		{[]string{"gateway"}, "GATEHOUSE_GATEWAY_UPSTREAM=http://127.0.0.1:1", "--issuer is required"},
	} {
		cmdIn := *in.Instance
		if tc.env != "" {
			cmdIn.Env = append(append([]string(nil), in.Env...), tc.env)
		}
		_, stderr, code := cmdIn.CLI("", tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("gatehouse %s: got exit %d, stderr %q; want exit 2 mentioning %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
		if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 {
			t.Errorf("gatehouse %s: error is %d lines, want one: %q", strings.Join(tc.args, " "), n+1, stderr)
		}
	}
}

// mintAccount is mint for an account-restricted token: scope gets
// "account:<account>" and the token an account_id claim, as serve issues them.
func mintAccount(t *testing.T, s *testutil.Signer, iss, sub, scope, account string) string {
	t.Helper()
	now := time.Now()
	return s.Sign(t, map[string]any{
		"iss": iss, "aud": iss, "sub": sub, "client_id": sub, "scope": scope + " account:" + account,
		"account_id": account, "jti": rand.Text(), "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
}

// cgiValues returns the values of every header the upstream received whose
// name a CGI-style server (WSGI, Rack, PHP) reads as name: case ignored,
// "_" and "-" alike.
func cgiValues(h http.Header, name string) []string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToUpper(s), "-", "_") }
	var vals []string
	for k, v := range h {
		if norm(k) == norm(name) {
			vals = append(vals, v...)
		}
	}
	return vals
}

// TestGatewayRequestSpellings: through the real binary, spellings of a
// request that an upstream could read differently from what the gateway
// checked are neutralised or refused.
func TestGatewayRequestSpellings(t *testing.T) {
	in := newInstance(t)
	up := newUpstream(t)
	sg := testutil.NewSigner(t, "k1")
	iss := testutil.NewIssuer(t, sg)
	gw := in.gateway("--upstream", up.URL, "--issuer", iss.URL)
	slashes := in.gateway("--upstream", up.URL, "--issuer", iss.URL, "--allow-encoded-slashes")
	acme := mintAccount(t, sg, iss.URL, "tenant-app", "api", "acme")
	search := mint(t, sg, iss.URL, iss.URL, "app", "search", time.Hour)
	readOnly := mint(t, sg, iss.URL, iss.URL, "app", "api:read-only", time.Hour)

	t.Run("account header spellings", func(t *testing.T) {
		for _, header := range [][]string{
			{"X_Account", "globex"},
			{"X-Account", "acme", "X_Account", "globex"},
			{"x_account", "globex", "X-Gatehouse-Account", "globex"},
		} {
			res := call(t, "GET", gw.URL+"/records/1", acme, header...)
			if res.status != 200 {
				t.Fatalf("%q: got %d %s, want 200", header, res.status, res.body)
			}
			for _, name := range []string{"X-Account", "X-Gatehouse-Account"} {
				if got := cgiValues(res.upstream.Header, name); len(got) != 1 || got[0] != "acme" {
					t.Errorf("%q: upstream %s in every spelling: got %q, want [acme]", header, name, got)
				}
			}
		}
		res := call(t, "GET", gw.URL+"/records/1", acme, "Connection", "X-Account", "X_Account", "globex")
		if res.status != 400 || !strings.Contains(res.body, `"invalid_request"`) {
			t.Errorf("Connection: X-Account: got %d %s, want 400 invalid_request", res.status, res.body)
		}
	})

	t.Run("encoded slash refused", func(t *testing.T) {
		for _, p := range []string{"/records/x%2Fadmin/search", "/records/x%5Cadmin/search", "/records/x%252Fadmin/search"} {
			if res := call(t, "GET", gw.URL+p, search); res.status != 400 || !strings.Contains(res.body, `"invalid_request"`) {
				t.Errorf("GET %s: got %d %s, want 400 invalid_request", p, res.status, res.body)
			}
		}
	})

	t.Run("method override", func(t *testing.T) {
		if res := call(t, "GET", gw.URL+"/records/1?_method=DELETE", readOnly); res.status != 400 {
			t.Errorf("GET ?_method=DELETE with a read-only token: got %d %s, want 400", res.status, res.body)
		}
		res := call(t, "GET", gw.URL+"/records/1", readOnly, "X-HTTP-Method-Override", "DELETE", "X_HTTP_Method_Override", "DELETE")
		if res.status != 200 || len(cgiValues(res.upstream.Header, "X-HTTP-Method-Override")) != 0 {
			t.Errorf("override header: got %d, upstream headers %v; want 200 without it", res.status, res.upstream)
		}
	})

	t.Run("encoded slash allowed", func(t *testing.T) {
		res := call(t, "GET", slashes.URL+"/records/x%2Fadmin/search", search)
		if res.status != 200 || res.upstream.URI != "/records/x%2Fadmin/search" {
			t.Errorf("got %d %s, want 200 and /records/x%%2Fadmin/search upstream", res.status, res.body)
		}
		// "%2F" is inside one segment: search does not allow records/x/admin.
		if res := call(t, "GET", slashes.URL+"/records/x%2Fadmin", search); res.status != 403 {
			t.Errorf("GET /records/x%%2Fadmin with search: got %d, want 403", res.status)
		}
	})
}

// TestGatewayAccountKinds: the three kinds of client, as platforms document
// account-restricted tokens. A client limited to one account always gets
// tokens restricted to it; one limited to several must name one with
// account:<id>, alone meaning every scope it is allowed; a platform-level
// client (no account list, or "*") gets unrestricted tokens, with which the
// account header passes as sent.
func TestGatewayAccountKinds(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	up := newUpstream(t)
	gw := in.gateway("--upstream", up.URL, "--issuer", srv.URL, "--base-path", "/api")

	one := in.CreateClient("--name", "One account", "--scopes", "api", "--accounts", "acme")
	several := in.CreateClient("--name", "Several accounts", "--scopes", "api:read-only search", "--accounts", "acme,globex")
	platform := in.CreateClient("--name", "Platform", "--scopes", "api")
	anyAcct := in.CreateClient("--name", "Any account", "--scopes", "api", "--accounts", "*")

	t.Run("several accounts, none named", func(t *testing.T) {
		for _, sc := range []string{"", "search"} {
			code, m := srv.token(t, several.ClientID, several.ClientSecret, sc)
			desc, _ := m["error_description"].(string)
			if code != 400 || m["error"] != "invalid_scope" || !strings.Contains(desc, "account:<id>") {
				t.Errorf("scope %q: got %d %v, want 400 invalid_scope naming account:<id>", sc, code, m)
			}
		}
	})

	for _, tc := range []struct {
		name          string
		c             createdClient
		scope         string
		wantScope     string
		wantAccount   string // the token's; "" = unrestricted
		header        string // X-Account sent
		wantStatus    int
		wantUpstream  string // X-Account the upstream sees
		wantGatehouse string // X-Gatehouse-Account the upstream sees
	}{
		{"one account: no scope named", one, "", "api account:acme", "acme", "", 200, "acme", "acme"},
		{"one account: its own header", one, "", "api account:acme", "acme", "acme", 200, "acme", "acme"},
		{"one account: another account", one, "", "api account:acme", "acme", "globex", 403, "", ""},
		{"several: account only", several, "account:globex", "api:read-only search account:globex", "globex", "globex", 200, "globex", "globex"},
		{"several: another account", several, "account:globex", "api:read-only search account:globex", "globex", "acme", 403, "", ""},
		{"several: scope and account", several, "api:read-only account:acme", "api:read-only account:acme", "acme", "", 200, "acme", "acme"},
		{"platform: header as sent", platform, "", "api", "", "globex", 200, "globex", ""},
		{"platform: no header", platform, "", "api", "", "", 200, "", ""},
		{"any account: header as sent", anyAcct, "", "api", "", "initech", 200, "initech", ""},
		{"any account: account only", anyAcct, "account:initech", "api account:initech", "initech", "initech", 200, "initech", "initech"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, m := srv.token(t, tc.c.ClientID, tc.c.ClientSecret, tc.scope)
			tok, _ := m["access_token"].(string)
			if code != 200 || m["scope"] != tc.wantScope {
				t.Fatalf("token with scope %q: got %d %v, want scope %q", tc.scope, code, m, tc.wantScope)
			}
			var hdr []string
			if tc.header != "" {
				hdr = []string{"X-Account", tc.header}
			}
			res := call(t, "GET", gw.URL+"/api/records/7/search", tok, hdr...)
			if res.status != tc.wantStatus {
				t.Fatalf("GET with X-Account %q: got %d %s, want %d", tc.header, res.status, res.body, tc.wantStatus)
			}
			if res.status != 200 {
				return
			}
			h := res.upstream.Header
			if got := h.Get("X-Account"); got != tc.wantUpstream {
				t.Errorf("upstream X-Account: got %q, want %q", got, tc.wantUpstream)
			}
			if got := h.Get("X-Gatehouse-Account"); got != tc.wantGatehouse {
				t.Errorf("upstream X-Gatehouse-Account: got %q, want %q", got, tc.wantGatehouse)
			}
			if tc.wantAccount != tc.wantGatehouse {
				t.Errorf("test table: token account %q but upstream account %q", tc.wantAccount, tc.wantGatehouse)
			}
		})
	}
}
