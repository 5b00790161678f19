package resource

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/scope"
)

// shopCatalog is a catalog as an OpenAPI document derives it: AND and OR
// requirements, a concrete path beside a template, a public operation and
// one any token may call.
func shopCatalog(t *testing.T) *scope.Catalog {
	t.Helper()
	c, err := scope.New(scope.Definition{
		Scopes: []scope.Scope{
			{Name: "orders:read", Label: "Read orders"},
			{Name: "orders:write", Label: "Change orders"},
			{Name: "customers:read", Label: "Read customers"},
			{Name: "admin", Label: "Administer"},
		},
		Rules: []scope.Rule{
			{Pattern: "orders/{id}", Methods: []string{"GET"}, Scopes: []string{"orders:read"}},
			{Pattern: "orders/{id}", Methods: []string{"DELETE"}, Scopes: []string{"orders:write", "admin"}},
			{Pattern: "orders/{id}", Methods: []string{"PATCH"}, Scopes: []string{"orders:write"}},
			{Pattern: "orders/{id}", Methods: []string{"PATCH"}, Scopes: []string{"admin"}},
			{Pattern: "orders/mine", Methods: []string{"GET"}, Scopes: []string{"customers:read"}},
			{Pattern: "orders/{id}/items/{item}", Methods: []string{"GET"}, Scopes: []string{"orders:read", "customers:read"}},
			{Pattern: "orders/{id}/items/{item}", Methods: []string{"GET"}, Scopes: []string{"admin", "customers:read"}},
			{Pattern: "status", Methods: []string{"GET"}, Public: true},
			{Pattern: "me", Methods: []string{"GET"}, Scopes: []string{}},
		},
		MostSpecific: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAndOrRequirements(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, func(c *Config) { c.Catalog = shopCatalog(t); c.BasePath = "/v1" })
	tests := []struct {
		scope, method, path string
		want                int
		wantScope           string // scope="..." of a 403
		wantDesc            string
	}{
		{"orders:read", "GET", "/v1/orders/7", 200, "", ""},
		{"admin", "GET", "/v1/orders/7", 403, "orders:read", "one of the scopes: orders:read"},
		// AND: both scopes, and the 403 names both.
		{"orders:write admin", "DELETE", "/v1/orders/7", 200, "", ""},
		{"orders:write", "DELETE", "/v1/orders/7", 403, "orders:write admin", "all of the scopes: orders:write admin"},
		{"admin", "DELETE", "/v1/orders/7", 403, "orders:write admin", "all of the scopes: orders:write admin"},
		{"orders:read customers:read", "DELETE", "/v1/orders/7", 403, "orders:write admin", "all of the scopes: orders:write admin"},
		// OR: either scope; the 403 names every one that alone would.
		{"orders:write", "PATCH", "/v1/orders/7", 200, "", ""},
		{"admin", "PATCH", "/v1/orders/7", 200, "", ""},
		{"orders:read", "PATCH", "/v1/orders/7", 403, "orders:write admin", "one of the scopes: orders:write admin"},
		// Two AND alternatives: the 403 names the one the token is closer to.
		{"orders:read customers:read", "GET", "/v1/orders/7/items/1", 200, "", ""},
		{"customers:read admin", "GET", "/v1/orders/7/items/1", 200, "", ""},
		{"admin", "GET", "/v1/orders/7/items/1", 403, "customers:read admin", "all of the scopes: customers:read admin"},
		{"orders:read", "GET", "/v1/orders/7/items/1", 403, "orders:read customers:read", "all of the scopes: orders:read customers:read"},
		// The concrete path's operation, not the template's.
		{"orders:read", "GET", "/v1/orders/mine", 403, "customers:read", "one of the scopes: customers:read"},
		{"customers:read", "GET", "/v1/orders/mine", 200, "", ""},
		// Any valid token; public needs a token unless AllowPublic.
		{"", "GET", "/v1/me", 200, "", ""},
		{"account:acme", "GET", "/v1/status", 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.scope+" "+tt.method+" "+tt.path, func(t *testing.T) {
			w := e.do(tt.method, tt.path, iss.token(tt.scope))
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.want, w.Body)
			}
			if tt.want == 200 {
				return
			}
			wantChallenge := `Bearer realm="` + iss.URL() + `", error="insufficient_scope", scope="` + tt.wantScope + `"`
			if got := w.Header().Get("WWW-Authenticate"); got != wantChallenge {
				t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, wantChallenge)
			}
			if b := decodeError(t, w); b.Error != "insufficient_scope" || !strings.HasSuffix(b.Description, tt.wantDesc) {
				t.Errorf("body %+v, want insufficient_scope ending %q", b, tt.wantDesc)
			}
		})
	}
}

func TestPublicEndpoints(t *testing.T) {
	iss := newIssuer(t)
	type result struct {
		code   int
		public bool // PublicFrom in the handler
		claims bool // ClaimsFrom in the handler
	}
	guard := func(allowPublic bool) http.Handler {
		g, err := New(Config{
			Issuer: iss.URL(), Audience: testAudience, RevocationPoll: -1, Now: iss.clock.Now,
			Catalog: shopCatalog(t), AllowPublic: allowPublic,
			MethodOverride: func(r *http.Request) (string, error) { return r.Header.Get("X-Override"), nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Close)
		return g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, claims := ClaimsFrom(r.Context())
			w.Header().Set("X-Public", map[bool]string{true: "yes", false: "no"}[PublicFrom(r.Context())])
			w.Header().Set("X-Claims", map[bool]string{true: "yes", false: "no"}[claims])
		}))
	}
	do := func(h http.Handler, method, path, auth, override string) result {
		r := httptest.NewRequest(method, path, nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if override != "" {
			r.Header.Set("X-Override", override)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return result{w.Code, w.Header().Get("X-Public") == "yes", w.Header().Get("X-Claims") == "yes"}
	}
	tok := "Bearer " + iss.token("")
	closed, open := guard(false), guard(true)
	tests := []struct {
		name                   string
		h                      http.Handler
		method, path, auth, ov string
		want                   result
	}{
		// By default a public operation still needs a valid token.
		{"default, no token", closed, "GET", "/status", "", "", result{401, false, false}},
		{"default, token", closed, "GET", "/status", tok, "", result{200, false, true}},
		// AllowPublic: no token needed, and none seen.
		{"open, no token", open, "GET", "/status", "", "", result{200, true, false}},
		{"open, HEAD", open, "HEAD", "/status/", "", "", result{200, true, false}},
		// A token sent is checked as usual.
		{"open, token", open, "GET", "/status", tok, "", result{200, false, true}},
		{"open, bad token", open, "GET", "/status", "Bearer nope", "", result{401, false, false}},
		{"open, empty Authorization", open, "GET", "/status", "Basic x", "", result{401, false, false}},
		// Only the public operation.
		{"open, other method", open, "POST", "/status", "", "", result{401, false, false}},
		{"open, any-token operation", open, "GET", "/me", "", "", result{401, false, false}},
		{"open, scoped operation", open, "GET", "/orders/1", "", "", result{401, false, false}},
		{"open, below", open, "GET", "/status/x", "", "", result{401, false, false}},
		{"open, override to a non-public method", open, "GET", "/status", "", "DELETE", result{401, false, false}},
		{"open, bad path", open, "GET", "/../status", "", "", result{401, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := do(tt.h, tt.method, tt.path, tt.auth, tt.ov); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
