package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// shopDoc is an API's OpenAPI document: GET /orders/{id} needs
// orders:read, DELETE needs orders:write and admin, PATCH either; /status
// is public; /reports takes only an API key.
const shopDoc = `openapi: 3.0.3
info: {title: Shop, version: "1"}
servers: [{url: "https://api.shop.example/v1"}]
security: [{oauth: [orders:read]}]
paths:
  /orders/{id}:
    get: {operationId: getOrder, responses: {"200": {description: ok}}}
    patch:
      security: [{oauth: [orders:write]}, {oauth: [admin]}]
      responses: {"200": {description: ok}}
    delete:
      operationId: deleteOrder
      security: [{oauth: [orders:write, admin]}]
      responses: {"204": {description: ok}}
  /status:
    get: {security: [], responses: {"200": {description: ok}}}
  /reports:
    get: {security: [{key: []}], responses: {"200": {description: ok}}}
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows:
        clientCredentials:
          tokenUrl: https://auth.shop.example/oauth/token
          scopes:
            orders:read: Read your orders
            orders:write: Change your orders
            admin: ""
    key: {type: apiKey, in: header, name: X-Key}
`

func writeFileNamed(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestScopesOpenAPI(t *testing.T) {
	doc := writeFileNamed(t, "openapi.yaml", shopDoc)
	labels := writeFileNamed(t, "scopes.yaml", "admin:\n  label: Administer the shop\norders:read:\n  default: true\n")
	badLabels := writeFileNamed(t, "bad.yaml", "scopes:\n  orders:read:\n    label: Read all orders\n  nope: {label: N}\n")
	warnings := func(file string) string {
		return file + `: warning: line 18: GET /reports: a security requirement names "key" (apiKey), which a Gatehouse token cannot satisfy; it is left out` + "\n" +
			file + `: warning: line 18: GET /reports: none of its security requirements can be met with a Gatehouse token, so no call to it is allowed` + "\n" +
			file + `: warning: line 30: security scheme "key" is of type apiKey, not oauth2: Gatehouse checks only its own access tokens, so it grants nothing, and a requirement that names it is left out` + "\n"
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"from-openapi", []string{"scopes", "from-openapi", doc, "--scopes", labels}, 0, doc + `: OpenAPI 3.0.3, base path /v1

SCOPE         LABEL                DEFAULT  SELF-SERVICE
orders:read   Read your orders     yes      no
orders:write  Change your orders   no       no
admin         Administer the shop  no       no

OPERATION                          PATTERN      NEEDS
GET /orders/{id} (getOrder)        orders/{id}  orders:read
PATCH /orders/{id}                 orders/{id}  orders:write or admin
DELETE /orders/{id} (deleteOrder)  orders/{id}  orders:write and admin
GET /reports                       reports      nothing: no token may call it
GET /status                        status       no token (public)
`, warnings(doc)},
		{"no label for admin", []string{"scopes", "from-openapi", doc}, 1, "",
			"gatehouse: " + doc + `: line 29: scope "admin" has no description; describe it in the security scheme, or give it a label in a YAML scope catalog merged with the document` + "\n"},
		{"conflicting YAML catalog", []string{"scopes", "check", doc, "--scopes", badLabels}, 1, "",
			badLabels + `: line 3: scope "orders:read": label "Read all orders" conflicts with the description "Read your orders" in the API description; keep one of them, or make them the same` + "\n" +
				badLabels + `: line 4: scope "nope" is not a scope of the API description (the OpenAPI document's oauth2 security schemes); a YAML catalog merged with it can only describe those` + "\n" +
				"gatehouse: " + badLabels + ": 2 problems\n"},
		{"check", []string{"scopes", "check", doc, "--scopes", labels}, 0,
			doc + ": OpenAPI 3.0.3, base path /v1, 3 scopes, 5 operations, 5 rules, ok\n", warnings(doc)},
		{"--scopes with a YAML catalog", []string{"scopes", "check", labels, "--scopes", labels}, 2, "",
			"gatehouse: --scopes merges a YAML catalog into one derived from an OpenAPI document; " + labels + " is a scope catalog\n"},
		{"explain AND", []string{"scopes", "explain", doc, "--scopes", labels, "DELETE", "/orders/42", "--token-scopes", "orders:write orders:read"}, 0, `DELETE /orders/42
relative to the base path /v1
operation: DELETE /orders/{id} (deleteOrder)

SCOPE         ALLOWED  WHY
orders:read   no       orders/{id} matches, but allows only GET, HEAD
orders:write  no       orders/{id} allows DELETE only together with admin
admin         no       orders/{id} allows DELETE only together with orders:write

REQUIREMENT             PATTERN      METHODS  TOKEN
orders:write and admin  orders/{id}  DELETE   lacks admin

refused: 403 insufficient_scope, scope="orders:write admin"
`, ""},
		{"explain OR", []string{"scopes", "explain", doc, "--scopes", labels, "PATCH", "/orders/42", "--token-scopes", "admin"}, 0, `PATCH /orders/42
relative to the base path /v1
operation: PATCH /orders/{id}

SCOPE         ALLOWED  WHY
orders:read   no       orders/{id} matches, but allows only GET, HEAD
orders:write  yes      orders/{id} allows PATCH
admin         yes      orders/{id} allows PATCH

REQUIREMENT   PATTERN      METHODS  TOKEN
orders:write  orders/{id}  PATCH    lacks orders:write
admin         orders/{id}  PATCH    meets it

a token with these scopes may make this call
`, ""},
		{"explain public", []string{"scopes", "explain", doc, "--scopes", labels, "GET", "/status"}, 0, `GET /status
relative to the base path /v1
operation: GET /status

SCOPE         ALLOWED  WHY
orders:read   no       no endpoint matches the path
orders:write  no       no endpoint matches the path
admin         no       no endpoint matches the path

REQUIREMENT        PATTERN  METHODS
no token (public)  status   GET, HEAD

allowed by no scope alone; a token needs every scope of one requirement above
`, ""},
		{"explain a YAML catalog with a token", []string{"scopes", "explain", "default", "POST", "/records", "--token-scopes", "search"}, 0, `POST /records

SCOPE          ALLOWED  WHY
profile        no       no endpoint matches the path
search         no       no endpoint matches the path
api:read-only  no       * matches, but allows only GET, HEAD
api            yes      * allows every method

REQUIREMENT  PATTERN  METHODS       TOKEN
api          *        every method  lacks api

refused: 403 insufficient_scope, scope="api"
`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runScopes(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if diff := cmp.Diff(tt.wantStdout, stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStderr, stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScopesFromOpenAPIJSON(t *testing.T) {
	doc := writeFileNamed(t, "openapi.yaml", strings.Replace(shopDoc, `admin: ""`, "admin: Administer", 1))
	code, stdout, stderr := runScopes(t, "scopes", "from-openapi", doc, "--output", "json")
	if code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	var got struct {
		OpenAPI    string `json:"openapi"`
		BasePath   string `json:"base_path"`
		Operations []struct {
			Method       string     `json:"method"`
			Path         string     `json:"path"`
			Requirements [][]string `json:"requirements"`
			Public       bool       `json:"public"`
		} `json:"operations"`
		Rules []struct {
			Pattern string   `json:"pattern"`
			Methods []string `json:"methods"`
			Scopes  []string `json:"scopes"`
			Public  bool     `json:"public"`
		} `json:"rules"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output %q: %v", stdout, err)
	}
	if got.OpenAPI != "3.0.3" || got.BasePath != "/v1" || len(got.Operations) != 5 || len(got.Warnings) != 3 || stderr != "" {
		t.Errorf("got %+v, stderr %q; want 3.0.3, /v1, 5 operations, 3 warnings in the JSON, nothing on stderr", got, stderr)
	}
	var del []string
	for _, r := range got.Rules {
		if len(r.Methods) == 1 && r.Methods[0] == "DELETE" {
			del = r.Scopes
		}
	}
	if want := []string{"orders:write", "admin"}; !cmp.Equal(del, want) {
		t.Errorf("DELETE rule scopes %q, want %q", del, want)
	}
}
