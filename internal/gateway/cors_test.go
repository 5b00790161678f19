package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/resource"
)

const appOrigin = "https://app.example" // configured in the tests below

// corsOf returns a response's Access-Control-* headers and Vary.
func corsOf(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") || k == "Vary" {
			out[k] = strings.Join(v, ", ")
		}
	}
	return out
}

// newCORSGateway starts a gateway in front of up with appOrigin allowed,
// the API under /api, the account header X-Tenant.
func newCORSGateway(t *testing.T, as *authServer, up string) string {
	return newGateway(t, setup{as: as, upstream: up, basePath: "/api", mod: func(c *gateway.Config) {
		c.CORSOrigins = []string{appOrigin}
		c.Resource.AccountHeader = "X-Tenant"
	}})
}

// TestCORSPreflight: the gateway answers preflights itself, without a
// token and without calling the upstream, for the issuer's origin (no
// configuration needed) and the configured ones.
func TestCORSPreflight(t *testing.T) {
	as := newAuthServer(t)
	echo, calls := newEcho(t)
	gw := newCORSGateway(t, as, echo.URL)
	const vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

	for _, tc := range []struct {
		name, origin, method, headers string
		want                          int
	}{
		{"the issuer's origin", as.srv.URL, "GET", "authorization", 204},
		{"a configured origin, JSON and the account", appOrigin, "PATCH", "authorization,content-type,x-tenant", 204},
		{"DELETE", appOrigin, "DELETE", "authorization", 204},
		{"outside the base path (the request will be 404)", appOrigin, "GET", "authorization", 204},
		{"another origin", "https://other.example", "GET", "authorization", 403},
		{"null", "null", "GET", "authorization", 403},
		{"the issuer's host on another port", strings.Replace(as.srv.URL, "127.0.0.1:", "127.0.0.1:1", 1), "GET", "authorization", 403},
		{"a header the API is not known to take", appOrigin, "GET", "authorization,x-debug", 403},
		{"a method not allowed", appOrigin, "TRACE", "", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := calls.Load()
			hdr := http.Header{"Origin": {tc.origin}, "Access-Control-Request-Method": {tc.method}}
			if tc.headers != "" {
				hdr.Set("Access-Control-Request-Headers", tc.headers)
			}
			path := "/api/records/1"
			if strings.HasPrefix(tc.name, "outside") {
				path = "/admin"
			}
			resp, body := do(t, "OPTIONS", gw+path, "", hdr, nil)
			want := map[string]string{"Vary": vary}
			if tc.want == 204 {
				want = map[string]string{
					"Access-Control-Allow-Origin":  tc.origin,
					"Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
					"Access-Control-Allow-Headers": "Authorization, Content-Type, DPoP, X-Tenant",
					"Access-Control-Max-Age":       "7200",
					"Vary":                         vary,
				}
			}
			if resp.StatusCode != tc.want {
				t.Errorf("status: got %d %s, want %d", resp.StatusCode, body, tc.want)
			}
			if diff := cmp.Diff(want, corsOf(resp.Header)); diff != "" {
				t.Errorf("CORS headers (-want +got):\n%s", diff)
			}
			if n := calls.Load() - before; n != 0 {
				t.Errorf("upstream called %d times for a preflight, want 0", n)
			}
		})
	}
}

// TestCORSRefusals: the gateway's own refusals reach a page on an allowed
// origin with the CORS headers, the challenge readable.
func TestCORSRefusals(t *testing.T) {
	as := newAuthServer(t)
	echo, calls := newEcho(t)
	gw := newCORSGateway(t, as, echo.URL)
	readOnly := as.token(t, "app", "api:read-only")
	for _, tc := range []struct {
		name, method, path, token string
		want                      int
		challenge                 string
	}{
		{"no token", "GET", "/api/records/1", "", 401, `Bearer realm=`},
		{"a bad token", "GET", "/api/records/1", "not.a.jwt", 401, `error="invalid_token"`},
		{"insufficient scope", "DELETE", "/api/records/1", readOnly, 403, `error="insufficient_scope"`},
		{"a _method parameter", "GET", "/api/records/1?_method=DELETE", readOnly, 400, ""},
		{"outside the base path", "GET", "/admin", readOnly, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.method, gw+tc.path, tc.token, http.Header{"Origin": {appOrigin}}, nil)
			if resp.StatusCode != tc.want || !strings.Contains(resp.Header.Get("WWW-Authenticate"), tc.challenge) {
				t.Errorf("got %d %q %s, want %d with %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body, tc.want, tc.challenge)
			}
			want := map[string]string{
				"Access-Control-Allow-Origin":   appOrigin,
				"Access-Control-Expose-Headers": "WWW-Authenticate, Retry-After",
				"Vary":                          "Origin",
			}
			if diff := cmp.Diff(want, corsOf(resp.Header)); diff != "" {
				t.Errorf("CORS headers (-want +got):\n%s", diff)
			}
			// From another origin: the same refusal, without them.
			resp, _ = do(t, tc.method, gw+tc.path, tc.token, http.Header{"Origin": {"https://other.example"}}, nil)
			if diff := cmp.Diff(map[string]string{"Vary": "Origin"}, corsOf(resp.Header)); resp.StatusCode != tc.want || diff != "" {
				t.Errorf("from another origin: got %d, CORS headers (-want +got):\n%s", resp.StatusCode, diff)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("upstream called %d times, want 0", n)
	}
}

// TestCORSUpstreamHeaders: the upstream's own Access-Control-* headers are
// removed, so they neither repeat nor contradict the gateway's; its other
// headers, Vary included, pass.
func TestCORSUpstreamHeaders(t *testing.T) {
	as := newAuthServer(t)
	var calls atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Expose-Headers", "X-Internal")
		h["access-control-max-age"] = []string{"1"} // not canonical
		h.Set("Vary", "Accept-Encoding")
		h.Set("X-Api", "kept")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(up.Close)
	gw := newCORSGateway(t, as, up.URL)
	tok := as.token(t, "app", "api")

	resp, _ := do(t, "GET", gw+"/api/records/1", tok, http.Header{"Origin": {appOrigin}}, nil)
	want := map[string]string{
		"Access-Control-Allow-Origin":   appOrigin,
		"Access-Control-Expose-Headers": "WWW-Authenticate, Retry-After",
		"Vary":                          "Origin, Accept-Encoding",
	}
	if diff := cmp.Diff(want, corsOf(resp.Header)); resp.StatusCode != 200 || diff != "" {
		t.Errorf("from %s: got %d, CORS headers (-want +got):\n%s", appOrigin, resp.StatusCode, diff)
	}
	if resp.Header.Get("X-Api") != "kept" {
		t.Errorf("the upstream's X-Api: got %q, want kept", resp.Header.Get("X-Api"))
	}
	// The upstream's "*" does not open the API to an origin the gateway
	// does not allow.
	resp, _ = do(t, "GET", gw+"/api/records/1", tok, http.Header{"Origin": {"https://other.example"}}, nil)
	if diff := cmp.Diff(map[string]string{"Vary": "Origin, Accept-Encoding"}, corsOf(resp.Header)); resp.StatusCode != 200 || diff != "" {
		t.Errorf("from another origin: got %d, CORS headers (-want +got):\n%s", resp.StatusCode, diff)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("upstream calls: got %d, want 2", n)
	}
}

func TestCORSBadOrigins(t *testing.T) {
	as := newAuthServer(t)
	u, _ := url.Parse("http://127.0.0.1:1")
	for _, origins := range [][]string{{"*"}, {"https://*.example"}, {"null"}, {"https://app.example/"}} {
		gw, err := gateway.New(gateway.Config{Upstream: u, CORSOrigins: origins,
			Resource: resource.Config{Issuer: as.srv.URL, Audience: as.srv.URL, RevocationPoll: -1}})
		if err == nil {
			gw.Close()
			t.Errorf("New with CORS origins %q: got nil error, want one", origins)
		}
	}
}
