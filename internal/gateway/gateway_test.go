package gateway_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/resource"
)

// echoed is what the echo upstream saw.
type echoed struct {
	Method string              `json:"method"`
	URI    string              `json:"uri"`
	Host   string              `json:"host"`
	Header map[string][]string `json:"header"`
}

// newEcho starts an upstream that answers with what it received and
// counts its requests.
func newEcho(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		writeJSON(w, echoed{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

type setup struct {
	as       *authServer
	upstream string        // upstream URL; "" = a new echo server
	timeout  time.Duration // upstream timeout
	basePath string
	mod      func(*gateway.Config) // changes to the config, if any
	registry *prometheus.Registry  // receives the gateway's metrics; nil: none
}

// newGateway starts a gateway in front of upstream and returns its URL.
func newGateway(t *testing.T, s setup) string {
	t.Helper()
	u, err := url.Parse(s.upstream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.Config{
		Registry:        s.registry,
		Upstream:        u,
		UpstreamTimeout: s.timeout,
		Resource: resource.Config{
			Issuer:         s.as.srv.URL,
			Audience:       s.as.srv.URL,
			BasePath:       s.basePath,
			RevocationPoll: -1,
		},
	}
	if s.mod != nil {
		s.mod(&cfg)
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func do(t *testing.T, method, url, token string, header http.Header, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestIdentityHeaders(t *testing.T) {
	as := newAuthServer(t)
	echo, _ := newEcho(t)
	gw := newGateway(t, setup{as: as, upstream: echo.URL})

	spoofed := http.Header{
		"X-Gatehouse-Client-Id": {"evil"},
		"x-gatehouse-subject":   {"evil"}, // non-canonical spelling, sent as is
		"X-GATEHOUSE-ACCOUNT":   {"evil"},
		"X-Gatehouse-Scope":     {"api", "admin"},
		"X-Gatehouse-Future":    {"evil"},
		"X_Gatehouse_Client_Id": {"evil"}, // "_" for "-": CGI-style servers merge the two
		"Connection":            {"X-Hop"},
		"X-Hop":                 {"dropped"},
		"X-Forwarded-For":       {"203.0.113.9"},
		"X-Kept":                {"kept"},
	}
	for _, tc := range []struct {
		name, scope string
		want        map[string][]string // X-Gatehouse-* headers upstream
	}{
		{"plain", "api", map[string][]string{
			"X-Gatehouse-Client-Id": {"app-1"}, "X-Gatehouse-Subject": {"app-1"}, "X-Gatehouse-Scope": {"api"}}},
		{"account restricted", "api:read-only account:acct-7", map[string][]string{
			"X-Gatehouse-Client-Id": {"app-1"}, "X-Gatehouse-Subject": {"app-1"},
			"X-Gatehouse-Scope": {"api:read-only account:acct-7"}, "X-Gatehouse-Account": {"acct-7"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, "GET", gw+"/records/42?q=a%20b&x=1", as.token(t, "app-1", tc.scope), spoofed, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status: got %d %s, want 200", resp.StatusCode, body)
			}
			var got echoed
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			identity := map[string][]string{}
			for k, v := range got.Header {
				if strings.HasPrefix(strings.ReplaceAll(strings.ToLower(k), "_", "-"), "x-gatehouse-") {
					identity[k] = v
				}
			}
			if diff := cmp.Diff(tc.want, identity); diff != "" {
				t.Errorf("X-Gatehouse-* headers upstream (-want +got):\n%s", diff)
			}
			if got.URI != "/records/42?q=a%20b&x=1" || got.Method != "GET" {
				t.Errorf("upstream request: got %s %s, want GET /records/42?q=a%%20b&x=1", got.Method, got.URI)
			}
			for _, h := range []string{"X-Hop", "Connection"} {
				if v, ok := got.Header[h]; ok {
					t.Errorf("hop-by-hop header %s reached the upstream: %q", h, v)
				}
			}
			if v := got.Header["X-Kept"]; len(v) != 1 || v[0] != "kept" {
				t.Errorf("X-Kept upstream: got %q, want [kept]", v)
			}
			if v := got.Header["X-Forwarded-For"]; len(v) != 1 || v[0] != "127.0.0.1" {
				t.Errorf("X-Forwarded-For upstream: got %q, want [127.0.0.1] (the client sent a spoofed one)", v)
			}
			if v := got.Header["X-Forwarded-Host"]; len(v) != 1 || v[0] != strings.TrimPrefix(gw, "http://") {
				t.Errorf("X-Forwarded-Host upstream: got %q, want the gateway's host", v)
			}
		})
	}
}

func TestDeniedNeverReachUpstream(t *testing.T) {
	as := newAuthServer(t)
	echo, calls := newEcho(t)
	gw := newGateway(t, setup{as: as, upstream: echo.URL, basePath: "/api"})
	for _, tc := range []struct {
		name, method, path, token string
		want                      int
	}{
		{"no token", "GET", "/api/records/1", "", 401},
		{"garbage token", "GET", "/api/records/1", "not.a.jwt", 401},
		{"read-only token writes", "POST", "/api/records", as.token(t, "app", "api:read-only"), 403},
		{"outside the base path", "GET", "/admin", as.token(t, "app", "api"), 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := calls.Load()
			resp, body := do(t, tc.method, gw+tc.path, tc.token, nil, strings.NewReader("{}"))
			if resp.StatusCode != tc.want {
				t.Errorf("status: got %d %s, want %d", resp.StatusCode, body, tc.want)
			}
			if n := calls.Load() - before; n != 0 {
				t.Errorf("upstream called %d times, want 0", n)
			}
		})
	}
	// The base path only selects what is guarded: the upstream sees the
	// same path.
	resp, body := do(t, "GET", gw+"/api/records/1", as.token(t, "app", "api:read-only"), nil, nil)
	var got echoed
	_ = json.Unmarshal(body, &got)
	if resp.StatusCode != 200 || got.URI != "/api/records/1" {
		t.Errorf("allowed call: got %d, upstream path %q; want 200, /api/records/1", resp.StatusCode, got.URI)
	}
}

func TestUpstreamPathPrefix(t *testing.T) {
	as := newAuthServer(t)
	echo, _ := newEcho(t)
	gw := newGateway(t, setup{as: as, upstream: echo.URL + "/v1/"})
	_, body := do(t, "GET", gw+"/records/1", as.token(t, "app", "api"), nil, nil)
	var got echoed
	_ = json.Unmarshal(body, &got)
	if got.URI != "/v1/records/1" {
		t.Errorf("upstream path: got %q, want /v1/records/1", got.URI)
	}
}

func TestUpstreamErrors(t *testing.T) {
	as := newAuthServer(t)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close() // nothing listens there any more

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)

	for _, tc := range []struct {
		name, upstream string
		wantStatus     int
		wantError      string
	}{
		{"upstream down", downURL, 502, "bad_gateway"},
		{"upstream too slow", slow.URL, 504, "gateway_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, setup{as: as, upstream: tc.upstream, timeout: 200 * time.Millisecond})
			start := time.Now()
			resp, body := do(t, "GET", gw+"/records/1", as.token(t, "app", "api"), nil, nil)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status: got %d %s, want %d", resp.StatusCode, body, tc.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", ct)
			}
			var e struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error != tc.wantError {
				t.Errorf("body: got %s, want error %q", body, tc.wantError)
			}
			host := strings.TrimPrefix(tc.upstream, "http://")
			for _, leak := range []string{host, "dial", "refused", "timeout awaiting", "net/http"} {
				if strings.Contains(string(body), leak) {
					t.Errorf("body %s reveals %q", body, leak)
				}
			}
			if d := time.Since(start); tc.wantStatus == 504 && d > 3*time.Second {
				t.Errorf("504 after %s; want about the 200ms upstream timeout", d)
			}
		})
	}
}

func TestStreaming(t *testing.T) {
	as := newAuthServer(t)
	for _, tc := range []struct {
		name   string
		header http.Header
	}{
		{"server-sent events", http.Header{"Content-Type": {"text/event-stream"}}},
		// A known length: httputil holds such a response's bytes unless
		// the proxy has a flush interval.
		{"download of known length", http.Header{"Content-Type": {"application/octet-stream"}, "Content-Length": {"27"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header()[k] = v
				}
				io.WriteString(w, "data: first\n\n")
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
				io.WriteString(w, "data: second\n\n")
			}))
			t.Cleanup(upstream.Close)
			defer close(release)
			gw := newGateway(t, setup{as: as, upstream: upstream.URL})

			// Headers and the first line must arrive while the upstream
			// waits for release.
			tok := as.token(t, "app", "api")
			first := make(chan string, 1)
			go func() {
				req, _ := http.NewRequest("GET", gw+"/events", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					first <- err.Error()
					return
				}
				defer resp.Body.Close()
				line, _ := bufio.NewReader(resp.Body).ReadString('\n')
				first <- line
			}()
			// The upstream has not finished: it waits for release.
			select {
			case line := <-first:
				if line != "data: first\n" {
					t.Errorf("first line: got %q, want %q", line, "data: first\n")
				}
			case <-time.After(3 * time.Second):
				t.Fatal("the first chunk did not arrive while the upstream was still streaming")
			}
		})
	}
}

func TestLargeBodies(t *testing.T) {
	as := newAuthServer(t)
	// The upstream echoes the body and reports its digest.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		var buf bytes.Buffer
		if _, err := io.Copy(io.MultiWriter(h, &buf), r.Body); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("X-Body-Sha256", hex.EncodeToString(h.Sum(nil)))
		io.Copy(w, &buf)
	}))
	t.Cleanup(upstream.Close)
	gw := newGateway(t, setup{as: as, upstream: upstream.URL})

	const size = 16 << 20
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i * 7)
	}
	sum := sha256.Sum256(body)
	want := hex.EncodeToString(sum[:])
	resp, got := do(t, "PUT", gw+"/files/blob", as.token(t, "app", "api"), nil, bytes.NewReader(body))
	if resp.StatusCode != 200 {
		t.Fatalf("status: got %d, want 200", resp.StatusCode)
	}
	if h := resp.Header.Get("X-Body-Sha256"); h != want {
		t.Errorf("upstream received a body with digest %s, want %s", h, want)
	}
	if len(got) != size || !bytes.Equal(got, body) {
		t.Errorf("response body: got %d bytes, want the %d bytes sent", len(got), size)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	as := newAuthServer(t)
	echo, calls := newEcho(t)
	reg := prometheus.NewRegistry()
	gw := newGateway(t, setup{as: as, upstream: echo.URL, registry: reg})

	resp, body := do(t, "GET", gw+"/healthz", "", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("/healthz: got %d %s, want 200 ok", resp.StatusCode, body)
	}

	tok := as.token(t, "app", "api:read-only")
	do(t, "GET", gw+"/records/1", tok, nil, nil)
	do(t, "GET", gw+"/records/2", tok, nil, nil)
	do(t, "DELETE", gw+"/records/2", tok, nil, nil)
	do(t, "GET", gw+"/records/2", "", nil, nil)
	if n := calls.Load(); n != 2 {
		t.Fatalf("upstream calls: got %d, want 2", n)
	}

	// /metrics is an API path like any other: the metrics are served on
	// a listener of their own (the CLI's --metrics-addr) from Registry.
	if resp, _ := do(t, "GET", gw+"/metrics", "", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: got %d, want 401 like any API path", resp.StatusCode)
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`gatehouse_gateway_requests_total{decision="allowed",reason=""} 2`,
		`gatehouse_gateway_requests_total{decision="denied",reason="insufficient_scope"} 1`,
		`gatehouse_gateway_requests_total{decision="denied",reason="missing_token"} 2`,
		`gatehouse_gateway_upstream_duration_seconds_count 2`,
	} {
		if !strings.Contains(rec.Body.String(), want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if calls.Load() != 2 {
		t.Errorf("/healthz or /metrics reached the upstream")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	as := newAuthServer(t)
	for _, raw := range []string{"", "ftp://x", "/relative", "http://user:pw@host", "http://host/#frag"} {
		var u *url.URL
		if raw != "" {
			u, _ = url.Parse(raw)
		}
		_, err := gateway.New(gateway.Config{Upstream: u, Resource: resource.Config{Issuer: as.srv.URL, Audience: as.srv.URL}})
		if err == nil {
			t.Errorf("New with upstream %q: got nil error, want one", raw)
		}
	}
}

// TestUpstreamSeesAuthorizedPath: the upstream gets the cleaned path the
// scope check allowed, never a raw form it might route differently.
func TestUpstreamSeesAuthorizedPath(t *testing.T) {
	as := newAuthServer(t)
	echo, _ := newEcho(t)
	gw := newGateway(t, setup{as: as, upstream: echo.URL})
	tok := as.token(t, "app", "profile")
	for _, tc := range []struct{ in, want string }{
		{"/workers/me", "/workers/me"},
		{"/admin/../workers/me", "/workers/me"},
		{"/workers//./me", "/workers/me"},
		{"/workers/me/", "/workers/me/"},
		{"/workers/%6De", "/workers/me"},
	} {
		req, _ := http.NewRequest("GET", gw, nil)
		req.URL.Opaque = tc.in // send the path bytes exactly as written
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got echoed
		_ = json.Unmarshal(body, &got)
		if resp.StatusCode != 200 || got.URI != tc.want {
			t.Errorf("GET %s: got %d, upstream saw %q; want 200 and %q", tc.in, resp.StatusCode, got.URI, tc.want)
		}
	}
	// A path the scope does not allow stays refused whatever its spelling.
	for _, p := range []string{"/workers/me/../../admin", "/admin", "/workers/me/x"} {
		req, _ := http.NewRequest("GET", gw, nil)
		req.URL.Opaque = p
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 && resp.StatusCode != 400 {
			t.Errorf("GET %s with profile scope: got %d, want 403 or 400", p, resp.StatusCode)
		}
	}
}

// TestRevokedClientRefused: the gateway (through resource) refuses the
// tokens of a client whose tokens the feed revoked until a time, cached or
// not, without calling the upstream; the client's newer tokens and other
// clients' pass.
func TestRevokedClientRefused(t *testing.T) {
	signer := testutil.NewSigner(t, "test-key")
	var (
		mu      sync.Mutex
		revoked []map[string]any
	)
	as := &authServer{signer: signer, srv: testutil.NewIssuerWithFeed(t, signer, func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return revoked
	})}
	echo, calls := newEcho(t)
	reg := prometheus.NewRegistry()
	gw := newGateway(t, setup{as: as, upstream: echo.URL, registry: reg, mod: func(c *gateway.Config) { c.Resource.RevocationPoll = 20 * time.Millisecond }})
	now := time.Now().Unix()
	mint := func(client string, iat int64) string {
		return signer.Sign(t, map[string]any{
			"iss": as.srv.URL, "aud": as.srv.URL, "sub": client, "client_id": client,
			"iat": iat, "nbf": iat, "exp": now + 3600, "jti": rand.Text(), "scope": "api",
		})
	}
	old, sameSecond, next, other := mint("leaky", now-600), mint("leaky", now), mint("leaky", now+1), mint("other", now-600)
	for _, tok := range []string{old, sameSecond, next, other} { // and now cached
		if resp, body := do(t, "GET", gw+"/records/1", tok, nil, nil); resp.StatusCode != 200 {
			t.Fatalf("before the revocation: got %d %s", resp.StatusCode, body)
		}
	}

	// leaky's tokens issued until some time in the second now are revoked.
	mu.Lock()
	revoked = []map[string]any{{"client_id": "leaky", "iat_before": now + 1, "exp": now + 3600}}
	mu.Unlock()
	waitFor(t, 2*time.Second, func() bool {
		resp, _ := do(t, "GET", gw+"/records/1", old, nil, nil)
		return resp.StatusCode == 401
	})
	before := calls.Load()
	for name, tok := range map[string]string{"issued ten minutes before": old, "issued in the same second": sameSecond} {
		resp, body := do(t, "GET", gw+"/records/1", tok, nil, nil)
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error_description="token revoked"`) {
			t.Errorf("%s: got %d %s, WWW-Authenticate %q; want 401 token revoked", name, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if n := calls.Load() - before; n != 0 {
		t.Errorf("upstream called %d times for revoked tokens, want 0", n)
	}
	for name, tok := range map[string]string{"issued the next second": next, "another client's": other, "a new token of the client": mint("leaky", now+2)} {
		if resp, body := do(t, "GET", gw+"/records/1", tok, nil, nil); resp.StatusCode != 200 {
			t.Errorf("%s: got %d %s, want 200", name, resp.StatusCode, body)
		}
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `gatehouse_gateway_requests_total{decision="denied",reason="revoked"}`) {
		t.Errorf("metrics lack the revoked denials:\n%s", rec.Body)
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestProtectedResourceMetadata: with a resource identifier the gateway
// serves its metadata (RFC 9728) without a token and without calling the
// upstream, outside the base path, and names it in every challenge.
func TestProtectedResourceMetadata(t *testing.T) {
	as := newAuthServer(t)
	echo, calls := newEcho(t)
	gw := newGateway(t, setup{as: as, upstream: echo.URL, basePath: "/api", mod: func(c *gateway.Config) {
		c.Resource.Resource = "https://api.example.com/api"
	}})
	const metaURL = "https://api.example.com/.well-known/oauth-protected-resource/api"

	resp, body := do(t, "GET", gw+"/.well-known/oauth-protected-resource/api", "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("metadata: status %d, want 200; body %s", resp.StatusCode, body)
	}
	var doc struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		BearerMethods        []string `json:"bearer_methods_supported"`
		Scopes               []string `json:"scopes_supported"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("metadata %s: %v", body, err)
	}
	if doc.Resource != "https://api.example.com/api" || !cmp.Equal(doc.AuthorizationServers, []string{as.srv.URL}) ||
		!cmp.Equal(doc.BearerMethods, []string{"header"}) || len(doc.Scopes) == 0 {
		t.Errorf("metadata %s: want resource https://api.example.com/api, authorization_servers [%s], bearer_methods_supported [header], scopes", body, as.srv.URL)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("upstream called %d times, want 0", n)
	}

	resp, body = do(t, "GET", gw+"/api/records/1", "", nil, nil)
	want := `Bearer realm="` + as.srv.URL + `", resource_metadata="` + metaURL + `", scope="api:read-only api"`
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || got != want {
		t.Errorf("no token: status %d, WWW-Authenticate %s; want 401, %s (body %s)", resp.StatusCode, got, want, body)
	}
	resp, _ = do(t, "GET", gw+"/api/records/1", "not-a-token", nil, nil)
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(got, `resource_metadata="`+metaURL+`"`) {
		t.Errorf("bad token: status %d, WWW-Authenticate %s; want 401 with resource_metadata", resp.StatusCode, got)
	}
}
