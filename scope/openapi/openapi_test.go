package openapi_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse/gatehouse/scope"
	"github.com/gatehouse/gatehouse/scope/openapi"
)

// A call and what tokens of some scopes may do with it.
type call struct {
	method, path string   // path relative to the base path
	allowed      []string // scope sets (space-separated) allowed
	refused      []string // and refused
	required     string   // Required for a token of no scopes
	public       bool
}

func TestDocuments(t *testing.T) {
	tests := []struct {
		file       string
		version    string
		basePath   string
		scopes     []scope.Scope // names and labels
		operations []openapi.Operation
		warnings   []string
		calls      []call
	}{
		{
			file: "shop-3.0.yaml", version: "3.0.3", basePath: "/v1",
			scopes: []scope.Scope{
				{Name: "orders:read", Label: "Read your orders"},
				{Name: "orders:write", Label: "Create and change your orders"},
				{Name: "customers:read", Label: "Read customer records"},
				{Name: "admin", Label: "Administer the shop"},
			},
			operations: []openapi.Operation{
				{Method: "GET", Path: "/exports", ID: "exports", Line: 94, Pattern: "exports", Requirements: [][]string{{"admin"}}},
				{Method: "GET", Path: "/me", ID: "whoami", Line: 80, Pattern: "me", Requirements: [][]string{{}}},
				{Method: "GET", Path: "/orders", ID: "listOrders", Line: 17, Pattern: "orders", Requirements: [][]string{{"orders:read"}}},
				{Method: "POST", Path: "/orders", ID: "createOrder", Line: 21, Pattern: "orders", Requirements: [][]string{{"orders:write"}}},
				{Method: "GET", Path: "/orders/mine", ID: "myOrders", Line: 57, Pattern: "orders/mine", Requirements: [][]string{{"customers:read"}}},
				{Method: "GET", Path: "/orders/{orderId}", ID: "getOrder", Line: 33, Pattern: "orders/{orderId}", Requirements: [][]string{{"orders:read"}}},
				{Method: "HEAD", Path: "/orders/{orderId}", ID: "headOrder", Line: 37, Pattern: "orders/{orderId}", Requirements: [][]string{{"admin"}}},
				{Method: "PATCH", Path: "/orders/{orderId}", ID: "updateOrder", Line: 43, Pattern: "orders/{orderId}", Requirements: [][]string{{"orders:write"}, {"admin"}}},
				{Method: "DELETE", Path: "/orders/{orderId}", ID: "deleteOrder", Line: 50, Pattern: "orders/{orderId}", Requirements: [][]string{{"orders:write", "admin"}}},
				{Method: "GET", Path: "/orders/{orderId}/items/{itemId}", ID: "getOrderItem", Line: 67, Pattern: "orders/{orderId}/items/{itemId}", Requirements: [][]string{{"orders:read", "customers:read"}}},
				{Method: "GET", Path: "/reports", ID: "reports", Line: 87, Pattern: "reports"},
				{Method: "GET", Path: "/status", ID: "status", Line: 74, Pattern: "status", Public: true},
			},
			warnings: []string{
				`line 87: GET /reports: a security requirement names "apiKey" (apiKey), which a Gatehouse token cannot satisfy; it is left out`,
				`line 87: GET /reports: none of its security requirements can be met with a Gatehouse token, so no call to it is allowed`,
				`line 94: GET /exports: a security requirement names "apiKey" (apiKey), which a Gatehouse token cannot satisfy; it is left out`,
				`line 121: security scheme "apiKey" is of type apiKey, not oauth2: Gatehouse checks only its own access tokens, so it grants nothing, and a requirement that names it is left out`,
			},
			calls: []call{
				{"GET", "/orders", []string{"orders:read", "orders:read admin"}, []string{"", "orders:write", "admin"}, "orders:read", false},
				{"POST", "/orders", []string{"orders:write"}, []string{"orders:read", "admin"}, "orders:write", false},
				{"GET", "/orders/42", []string{"orders:read"}, []string{"customers:read", "admin"}, "orders:read", false},
				// The concrete path takes the call before the template.
				{"GET", "/orders/mine", []string{"customers:read"}, []string{"orders:read", "admin"}, "customers:read", false},
				// The HEAD operation's security, not GET's.
				{"HEAD", "/orders/42", []string{"admin"}, []string{"orders:read"}, "admin", false},
				{"PATCH", "/orders/42", []string{"orders:write", "admin"}, []string{"orders:read", ""}, "orders:write admin", false},
				{"DELETE", "/orders/42", []string{"orders:write admin"}, []string{"orders:write", "admin", "orders:read customers:read"}, "orders:write admin", false},
				{"GET", "/orders/42/items/7", []string{"orders:read customers:read"}, []string{"orders:read", "customers:read"}, "orders:read customers:read", false},
				{"GET", "/orders/42/items", nil, []string{"orders:read customers:read admin orders:write"}, "", false},
				{"GET", "/status", []string{"", "admin"}, nil, "", true},
				{"GET", "/me", []string{"", "account:7", "admin"}, nil, "", false},
				{"GET", "/reports", nil, []string{"", "orders:read orders:write customers:read admin"}, "", false},
				{"GET", "/exports", []string{"admin"}, []string{"orders:read"}, "admin", false},
			},
		},
		{
			file: "files-3.1.json", version: "3.1.0", basePath: "/api/v2",
			scopes: []scope.Scope{
				{Name: "files:read", Label: "Read your files"},
				{Name: "files:write", Label: "Create and change your files"},
				{Name: "files:export", Label: "Export your files"},
				{Name: "files:admin", Label: "Administer files"},
				{Name: "partner:link", Label: "Link your partner account"},
			},
			operations: []openapi.Operation{
				{Method: "GET", Path: "/accounts/{accountId}/projects", ID: "listProjects", Line: 13, Pattern: "accounts/{accountId}/projects", Requirements: [][]string{{"files:read"}, {"files:admin"}}},
				{Method: "POST", Path: "/accounts/{accountId}/projects", ID: "createProject", Line: 17, Pattern: "accounts/{accountId}/projects", Requirements: [][]string{{"files:write", "partner:link"}}},
				{Method: "DELETE", Path: "/accounts/{accountId}/projects/{projectId}/files/{fileId}", ID: "deleteFile", Line: 48, Pattern: "accounts/{accountId}/projects/{projectId}/files/{fileId}", Requirements: [][]string{{"files:write", "files:admin"}}},
				{Method: "TRACE", Path: "/accounts/{accountId}/projects/{projectId}/files/{fileId}", ID: "traceFile", Line: 58, Pattern: "accounts/{accountId}/projects/{projectId}/files/{fileId}"},
				{Method: "GET", Path: "/accounts/{accountId}/projects/{projectId}/files/{fileId}.json", ID: "getFileJSON", Line: 25, Pattern: "accounts/{accountId}/projects/{projectId}/files/{fileId}.json", Requirements: [][]string{{"files:read", "files:export"}, {"files:export", "files:admin"}}},
				{Method: "GET", Path: "/accounts/{accountId}/projects/{projectId}/files/{fileId}.xml", ID: "getFileXML", Line: 36, Pattern: "accounts/{accountId}/projects/{projectId}/files/{fileId}.xml", Requirements: [][]string{{"files:read", "files:export"}, {"files:export", "files:admin"}}},
				{Method: "GET", Path: "/health", ID: "health", Line: 65, Pattern: "health", Public: true},
				{Method: "GET", Path: "/openid", ID: "openid", Line: 68, Pattern: "openid", Requirements: [][]string{{}}},
			},
			warnings: []string{
				`line 36: GET /accounts/{accountId}/projects/{projectId}/files/{fileId}.xml and GET /accounts/{accountId}/projects/{projectId}/files/{fileId}.json both match the pattern accounts/*/projects/*/files/*: a call needs what each of them needs`,
				`line 48: DELETE /accounts/{accountId}/projects/{projectId}/files/{fileId}: a security requirement names "session" (http), which a Gatehouse token cannot satisfy; it is left out`,
				`line 58: TRACE /accounts/{accountId}/projects/{projectId}/files/{fileId}: a catalog cannot name the method TRACE, so no call with it is allowed`,
				`line 68: GET /openid: a security requirement names "oidc" (openIdConnect), which a Gatehouse token cannot satisfy; it is left out`,
				`line 102: security scheme "session" is of type http, not oauth2: Gatehouse checks only its own access tokens, so it grants nothing, and a requirement that names it is left out`,
				`line 103: security scheme "oidc" is of type openIdConnect, not oauth2: Gatehouse checks only its own access tokens, so it grants nothing, and a requirement that names it is left out`,
			},
			calls: []call{
				// Top-level security: files:read or files:admin.
				{"GET", "/accounts/acme/projects", []string{"files:read", "files:admin"}, []string{"files:write", ""}, "files:read files:admin", false},
				// Scopes of two oauth2 schemes in one requirement: both.
				{"POST", "/accounts/acme/projects", []string{"files:write partner:link"}, []string{"files:write", "partner:link", "files:admin"}, "files:write partner:link", false},
				{"DELETE", "/accounts/a/projects/p/files/f", []string{"files:write files:admin"}, []string{"files:admin", "files:write"}, "files:write files:admin", false},
				// {fileId}.json and {fileId}.xml are one pattern: both needed.
				{"GET", "/accounts/a/projects/p/files/f.xml", []string{"files:export files:read", "files:export files:admin"}, []string{"files:export", "files:read", "files:admin"}, "files:read files:export", false},
				{"GET", "/accounts/a/projects/p/files/f.json", []string{"files:export files:read"}, []string{"files:read"}, "files:read files:export", false},
				{"TRACE", "/accounts/a/projects/p/files/f", nil, []string{"files:read files:write files:export files:admin partner:link"}, "", false},
				{"GET", "/health", []string{""}, nil, "", true},
				{"GET", "/openid", []string{"", "partner:link"}, nil, "", false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			api, err := openapi.Load(filepath.Join("testdata", tt.file), openapi.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if api.Version != tt.version || api.BasePath != tt.basePath {
				t.Errorf("version %q, base path %q; want %q, %q", api.Version, api.BasePath, tt.version, tt.basePath)
			}
			var scopes []scope.Scope
			for _, name := range api.Catalog.Names() {
				s, _ := api.Catalog.Get(name)
				scopes = append(scopes, scope.Scope{Name: s.Name, Label: s.Label})
			}
			if diff := cmp.Diff(tt.scopes, scopes); diff != "" {
				t.Errorf("scopes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.operations, api.Operations, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("operations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.warnings, api.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			checkCalls(t, api.Catalog, tt.calls)
		})
	}
}

func checkCalls(t *testing.T, c *scope.Catalog, calls []call) {
	t.Helper()
	for _, tt := range calls {
		segs, err := scope.SplitPath(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		what := tt.method + " " + tt.path
		for _, s := range tt.allowed {
			if !c.Allows(c.SetOf(strings.Fields(s)), tt.method, segs) {
				t.Errorf("%s with %q: refused, want allowed", what, s)
			}
		}
		for _, s := range tt.refused {
			if c.Allows(c.SetOf(strings.Fields(s)), tt.method, segs) {
				t.Errorf("%s with %q: allowed, want refused", what, s)
			}
		}
		if got := strings.Join(c.Required(scope.Set{}, tt.method, segs), " "); got != tt.required {
			t.Errorf("%s: Required = %q, want %q", what, got, tt.required)
		}
		if got := c.Public(tt.method, segs); got != tt.public {
			t.Errorf("%s: Public = %v, want %v", what, got, tt.public)
		}
	}
}

// doc31 is a small OpenAPI 3.1 document in YAML, for the variations below.
const doc31 = `openapi: 3.1.0
info: {title: T, version: "1"}
servers: [{url: "https://api.example.com/"}]
paths:
  /items/{id}:
    get:
      security: [{oauth: [items:read]}]
      responses: {"200": {description: ok}}
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows:
        clientCredentials:
          tokenUrl: https://auth.example.com/oauth/token
          scopes:
            items:read: Read items
            items:write: ""
`

// doc30JSON is a small OpenAPI 3.0 document in JSON.
const doc30JSON = `{"openapi": "3.0.1", "info": {"title": "T", "version": "1"},
 "paths": {"/items": {"get": {"responses": {"200": {"description": "ok"}}}}},
 "security": [{"oauth": ["items:read", "items:write"]}],
 "components": {"securitySchemes": {"oauth": {"type": "oauth2", "flows": {"implicit": {
   "authorizationUrl": "https://auth.example.com/oauth/authorize",
   "scopes": {"items:read": "Read items", "items:write": "Write items"}}}}}}}`

func TestSmallDocuments(t *testing.T) {
	api, err := openapi.Parse([]byte(doc30JSON), openapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []scope.Rule{{Pattern: "items", Methods: []string{"GET"}, Scopes: []string{"items:read", "items:write"}}}
	if diff := cmp.Diff(want, api.Catalog.Rules()); diff != "" {
		t.Errorf("3.0 JSON rules (-want +got):\n%s", diff)
	}
	if api.BasePath != "" || len(api.Warnings) != 0 {
		t.Errorf("base path %q, warnings %q; want none", api.BasePath, api.Warnings)
	}

	// items:write has no description: a merged YAML catalog labels it.
	_, err = openapi.Parse([]byte(doc31), openapi.Options{})
	wantErr := `line 18: scope "items:write" has no description; describe it in the security scheme, or give it a label in a YAML scope catalog merged with the document`
	if err == nil || err.Error() != wantErr {
		t.Errorf("Parse without a label = %v, want %q", err, wantErr)
	}
	api, err = openapi.Parse([]byte(doc31), openapi.Options{Scopes: []byte("items:write:\n  label: Write items\n  default: true\nitems:read:\n  self_service: true\n")})
	if err != nil {
		t.Fatal(err)
	}
	if got := api.Catalog.Defaults(); !cmp.Equal(got, []string{"items:write"}) {
		t.Errorf("Defaults = %q, want [items:write]", got)
	}
	if got := api.Catalog.SelfService(); !cmp.Equal(got, []string{"items:read"}) {
		t.Errorf("SelfService = %q, want [items:read]", got)
	}
	if s, _ := api.Catalog.Get("items:write"); s.Label != "Write items" {
		t.Errorf("items:write label %q, want the YAML catalog's", s.Label)
	}
	checkCalls(t, api.Catalog, []call{
		// {id} as the last segment is one segment, not the rest of the path.
		{"GET", "/items/1", []string{"items:read"}, []string{"items:write"}, "items:read", false},
		{"GET", "/items/1/secret", nil, []string{"items:read items:write"}, "", false},
	})
}

func TestLoadMerge(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "openapi.yaml")
	cat := filepath.Join(dir, "scopes.yaml")
	write := func(name, text string) {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(doc, doc31)
	write(cat, "scopes:\n  items:read:\n    label: Read all the items\n  items:write:\n    label: W\n")
	_, err := openapi.Load(doc, openapi.Options{ScopesFile: cat})
	want := cat + `: line 3: scope "items:read": label "Read all the items" conflicts with the description "Read items" in the API description; keep one of them, or make them the same`
	if err == nil || err.Error() != want {
		t.Errorf("Load = %v\nwant %s", err, want)
	}
	write(doc, strings.Replace(doc31, "items:read]}]", "items:raed]}]", 1))
	_, err = openapi.Load(doc, openapi.Options{ScopesFile: cat})
	want = doc + `: line 6: GET /items/{id}: scope "items:raed" of scheme "oauth" is not declared in that scheme's flows`
	if err == nil || err.Error() != want {
		t.Errorf("Load = %v\nwant %s", err, want)
	}
	if _, err := openapi.Load(filepath.Join(dir, "missing.yaml"), openapi.Options{}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want a not-exist error", err)
	}
}

func TestErrors(t *testing.T) {
	const schemes = `
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows:
        clientCredentials:
          tokenUrl: https://a.example/token
          scopes: {read: Read, write: Write}
`
	head := "openapi: 3.0.3\ninfo: {title: T, version: \"1\"}\n"
	op := func(path, security string) string {
		return "paths:\n  " + path + ":\n    get:\n      security: " + security + "\n      responses: {\"200\": {description: ok}}\n"
	}
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"empty", "", []string{"empty document; want an OpenAPI 3.0 or 3.1 document in YAML or JSON"}},
		{"a scope catalog", "scopes:\n  a: {label: A}\n", []string{`no "openapi" version field; want an OpenAPI 3.0 or 3.1 document (convert a Swagger 2.0 one first)`}},
		{"swagger", "swagger: \"2.0\"\ninfo: {title: T, version: \"1\"}\npaths: {}\n", []string{`no "openapi" version field; want an OpenAPI 3.0 or 3.1 document (convert a Swagger 2.0 one first)`}},
		{"3.2", "openapi: 3.2.0\ninfo: {title: T, version: \"1\"}\npaths: {}\n", []string{`OpenAPI version "3.2.0": Gatehouse reads 3.0 and 3.1`}},
		{"undefined scheme", head + op("/a", "[{oauht: [read]}]") + schemes, []string{
			`line 5: GET /a: its security requirement names the scheme "oauht", which components.securitySchemes does not define`}},
		{"undeclared scope", head + op("/a", "[{oauth: [read, admin]}]") + schemes, []string{
			`line 5: GET /a: scope "admin" of scheme "oauth" is not declared in that scheme's flows`}},
		{"literal star", head + op("/files/*", "[]") + schemes, []string{
			`line 4: path "/files/*": segment "*" holds a "*", which is a wildcard in Gatehouse's patterns`}},
		{"dot segment", head + op("/a/../b", "[]") + schemes, []string{`line 4: path "/a/../b": a ".." segment`}},
		{"unbalanced", head + op("/a/{id", "[]") + schemes, []string{`line 4: path "/a/{id": segment "{id" has unbalanced braces`}},
		{"servers", head + "servers: [{url: https://a.example/v1}, {url: /v2}]\n" + op("/a", "[]") + schemes, []string{
			`the servers have different base paths: "/v1" (https://a.example/v1), "/v2" (/v2); Gatehouse needs one, so list servers of one path`}},
		{"relative server", head + "servers: [{url: v1}]\n" + op("/a", "[]") + schemes, []string{
			`line 3: server URL "v1": a relative URL; Gatehouse cannot tell the base path from it: use an absolute URL or a path from /`}},
		{"conflicting descriptions", head + op("/a", "[]") + schemes + `        implicit:
          authorizationUrl: https://a.example/authorize
          scopes: {read: Read everything}
`, []string{`line 19: scope "read" is described as "Read everything" in scheme "oauth", flow implicit but as "Read" in scheme "oauth", flow clientCredentials; describe it the same way everywhere`}},
		{"external reference", head + "paths:\n  /a:\n    $ref: other.yaml#/paths/~1a\n" + schemes, nil},
		{"bad scope name", head + op("/a", "[]") + strings.Replace(schemes, "read: Read", `"account:7": Read`, 1), []string{
			`line 16: scope "account:7": the "account:" prefix is reserved for account-restricted tokens`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api, err := openapi.Parse([]byte(tt.doc), openapi.Options{})
			pe, ok := err.(*scope.ParseError)
			if api != nil || !ok {
				t.Fatalf("Parse = %v, %v; want nil and a *scope.ParseError", api, err)
			}
			if tt.want == nil {
				// The loader's own words; it must refuse, naming why.
				if len(pe.Problems) != 1 || !strings.Contains(pe.Problems[0], "not followed") {
					t.Errorf("problems %q, want one saying references to other files are not followed", pe.Problems)
				}
				return
			}
			if diff := cmp.Diff(tt.want, pe.Problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSelfServiceExtension: x-gatehouse-self-service on an oauth2 scheme
// marks its scopes self-service, as self_service: true does in YAML; a
// name that is not the scheme's scope, or a value that is not a list of
// names, is an error.
func TestSelfServiceExtension(t *testing.T) {
	doc := func(ext string) []byte {
		return []byte(`{"openapi": "3.0.1", "info": {"title": "T", "version": "1"},
 "paths": {"/items": {"get": {"responses": {"200": {"description": "ok"}}}}},
 "security": [{"oauth": ["items:read"]}],
 "components": {"securitySchemes": {"oauth": {"type": "oauth2", ` + ext + `"flows": {"implicit": {
   "authorizationUrl": "https://auth.example.com/oauth/authorize",
   "scopes": {"items:read": "Read items", "items:write": "Write items"}}}}}}}`)
	}
	api, err := openapi.Parse(doc(`"x-gatehouse-self-service": ["items:read"], `), openapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := api.Catalog.SelfService(); !cmp.Equal(got, []string{"items:read"}) {
		t.Errorf("SelfService = %q, want [items:read]", got)
	}
	api, err = openapi.Parse(doc(""), openapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := api.Catalog.SelfService(); len(got) != 0 {
		t.Errorf("without the extension: SelfService = %q, want none", got)
	}
	for _, bad := range []string{`"x-gatehouse-self-service": ["items:delete"], `, `"x-gatehouse-self-service": "items:read", `, `"x-gatehouse-self-service": [1], `} {
		if _, err := openapi.Parse(doc(bad), openapi.Options{}); err == nil || !strings.Contains(err.Error(), "x-gatehouse-self-service") {
			t.Errorf("%s: got %v, want an error naming x-gatehouse-self-service", bad, err)
		}
	}
}
