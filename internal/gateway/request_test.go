package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/gateway"
)

// cgiName is a header name as CGI-style servers (WSGI, Rack, PHP) see it.
func cgiName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		case 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
			return r
		}
		return '_'
	}, name)
}

// cgiHeaders is what a CGI-style upstream would make of the headers it
// received: one value per name, the last one read winning where spellings
// collide, so a collision shows as a repeated value list.
func cgiHeaders(h map[string][]string, names ...string) map[string][]string {
	got := map[string][]string{}
	for k, v := range h {
		for _, n := range names {
			if cgiName(k) == cgiName(n) {
				got[cgiName(k)] = append(got[cgiName(k)], v...)
			}
		}
	}
	return got
}

// sendRaw sends a request with the path bytes exactly as written and the
// header names exactly as given.
func sendRaw(t *testing.T, method, base, path, token string, header map[string][]string) (int, string, *echoed) {
	t.Helper()
	req, err := http.NewRequest(method, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	if path != "" {
		req.URL.Opaque = path
		if i := strings.IndexByte(path, '?'); i >= 0 {
			req.URL.Opaque, req.URL.RawQuery = path[:i], path[i+1:]
		}
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
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return resp.StatusCode, string(b), nil
	}
	var got echoed
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("upstream answer %s: %v", b, err)
	}
	return resp.StatusCode, string(b), &got
}

// TestAccountHeaderSpellings: with an account-restricted token, a
// CGI-style upstream sees exactly the token's account, however the caller
// spells the account header, and Connection cannot remove the gateway's.
func TestAccountHeaderSpellings(t *testing.T) {
	as := newAuthServer(t)
	echo, calls := newEcho(t)
	gw := newGateway(t, setup{as: as, upstream: echo.URL})
	acme := as.token(t, "app", "api account:acme")
	unrestricted := as.token(t, "app", "api")

	for _, tc := range []struct {
		name   string
		token  string
		header map[string][]string
		want   map[string][]string // CGI names of the account headers upstream
	}{
		{"no account header", acme, nil,
			map[string][]string{"X_ACCOUNT": {"acme"}, "X_GATEHOUSE_ACCOUNT": {"acme"}}},
		{"underscore spelling", acme, map[string][]string{"X_Account": {"globex"}},
			map[string][]string{"X_ACCOUNT": {"acme"}, "X_GATEHOUSE_ACCOUNT": {"acme"}}},
		{"lower-case underscore spelling", acme, map[string][]string{"x_account": {"globex"}},
			map[string][]string{"X_ACCOUNT": {"acme"}, "X_GATEHOUSE_ACCOUNT": {"acme"}}},
		{"dot spelling", acme, map[string][]string{"X.Account": {"globex"}},
			map[string][]string{"X_ACCOUNT": {"acme"}, "X_GATEHOUSE_ACCOUNT": {"acme"}}},
		{"both spellings", acme, map[string][]string{"X-Account": {"acme"}, "X_Account": {"globex"}},
			map[string][]string{"X_ACCOUNT": {"acme"}, "X_GATEHOUSE_ACCOUNT": {"acme"}}},
		{"unrestricted token keeps its account header", unrestricted,
			map[string][]string{"X-Account": {"globex"}, "X_Account": {"initech"}, "X_Gatehouse_Account": {"initech"}},
			map[string][]string{"X_ACCOUNT": {"globex"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, got := sendRaw(t, "GET", gw, "/records/1", tc.token, tc.header)
			if code != 200 {
				t.Fatalf("status: got %d %s, want 200", code, body)
			}
			if diff := cmp.Diff(tc.want, cgiHeaders(got.Header, "X-Account", "X-Gatehouse-Account")); diff != "" {
				t.Errorf("account headers upstream, by CGI name (-want +got):\n%s", diff)
			}
		})
	}

	// A Connection header naming a header the gateway sets would make a
	// proxy drop the gateway's value: refused, in any spelling.
	before := calls.Load()
	for _, conn := range []string{"X-Account", "x_account", "close, X-Account", "X-Gatehouse-Account", "x_gatehouse_scope"} {
		t.Run("Connection: "+conn, func(t *testing.T) {
			code, body, _ := sendRaw(t, "GET", gw, "/records/1", acme,
				map[string][]string{"Connection": {conn}, "X_Account": {"globex"}})
			if code != 400 || !strings.Contains(body, `"error":"invalid_request"`) {
				t.Errorf("got %d %s, want 400 invalid_request", code, body)
			}
		})
	}
	if n := calls.Load() - before; n != 0 {
		t.Errorf("upstream called %d times for refused requests, want 0", n)
	}
}

// TestEncodedSeparators: paths that servers decode differently are refused
// unless the gateway allows encoded slashes, and then passed on as "%2F".
func TestEncodedSeparators(t *testing.T) {
	as := newAuthServer(t)
	echo, calls := newEcho(t)
	search := as.token(t, "app", "search")
	api := as.token(t, "app", "api")

	t.Run("refused by default", func(t *testing.T) {
		gw := newGateway(t, setup{as: as, upstream: echo.URL})
		before := calls.Load()
		for _, tc := range []struct{ path, token string }{
			{"/records/x%2Fadmin/search", search},
			{"/records/x%2fadmin/search", search},
			{"/records/x%5Cadmin/search", search},
			{"/records/x%5cadmin", api},
			{"/records/%2e%2e/admin", api},
			{"/records/x/.%2E/admin", api},
			{"/records/%2E/1", api},
			{"/records/x%252Fadmin/search", search},
		} {
			code, body, _ := sendRaw(t, "GET", gw, tc.path, tc.token, nil)
			if code != 400 || !strings.Contains(body, `"error":"invalid_request"`) {
				t.Errorf("GET %s: got %d %s, want 400 invalid_request", tc.path, code, body)
			}
		}
		if n := calls.Load() - before; n != 0 {
			t.Errorf("upstream called %d times for refused paths, want 0", n)
		}
		// A "%" that is not double encoding passes.
		if code, body, got := sendRaw(t, "GET", gw, "/records/100%25", api, nil); code != 200 || got.URI != "/records/100%25" {
			t.Errorf("GET /records/100%%25: got %d %s, want 200 and the same path upstream", code, body)
		}
	})

	t.Run("allowed", func(t *testing.T) {
		allow := func(c *gateway.Config) { c.Resource.AllowEncodedSlashes = true }
		gw := newGateway(t, setup{as: as, upstream: echo.URL, mod: allow})
		for _, tc := range []struct{ path, token, want string }{
			{"/records/x%2Fadmin/search", search, "/records/x%2Fadmin/search"},
			{"/records/x%2fadmin/search", search, "/records/x%2Fadmin/search"},
			{"/records/a%2Fb%2F", api, "/records/a%2Fb%2F"},
		} {
			code, body, got := sendRaw(t, "GET", gw, tc.path, tc.token, nil)
			if code != 200 || got.URI != tc.want {
				t.Errorf("GET %s: got %d %s, want 200 and %s upstream", tc.path, code, body, tc.want)
			}
		}
		// "%2F" is inside one segment: search does not allow records/x/admin.
		if code, body, _ := sendRaw(t, "GET", gw, "/records/x%2Fadmin", search, nil); code != 403 {
			t.Errorf("GET /records/x%%2Fadmin with search: got %d %s, want 403", code, body)
		}
		for _, p := range []string{"/records/x%2F..%2Fadmin", "/records/x%5Cadmin", "/records/%2e%2e/x", "/records/x%252F"} {
			if code, body, _ := sendRaw(t, "GET", gw, p, api, nil); code != 400 {
				t.Errorf("GET %s: got %d %s, want 400", p, code, body)
			}
		}
		// Under an upstream path.
		gw = newGateway(t, setup{as: as, upstream: echo.URL + "/v1/", mod: allow})
		if code, body, got := sendRaw(t, "GET", gw, "/records/x%2Fadmin/search", search, nil); code != 200 || got.URI != "/v1/records/x%2Fadmin/search" {
			t.Errorf("GET /records/x%%2Fadmin/search under /v1/: got %d %s, want 200 and /v1/records/x%%2Fadmin/search", code, body)
		}
	})
}

// TestMethodOverride: a GET-only token cannot reach another method through
// override headers or a _method parameter.
func TestMethodOverride(t *testing.T) {
	as := newAuthServer(t)
	echo, calls := newEcho(t)
	readOnly := as.token(t, "app", "api:read-only")
	api := as.token(t, "app", "api")
	overrides := []string{"X-HTTP-Method-Override", "X-Method-Override", "X-HTTP-Method"}

	t.Run("headers never reach the upstream", func(t *testing.T) {
		gw := newGateway(t, setup{as: as, upstream: echo.URL})
		code, body, got := sendRaw(t, "GET", gw, "/records/1", readOnly, map[string][]string{
			"X-HTTP-Method-Override": {"DELETE"}, "X-Method-Override": {"DELETE"}, "X-HTTP-Method": {"DELETE"},
			"X_HTTP_Method_Override": {"DELETE"}, "x-method_override": {"DELETE"},
		})
		if code != 200 {
			t.Fatalf("got %d %s, want 200", code, body)
		}
		if h := cgiHeaders(got.Header, overrides...); len(h) != 0 {
			t.Errorf("override headers upstream: got %q, want none", h)
		}
	})

	t.Run("_method refused by default", func(t *testing.T) {
		gw := newGateway(t, setup{as: as, upstream: echo.URL})
		before := calls.Load()
		for _, q := range []string{"_method=DELETE", "a=1&_method=DELETE", "%5Fmethod=DELETE", "_METHOD=delete",
			".method=DELETE", "+_method=DELETE", "_method[]=DELETE", "a=1;_method=DELETE", "_method"} {
			code, body, _ := sendRaw(t, "GET", gw, "/records/1?"+q, readOnly, nil)
			if code != 400 || !strings.Contains(body, `"error":"invalid_request"`) {
				t.Errorf("GET /records/1?%s: got %d %s, want 400 invalid_request", q, code, body)
			}
		}
		if n := calls.Load() - before; n != 0 {
			t.Errorf("upstream called %d times, want 0", n)
		}
		if code, body, _ := sendRaw(t, "GET", gw, "/records/1?x_method=DELETE&method=DELETE", readOnly, nil); code != 200 {
			t.Errorf("other parameters: got %d %s, want 200", code, body)
		}
	})

	t.Run("_method allowed: checked as both methods", func(t *testing.T) {
		gw := newGateway(t, setup{as: as, upstream: echo.URL, mod: func(c *gateway.Config) { c.AllowMethodOverrideParam = true }})
		for _, tc := range []struct {
			method, path, token string
			want                int
		}{
			{"GET", "/records/1?_method=GET", readOnly, 200},
			{"GET", "/records/1?_method=head", readOnly, 200},
			{"GET", "/records/1?_method=DELETE", readOnly, 403},
			{"GET", "/records/1?_method=delete", readOnly, 403},
			{"POST", "/records/1?%5Fmethod=DELETE", readOnly, 403},
			{"POST", "/records/1?_method=DELETE", api, 200},
			{"POST", "/records/1?_method=DELETE&_method=PUT", api, 400},
			{"POST", "/records/1?_method=DELETE&.method=PUT", api, 400},
			{"POST", "/records/1?_method=DE%20LETE", api, 400},
		} {
			code, body, got := sendRaw(t, tc.method, gw, tc.path, tc.token, map[string][]string{"X-HTTP-Method-Override": {"PATCH"}})
			if code != tc.want {
				t.Errorf("%s %s: got %d %s, want %d", tc.method, tc.path, code, body, tc.want)
				continue
			}
			if got == nil {
				continue
			}
			if got.URI != tc.path {
				t.Errorf("%s %s: upstream saw %s, want the query unchanged", tc.method, tc.path, got.URI)
			}
			if h := cgiHeaders(got.Header, overrides...); len(h) != 0 {
				t.Errorf("override headers upstream: got %q, want none", h)
			}
		}
	})
}
