package docs_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/docs"
)

const issuer = "https://auth.example.com"

// yaml30 is a 3.0 document in YAML: an oauth2 scheme with the implicit
// and authorization code flows at another server, a second scheme that is
// not oauth2, servers at the top, on a path and on an operation, and an
// anchor.
const yaml30 = `openapi: 3.0.3
info:
  title: Shop API
  version: "1"
servers:
  - url: https://api.shop.example/v1
paths:
  /orders:
    servers:
      - url: https://eu.shop.example/v1
    get:
      security: [{oauth: [orders:read]}]
      responses:
        "200": &ok {description: fine}
  /customers:
    post:
      servers: [{url: https://other.shop.example/v1}]
      security: [{oauth: [orders:write]}]
      responses:
        "201": *ok
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows:
        implicit:
          authorizationUrl: https://login.shop.example/authorize
          scopes: {orders:read: Read orders}
        authorizationCode:
          authorizationUrl: https://login.shop.example/authorize
          tokenUrl: https://login.shop.example/token
          scopes:
            orders:read: Read orders
            orders:write: Change orders
    key:
      type: apiKey
      in: header
      name: X-Key
`

// json31 is a 3.1 document in JSON: an oauth2 scheme with the password
// flow only, a 3.1 type list, paths out of alphabetical order, no servers.
const json31 = `{
  "openapi": "3.1.0",
  "info": {"title": "Files API", "version": "2"},
  "paths": {
    "/zebra": {"get": {"security": [{"gh": ["files:read"]}], "responses": {"200": {"description": "z"}}}},
    "/apple": {"get": {"security": [{"gh": ["files:read"]}], "responses": {"200": {"description": "a",
      "content": {"application/json": {"schema": {"type": ["string", "null"], "maximum": 1.5e3}}}}}}}
  },
  "components": {"securitySchemes": {"gh": {"type": "oauth2", "flows": {
    "password": {"tokenUrl": "https://elsewhere.example/token", "scopes": {"files:read": "Read files"}}
  }}}}
}`

func get(t *testing.T, h http.Handler, target string) *http.Response {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
	return w.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newHandler(t *testing.T, opts docs.Options) http.Handler {
	t.Helper()
	d, err := docs.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d.Handler()
}

func TestDocument(t *testing.T) {
	for _, tc := range []struct {
		name, doc, serverURL string
		want                 string // the document served, JSON
	}{
		{
			name: "3.0 YAML through the gateway", doc: yaml30, serverURL: "https://gw.example.com/v1/",
			want: `{
  "openapi": "3.0.3",
  "info": {"title": "Shop API", "version": "1"},
  "servers": [{"url": "https://gw.example.com/v1", "description": "through the Gatehouse gateway"}],
  "paths": {
    "/orders": {
      "servers": [{"url": "https://gw.example.com/v1", "description": "through the Gatehouse gateway"}],
      "get": {"security": [{"oauth": ["orders:read"]}], "responses": {"200": {"description": "fine"}}}
    },
    "/customers": {
      "post": {
        "servers": [{"url": "https://gw.example.com/v1", "description": "through the Gatehouse gateway"}],
        "security": [{"oauth": ["orders:write"]}], "responses": {"201": {"description": "fine"}}
      }
    }
  },
  "components": {"securitySchemes": {
    "oauth": {"type": "oauth2", "flows": {
      "authorizationCode": {
        "authorizationUrl": "https://auth.example.com/oauth/authorize",
        "tokenUrl": "https://auth.example.com/oauth/token",
        "refreshUrl": "https://auth.example.com/oauth/token",
        "scopes": {"orders:read": "Read orders", "orders:write": "Change orders"}
      }
    }},
    "key": {"type": "apiKey", "in": "header", "name": "X-Key"}
  }}
}`,
		},
		{
			name: "3.1 JSON with its own servers", doc: json31,
			want: `{
  "openapi": "3.1.0",
  "info": {"title": "Files API", "version": "2"},
  "paths": {
    "/zebra": {"get": {"security": [{"gh": ["files:read"]}], "responses": {"200": {"description": "z"}}}},
    "/apple": {"get": {"security": [{"gh": ["files:read"]}], "responses": {"200": {"description": "a",
      "content": {"application/json": {"schema": {"type": ["string", "null"], "maximum": 1.5e3}}}}}}}
  },
  "components": {"securitySchemes": {"gh": {"type": "oauth2", "flows": {
    "clientCredentials": {
      "tokenUrl": "https://auth.example.com/oauth/token",
      "scopes": {"files:read": "Read files"},
      "refreshUrl": "https://auth.example.com/oauth/token"
    }
  }}}}
}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHandler(t, docs.Options{Document: []byte(tc.doc), Issuer: issuer + "/", ServerURL: tc.serverURL})
			res := get(t, h, "/docs/openapi.json")
			got := body(t, res)
			if res.StatusCode != 200 {
				t.Fatalf("status: got %d, want 200: %s", res.StatusCode, got)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", ct)
			}
			var gotV, wantV any
			if err := json.Unmarshal([]byte(got), &gotV); err != nil {
				t.Fatalf("not JSON: %v: %s", err, got)
			}
			if err := json.Unmarshal([]byte(tc.want), &wantV); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantV, gotV); diff != "" {
				t.Errorf("document (-want +got):\n%s", diff)
			}
			// The document's order is kept: the reference lists the
			// operations as the document does.
			keys := regexp.MustCompile(`"(/[a-z]+)":`).FindAllStringSubmatch(got, -1)
			var paths []string
			for _, k := range keys {
				paths = append(paths, k[1])
			}
			var wantPaths []string
			for _, k := range regexp.MustCompile(`"(/[a-z]+)":`).FindAllStringSubmatch(tc.want, -1) {
				wantPaths = append(wantPaths, k[1])
			}
			if diff := cmp.Diff(wantPaths, paths); diff != "" {
				t.Errorf("order of paths (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPage(t *testing.T) {
	h := newHandler(t, docs.Options{Document: []byte(yaml30), Issuer: issuer, ServerURL: "https://gw.example.com/v1"})
	res := get(t, h, "/docs?client_id=abc")
	page := body(t, res)
	if res.StatusCode != 200 {
		t.Fatalf("status: got %d, want 200", res.StatusCode)
	}
	wantHeaders := map[string]string{
		"Content-Type": "text/html; charset=utf-8",
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
			"font-src 'self'; connect-src 'self' https://gw.example.com; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
	}
	for k, want := range wantHeaders {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	if strings.Contains(page, "<script>") || regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(page) {
		t.Errorf("the page has an inline script:\n%s", page)
	}
	for _, want := range []string{
		`<title>Shop API · API reference</title>`,
		`data-spec-url="/docs/openapi.json"`,
		`data-redirect-url="https://auth.example.com/docs/oauth2-redirect.html"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}

	// Every asset the page names is served, with its type, for a year.
	srcs := regexp.MustCompile(`(?:src|href)="(/docs/assets/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(srcs) != 4 {
		t.Fatalf("assets of the page: got %d, want 4 (2 scripts, 2 style sheets):\n%s", len(srcs), page)
	}
	for _, m := range srcs {
		res := get(t, h, m[1])
		want := "text/javascript; charset=utf-8"
		if strings.HasSuffix(m[1], ".css") {
			want = "text/css; charset=utf-8"
		}
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != want ||
			res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: got %d %v, want 200, %s, cached for a year, nosniff", m[1], res.StatusCode, res.Header, want)
		}
		if n := len(body(t, res)); n < 100 {
			t.Errorf("GET %s: %d bytes", m[1], n)
		}
		// Another digest is another version: not this one.
		other := regexp.MustCompile(`/assets/[0-9a-f]+/`).ReplaceAllString(m[1], "/assets/0000000000000000/")
		if res := get(t, h, other); res.StatusCode != 404 {
			t.Errorf("GET %s: got %d, want 404", other, res.StatusCode)
		}
	}
	for _, target := range []string{"/docs/assets/x", "/docs/nothing", "/docs/swagger-ui-bundle.js.map"} {
		if res := get(t, h, target); res.StatusCode != 404 {
			t.Errorf("GET %s: got %d, want 404", target, res.StatusCode)
		}
	}
}

func TestRedirectPage(t *testing.T) {
	h := newHandler(t, docs.Options{Document: []byte(json31), Issuer: issuer})
	res := get(t, h, "/docs/oauth2-redirect.html?code=secret-code&state=x")
	page := body(t, res)
	for k, want := range map[string]string{
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	m := regexp.MustCompile(`<script src="(/docs/assets/[0-9a-f]+/oauth2-redirect\.js)"></script>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the redirect page does not load its script from the assets:\n%s", page)
	}
	if res := get(t, h, m[1]); res.StatusCode != 200 || !strings.Contains(body(t, res), "swaggerUIRedirectOauth2") {
		t.Errorf("GET %s: got %d, want Swagger UI's redirect script", m[1], res.StatusCode)
	}
}

// TestCSPServers: with the document's own servers, the page may call
// those (a relative one is the page's own origin; one with variables
// cannot be named ahead of time).
func TestCSPServers(t *testing.T) {
	doc := strings.Replace(yaml30, "servers:\n  - url: https://api.shop.example/v1\n",
		"servers:\n  - url: https://api.shop.example/v1\n  - url: /v1\n  - url: https://{region}.shop.example/v1\n  - url: http://localhost:3000/v1\n", 1)
	h := newHandler(t, docs.Options{Document: []byte(doc), Issuer: issuer})
	csp := get(t, h, "/docs").Header.Get("Content-Security-Policy")
	if want := "connect-src 'self' https://api.shop.example http://localhost:3000;"; !strings.Contains(csp, want) {
		t.Errorf("Content-Security-Policy: got %q, want it to contain %q", csp, want)
	}
	var d struct {
		Servers []struct{ URL string }
	}
	if err := json.Unmarshal([]byte(body(t, get(t, h, "/docs/openapi.json"))), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Servers) != 4 || d.Servers[0].URL != "https://api.shop.example/v1" {
		t.Errorf("servers: got %+v, want the document's 4", d.Servers)
	}
}

func TestNotConfigured(t *testing.T) {
	h := newHandler(t, docs.Options{Issuer: issuer})
	for _, target := range []string{"/docs", "/docs/openapi.json", "/docs/oauth2-redirect.html"} {
		res := get(t, h, target)
		page := body(t, res)
		if res.StatusCode != 404 || !strings.Contains(page, "api.openapi") || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("GET %s: got %d %q, want 404 with a page that names api.openapi", target, res.StatusCode, page)
		}
	}
}

func TestBadDocument(t *testing.T) {
	for _, doc := range []string{"[1, 2]", "a: [", "a: &x {b: 1}\n<<: *x\n"} {
		if _, err := docs.New(docs.Options{Document: []byte(doc), Issuer: issuer}); err == nil {
			t.Errorf("New(%q): got no error", doc)
		}
	}
}

func TestMethods(t *testing.T) {
	h := newHandler(t, docs.Options{Document: []byte(json31), Issuer: issuer})
	for _, target := range []string{"/docs", "/docs/openapi.json"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", target, nil))
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: got %d, want 405", target, w.Code)
		}
	}
}
