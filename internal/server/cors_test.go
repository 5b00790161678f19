package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
)

const (
	appOrigin   = "https://app.example" // configured
	otherOrigin = "https://other.example"
)

// corsHarness is a server with the console pages, the authorization
// endpoint and an admin API stand-in mounted, and appOrigin allowed.
func corsHarness(t *testing.T, public ...string) *harness {
	return newHarness(t, harnessOpts{opts: func(o *Options) {
		o.CORSOrigins = []string{appOrigin}
		o.CORSPublicOrigins = public
		o.Console = nopConsole{}
		o.ConsolePages = func(mux *http.ServeMux) {
			mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
		}
		o.AdminAPI = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	}})
}

func (h *harness) request(method, path string, header map[string]string, body string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.http.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return h.do(req)
}

func (h *harness) preflight(path, origin, method, headers string) response {
	h.t.Helper()
	hdr := map[string]string{"Origin": origin, "Access-Control-Request-Method": method}
	if headers != "" {
		hdr["Access-Control-Request-Headers"] = headers
	}
	return h.request("OPTIONS", path, hdr, "")
}

// corsOf returns a response's Access-Control-* headers and Vary.
func corsOf(r response) map[string]string {
	out := map[string]string{}
	for k, v := range r.header {
		if strings.HasPrefix(k, "Access-Control-") || k == "Vary" {
			out[k] = strings.Join(v, ", ")
		}
	}
	return out
}

// TestCORSRoutes: the token endpoint (and its alias), the revocation feed,
// the metadata and the JWKS answer preflights from an allowed origin and
// add the CORS headers to its requests; nothing else does.
func TestCORSRoutes(t *testing.T) {
	h := corsHarness(t)
	const preflightVary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
	tokenExpose := "WWW-Authenticate, Retry-After, DPoP-Nonce"
	for _, tc := range []struct {
		path, method, askHeaders string
		wantMethods, wantHeaders string
		expose                   string
		body                     string
	}{
		{PathToken, "POST", "authorization", "POST", "Authorization, Content-Type, DPoP", tokenExpose, "grant_type=client_credentials"},
		{"/oauth/v2/token", "POST", "authorization,content-type", "POST", "Authorization, Content-Type, DPoP", tokenExpose, "grant_type=client_credentials"},
		{PathRevocations, "GET", "authorization", "GET, HEAD", "Authorization", "WWW-Authenticate, Retry-After", ""},
		{PathMetadata, "GET", "", "GET, HEAD", "", "", ""},
		{PathJWKS, "GET", "", "GET, HEAD", "", "", ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := h.preflight(tc.path, appOrigin, tc.method, tc.askHeaders)
			want := map[string]string{
				"Access-Control-Allow-Origin":  appOrigin,
				"Access-Control-Allow-Methods": tc.wantMethods,
				"Access-Control-Max-Age":       "7200",
				"Vary":                         preflightVary,
			}
			if tc.wantHeaders != "" {
				want["Access-Control-Allow-Headers"] = tc.wantHeaders
			}
			if r.status != http.StatusNoContent {
				t.Errorf("preflight: got %d %s, want 204", r.status, r.body)
			}
			if diff := cmp.Diff(want, corsOf(r)); diff != "" {
				t.Errorf("preflight CORS headers (-want +got):\n%s", diff)
			}

			for _, bad := range []struct{ what, origin, method, headers string }{
				{"another origin", otherOrigin, tc.method, tc.askHeaders},
				{"null", "null", tc.method, tc.askHeaders},
				{"another method", appOrigin, "DELETE", tc.askHeaders},
				{"a header not allowed", appOrigin, tc.method, "x-debug"},
			} {
				r := h.preflight(tc.path, bad.origin, bad.method, bad.headers)
				if diff := cmp.Diff(map[string]string{"Vary": preflightVary}, corsOf(r)); r.status != http.StatusForbidden || diff != "" {
					t.Errorf("preflight with %s: got %d, CORS headers (-want +got):\n%s; want 403 and none", bad.what, r.status, diff)
				}
			}

			// The request itself: the route answers (here, an error for
			// the token endpoint without credentials, 200 otherwise),
			// with the CORS headers for appOrigin only.
			actual := func(origin string) response {
				hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
				if origin != "" {
					hdr["Origin"] = origin
				}
				return h.request(tc.method, tc.path, hdr, tc.body)
			}
			want = map[string]string{"Access-Control-Allow-Origin": appOrigin, "Vary": "Origin"}
			if tc.expose != "" {
				want["Access-Control-Expose-Headers"] = tc.expose
			}
			r = actual(appOrigin)
			if diff := cmp.Diff(want, corsOf(r)); diff != "" {
				t.Errorf("%s from %s (%d): CORS headers (-want +got):\n%s", tc.method, appOrigin, r.status, diff)
			}
			for _, o := range []string{otherOrigin, "null", ""} {
				r := actual(o)
				if diff := cmp.Diff(map[string]string{"Vary": "Origin"}, corsOf(r)); diff != "" {
					t.Errorf("%s from %q (%d): CORS headers (-want +got):\n%s", tc.method, o, r.status, diff)
				}
			}
		})
	}

	// The console, the admin API, the authorization endpoint and the
	// endpoints only servers call are not CORS-enabled: no preflight is
	// answered, and no response varies on Origin.
	for _, path := range []string{"/console/", "/console/apps", PathAdminAPI + "clients", PathAuthorize, PathIntrospect, PathRevoke, "/healthz", "/readyz", "/"} {
		r := h.preflight(path, appOrigin, "GET", "authorization")
		if r.status == http.StatusNoContent || len(corsOf(r)) != 0 {
			t.Errorf("preflight to %s: got %d with %v; want no CORS answer", path, r.status, corsOf(r))
		}
		for _, m := range []string{"GET", "POST"} {
			r := h.request(m, path, map[string]string{"Origin": appOrigin}, "")
			if len(corsOf(r)) != 0 {
				t.Errorf("%s %s from %s: got CORS headers %v, want none", m, path, appOrigin, corsOf(r))
			}
		}
	}
}

// TestCORSTokenEndpointProtections: a cross-origin token request is the
// same request: client authentication and its rate limit apply, and a page
// on an allowed origin can read the refusal, its challenge and Retry-After.
func TestCORSTokenEndpointProtections(t *testing.T) {
	h := newHarness(t, harnessOpts{opts: func(o *Options) {
		o.CORSOrigins = []string{appOrigin}
		o.FailuresPerClient, o.FailuresPerAddress, o.FailureBurst = 2, -1, 2
	}})
	id, secret := h.client(clients.Spec{Scopes: []string{"api"}, GrantTypes: []string{store.GrantClientCredentials}})
	tokenFrom := func(origin, secret string) response {
		return h.request("POST", PathToken, map[string]string{
			"Origin": origin, "Authorization": basic(id, secret), "Content-Type": "application/x-www-form-urlencoded",
		}, "grant_type=client_credentials")
	}
	allowedHeaders := func(t *testing.T, r response) {
		t.Helper()
		if got := r.header.Get("Access-Control-Allow-Origin"); got != appOrigin {
			t.Errorf("Access-Control-Allow-Origin: got %q, want %q", got, appOrigin)
		}
		if got := r.header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "WWW-Authenticate") || !strings.Contains(got, "Retry-After") {
			t.Errorf("Access-Control-Expose-Headers: got %q, want WWW-Authenticate and Retry-After", got)
		}
	}

	r := tokenFrom(appOrigin, secret)
	if r.status != 200 || r.json["access_token"] == nil {
		t.Fatalf("token from %s: got %d %s, want 200", appOrigin, r.status, r.body)
	}
	allowedHeaders(t, r)

	// From an origin that is not allowed the server does what it always
	// does (the browser, not the server, keeps the answer from the page).
	if r := tokenFrom(otherOrigin, secret); r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("token from %s: got %d with Access-Control-Allow-Origin %q; want 200 without it", otherOrigin, r.status, r.header.Get("Access-Control-Allow-Origin"))
	}

	for i := range 2 {
		r := tokenFrom(appOrigin, "wrong")
		wantError(t, r, 401, "invalid_client")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("failure %d: WWW-Authenticate: got %q, want a Basic challenge", i, r.header.Get("WWW-Authenticate"))
		}
		allowedHeaders(t, r)
	}
	r = tokenFrom(appOrigin, secret) // right, but over the limit
	wantError(t, r, 429, "invalid_request")
	if r.header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
	allowedHeaders(t, r)
}

// TestCORSPublicOrigins: "*" opens the metadata and the JWKS to every
// origin, and nothing else.
func TestCORSPublicOrigins(t *testing.T) {
	h := corsHarness(t, "*")
	for _, path := range []string{PathMetadata, PathJWKS} {
		for _, o := range []string{otherOrigin, "null", appOrigin, ""} {
			r := h.request("GET", path, map[string]string{"Origin": o}, "")
			if diff := cmp.Diff(map[string]string{"Access-Control-Allow-Origin": "*"}, corsOf(r)); r.status != 200 || diff != "" {
				t.Errorf("GET %s from %q: got %d, CORS headers (-want +got):\n%s", path, o, r.status, diff)
			}
		}
	}
	for _, path := range []string{PathToken, PathRevocations} {
		if r := h.preflight(path, otherOrigin, "POST", ""); r.status != http.StatusForbidden || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight to %s from %s: got %d %v, want 403 without CORS headers", path, otherOrigin, r.status, corsOf(r))
		}
	}
}

func TestCORSOptionsRefused(t *testing.T) {
	for name, o := range map[string]Options{
		"star for the token endpoint": {CORSOrigins: []string{"*"}},
		"a wildcard host":             {CORSOrigins: []string{"https://*.example"}},
		"null":                        {CORSPublicOrigins: []string{"null"}},
	} {
		if _, err := newCORS(o); err == nil {
			t.Errorf("%s: got no error, want one", name)
		}
	}
	// Through New as well.
	h := newHarness(t)
	o := Options{Store: h.st, Keys: h.keys, Catalog: h.srv.catalog, Issuer: "http://issuer.test",
		DefaultTTL: 1, MaxTTL: 1, RefreshIdleTTL: 1, RefreshAbsoluteTTL: 1, CORSOrigins: []string{"*"}}
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), "exact origins") {
		t.Errorf("New with CORSOrigins [*]: got %v, want an error about exact origins", err)
	}
}
