package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/scope/openapi"
)

// ordersAPI is an API's OpenAPI document: deleting an order needs
// orders:write and admin together, changing it either; /status is public.
const ordersAPI = `openapi: 3.1.0
info: {title: Orders, version: "1"}
servers: [{url: https://api.example.com/v1}]
security: [{oauth: [orders:read]}]
paths:
  /orders/{id}:
    get: {responses: {"200": {description: ok}}}
    patch:
      security: [{oauth: [orders:write]}, {oauth: [admin]}]
      responses: {"200": {description: ok}}
    delete:
      security: [{oauth: [orders:write, admin]}]
      responses: {"204": {description: ok}}
  /status:
    get: {security: [], responses: {"200": {description: ok}}}
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows:
        clientCredentials:
          tokenUrl: https://auth.example.com/oauth/token
          scopes: {orders:read: Read orders, orders:write: Change orders, admin: Administer}
`

func TestOpenAPIRequirements(t *testing.T) {
	api, err := openapi.Parse([]byte(ordersAPI), openapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	as := newAuthServer(t)
	echo, calls := newEcho(t)
	for _, allowPublic := range []bool{false, true} {
		gw := newGateway(t, setup{as: as, upstream: echo.URL, basePath: api.BasePath, mod: func(c *gateway.Config) {
			c.Resource.Catalog = api.Catalog
			c.Resource.AllowPublic = allowPublic
		}})
		publicStatus := 401
		if allowPublic {
			publicStatus = 200
		}
		tests := []struct {
			scope, method, path string
			want                int
			wantChallenge       string // a substring of WWW-Authenticate
		}{
			{"orders:read", "GET", "/v1/orders/7", 200, ""},
			{"orders:write admin", "DELETE", "/v1/orders/7", 204, ""},
			{"orders:write", "DELETE", "/v1/orders/7", 403, `error="insufficient_scope", scope="orders:write admin"`},
			{"admin orders:read", "DELETE", "/v1/orders/7", 403, `scope="orders:write admin"`},
			{"admin", "PATCH", "/v1/orders/7", 200, ""},
			{"orders:write", "PATCH", "/v1/orders/7", 200, ""},
			{"orders:read", "PATCH", "/v1/orders/7", 403, `scope="orders:write admin"`},
			{"orders:read", "GET", "/orders/7", 404, ""}, // outside the document's base path
			{"", "GET", "/v1/status", 200, ""},
			{"-", "GET", "/v1/status", publicStatus, ""}, // no token at all
			{"-", "GET", "/v1/orders/7", 401, `Bearer realm=`},
		}
		for _, tt := range tests {
			before := calls.Load()
			tok := ""
			if tt.scope != "-" {
				tok = as.token(t, "app-1", tt.scope)
			}
			resp, body := do(t, tt.method, gw+tt.path, tok, nil, nil)
			if tt.want == 204 && resp.StatusCode == 200 {
				resp.StatusCode = 204 // the echo upstream answers 200 to everything
			}
			what := tt.scope + " " + tt.method + " " + tt.path
			if resp.StatusCode != tt.want {
				t.Errorf("allow_public %v, %s: status %d, want %d; body %s", allowPublic, what, resp.StatusCode, tt.want, body)
				continue
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, tt.wantChallenge) {
				t.Errorf("allow_public %v, %s: WWW-Authenticate %q, want %q in it", allowPublic, what, got, tt.wantChallenge)
			}
			reached := calls.Load() > before
			if reached != (resp.StatusCode < 300) {
				t.Errorf("allow_public %v, %s: reached the upstream %v with status %d", allowPublic, what, reached, resp.StatusCode)
			}
			if tt.scope == "-" && reached {
				// A public call carries no identity, whatever is sent.
				var got echoed
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatal(err)
				}
				for k := range got.Header {
					if strings.HasPrefix(http.CanonicalHeaderKey(k), "X-Gatehouse-") {
						t.Errorf("public call reached the upstream with %s", k)
					}
				}
			}
		}
	}
}
