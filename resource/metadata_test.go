package resource

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/scope"
)

func TestMetadata(t *testing.T) {
	iss := newIssuer(t)
	tests := []struct {
		name, resource, base string
		path                 string // where the document is
		wrong                string // a path where it is not
	}{
		{"with a path", "https://api.example.com/v1", "/v1", "/.well-known/oauth-protected-resource/v1", "/.well-known/oauth-protected-resource"},
		{"without a path", "https://api.example.com", "", "/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/v1"},
		{"root path", "https://api.example.com/", "", "/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/"},
		{"deep path, loopback http", "http://127.0.0.1:8081/a/b", "/a", "/.well-known/oauth-protected-resource/a/b", "/a/.well-known/oauth-protected-resource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, iss, func(c *Config) { c.Resource, c.ResourceName, c.BasePath = tt.resource, "Records API", tt.base })
			u := tt.resource[:strings.Index(tt.resource[8:], "/")+8]
			if !strings.Contains(tt.resource[8:], "/") {
				u = tt.resource
			}
			if got, want := e.guard.MetadataURL(), u+tt.path; got != want {
				t.Errorf("MetadataURL %s, want %s", got, want)
			}
			w := e.do("GET", tt.path, "")
			if w.Code != 200 {
				t.Fatalf("GET %s: status %d, want 200; body %s", tt.path, w.Code, w.Body)
			}
			if got := w.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q, want application/json", got)
			}
			if got := w.Header().Get("Cache-Control"); got != "public, max-age=300" {
				t.Errorf("Cache-Control %q, want public, max-age=300", got)
			}
			var doc map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			var scopes []any
			for _, n := range scope.Default().Names() {
				scopes = append(scopes, n)
			}
			want := map[string]any{
				"resource":                 tt.resource, // RFC 9728 §3.3: exactly the identifier
				"authorization_servers":    []any{iss.URL()},
				"scopes_supported":         scopes,
				"bearer_methods_supported": []any{"header"},
				"resource_name":            "Records API",
			}
			if d := cmp.Diff(want, doc); d != "" {
				t.Errorf("document (-want +got):\n%s", d)
			}
			if len(scopes) == 0 {
				t.Error("the default catalog has no scopes")
			}

			h := e.do("HEAD", tt.path, "")
			if h.Code != 200 || h.Body.Len() != 0 || h.Header().Get("Content-Length") != w.Header().Get("Content-Length") || h.Header().Get("Content-Length") == "" {
				t.Errorf("HEAD: status %d, body %q, Content-Length %q; want 200, empty, %q", h.Code, h.Body, h.Header().Get("Content-Length"), w.Header().Get("Content-Length"))
			}
			if w := e.do("GET", tt.wrong, ""); w.Code == 200 {
				t.Errorf("GET %s: status 200, want a refusal", tt.wrong)
			}
			if w := e.do("POST", tt.path, ""); w.Code == 200 {
				t.Errorf("POST %s: status 200, want a refusal", tt.path)
			}
			if n := len(e.claims); n != 0 {
				t.Errorf("the protected handler ran %d times, want 0", n)
			}
		})
	}
}

func TestNoMetadataWithoutResource(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	if got := e.guard.MetadataURL(); got != "" {
		t.Errorf("MetadataURL %q, want \"\"", got)
	}
	for _, p := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/"} {
		w := e.do("GET", p, "")
		if w.Code != 401 {
			t.Errorf("GET %s: status %d, want 401", p, w.Code)
		}
		if got := w.Header().Get("WWW-Authenticate"); strings.Contains(got, "resource_metadata") {
			t.Errorf("WWW-Authenticate %s has resource_metadata", got)
		}
	}
	w := httptest.NewRecorder()
	e.guard.MetadataHandler().ServeHTTP(w, httptest.NewRequest("GET", "/prm", nil))
	if w.Code != 404 {
		t.Errorf("MetadataHandler: status %d, want 404", w.Code)
	}
}

func TestMetadataHandler(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, func(c *Config) { c.Resource = "https://api.example.com/v1" })
	mux := http.NewServeMux()
	mux.Handle("/meta", e.guard.MetadataHandler())
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/meta", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"resource":"https://api.example.com/v1"`) {
		t.Errorf("GET: status %d, body %s; want 200 naming the resource", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("POST", "/meta", nil))
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: status %d, Allow %q; want 405, GET, HEAD", w.Code, w.Header().Get("Allow"))
	}
}

// Every challenge names the metadata (RFC 9728 §5.1); a 401's also the
// scopes the call needs.
func TestChallengeResourceMetadata(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, func(c *Config) { c.Resource, c.BasePath = "https://api.example.com/v1", "/v1" })
	realm := `Bearer realm="` + iss.URL() + `", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/v1"`
	expired := iss.claims("api")
	expired.IssuedAt = expired.IssuedAt.Add(-2 * time.Hour)
	expired.NotBefore = expired.IssuedAt
	expired.ExpiresAt = expired.IssuedAt.Add(time.Hour)
	wrongAud := iss.claims("api")
	wrongAud.Audience = "https://other.example.com"
	tests := []struct {
		name, method, path, auth string
		status                   int
		want                     string
	}{
		{"no token", "GET", "/v1/records/1", "", 401, realm + `, scope="api:read-only api"`},
		{"no token, write", "POST", "/v1/records", "", 401, realm + `, scope="api"`},
		{"basic scheme", "GET", "/v1/records/1", "Basic Y2xpZW50OnNlY3JldA==", 401, realm + `, scope="api:read-only api"`},
		{"malformed", "GET", "/v1/records/1", "Bearer", 401, realm + `, error="invalid_token", error_description="malformed Authorization header; want: Bearer <token>", scope="api:read-only api"`},
		{"garbage", "GET", "/v1/records/1", "Bearer abc", 401, realm + `, error="invalid_token", error_description=`},
		{"expired", "GET", "/v1/records/1", "Bearer " + iss.mint(expired), 401, realm + `, error="invalid_token", error_description=`},
		{"wrong audience", "GET", "/v1/records/1", "Bearer " + iss.mint(wrongAud), 401, realm + `, error="invalid_token", error_description=`},
		{"insufficient scope", "POST", "/v1/records", "Bearer " + iss.token("search"), 403, realm + `, error="insufficient_scope", scope="api"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h []string
			if tt.auth != "" {
				h = []string{"Authorization", tt.auth}
			}
			w := e.do(tt.method, tt.path, "", h...)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			got := w.Header().Get("WWW-Authenticate")
			if strings.HasSuffix(tt.want, "error_description=") {
				if !strings.HasPrefix(got, tt.want) || (tt.status == 401 && !strings.HasSuffix(got, `, scope="api:read-only api"`)) {
					t.Errorf("WWW-Authenticate\n got %s\nwant %s...\"%s", got, tt.want, `, scope="api:read-only api"`)
				}
				return
			}
			if got != tt.want {
				t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestConfigResource(t *testing.T) {
	ok := Config{Issuer: "https://auth.example.com", Audience: "api", RevocationPoll: -1}
	tests := []struct {
		resource, name string
		want           string // substring of the error; "" for none
	}{
		{"https://api.example.com", "", ""},
		{"https://api.example.com/v1", "Records", ""},
		{"http://localhost:8081/api", "", ""},
		{"http://[::1]:8081", "", ""},
		{"", "Records", "ResourceName is set without Resource"},
		{"http://api.example.com", "", "must be an https URL"},
		{"api.example.com/v1", "", "must be an https URL"},
		{"https:///v1", "", "absolute URL with a host"},
		{"https://u:p@api.example.com", "", "no user information"},
		{"https://api.example.com/v1?x=1", "", "query or fragment"},
		{"https://api.example.com/v1#top", "", "query or fragment"},
		{"https://api.example.com/v\"1", "", "character"},
		{"https://api.example.com/v 1", "", "character"},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			cfg := ok
			cfg.Resource, cfg.ResourceName = tt.resource, tt.name
			g, err := New(cfg)
			if g != nil {
				g.Close()
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("New: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestWellKnownURL(t *testing.T) {
	for _, tt := range []struct{ id, want string }{
		{"https://api.example.com/v1", "https://api.example.com/.well-known/oauth-protected-resource/v1"},
		{"https://api.example.com", "https://api.example.com/.well-known/oauth-protected-resource"},
		{"https://api.example.com/", "https://api.example.com/.well-known/oauth-protected-resource"},
		{"https://api.example.com:8443/a/b%20c", "https://api.example.com:8443/.well-known/oauth-protected-resource/a/b%20c"},
		{"http://api.example.com/v1", ""},
	} {
		got, err := WellKnownURL(tt.id)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("WellKnownURL(%q) = %q, %v; want %q", tt.id, got, err, tt.want)
		}
	}
}
