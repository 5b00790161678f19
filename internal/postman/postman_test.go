package postman

import (
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/scope/openapi"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func load(t *testing.T, file string) *openapi.API {
	t.Helper()
	api, err := openapi.Load(filepath.Join("testdata", file), openapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// TestExportGolden compares the collections of a 3.0 YAML and a 3.1 JSON
// document with testdata/*.postman.json (go test -update rewrites them).
func TestExportGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		opts Options
	}{
		{"shop-3.0.yaml", Options{TokenURL: "https://auth.example.com/oauth/token", ClientID: "billing-sync"}},
		{"files-3.1.json", Options{TokenURL: "http://127.0.0.1:8080/oauth/token", BaseURL: "http://127.0.0.1:8081/files-api/"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := Export(load(t, tc.file), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", strings.TrimSuffix(tc.file, filepath.Ext(tc.file))+".postman.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("collection differs from %s (-want +got):\n%s", golden, diff)
			}
			checkCollection(t, got)
		})
	}
}

// checkCollection checks what the v2.1.0 schema requires of what Export
// writes, and what the collection promises: the variables, the auth, the
// script, one request per operation with its path variables.
func checkCollection(t *testing.T, data []byte) {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	info, _ := c["info"].(map[string]any)
	if info["schema"] != SchemaURL || info["name"] == "" {
		t.Errorf("info %v: want a name and schema %s", info, SchemaURL)
	}
	vars := map[string]any{}
	for _, v := range c["variable"].([]any) {
		m := v.(map[string]any)
		vars[m["key"].(string)] = m["value"]
	}
	for _, k := range []string{"baseUrl", "tokenUrl", "clientId", "clientSecret", "scope"} {
		if _, ok := vars[k]; !ok {
			t.Errorf("no collection variable %s", k)
		}
	}
	if vars["clientSecret"] != "" {
		t.Errorf("clientSecret = %q, want empty", vars["clientSecret"])
	}
	auth, _ := c["auth"].(map[string]any)
	attrs := map[string]any{}
	for _, a := range auth["oauth2"].([]any) {
		m := a.(map[string]any)
		attrs[m["key"].(string)] = m["value"]
	}
	if auth["type"] != "oauth2" || attrs["grant_type"] != "client_credentials" || attrs["accessTokenUrl"] != "{{tokenUrl}}" ||
		attrs["client_authentication"] != "header" || attrs["clientSecret"] != "{{clientSecret}}" || attrs["scope"] != "{{scope}}" {
		t.Errorf("auth %v: want oauth2 client credentials against {{tokenUrl}}, Basic, the variables", auth)
	}
	ev := c["event"].([]any)[0].(map[string]any)
	if ev["listen"] != "prerequest" || !slices.Contains(ev["script"].(map[string]any)["exec"].([]any), any("    pm.sendRequest({")) {
		t.Errorf("event %v: want the token pre-request script", ev)
	}
	for _, f := range c["item"].([]any) {
		folder := f.(map[string]any)
		for _, it := range folder["item"].([]any) {
			req := it.(map[string]any)["request"].(map[string]any)
			u := req["url"].(map[string]any)
			if !strings.HasPrefix(u["raw"].(string), "{{baseUrl}}") || req["method"] == "" {
				t.Errorf("request %v: want a method and a URL from {{baseUrl}}", req)
			}
			var pathVars []string
			for _, seg := range u["path"].([]any) {
				if s := seg.(string); strings.HasPrefix(s, ":") {
					pathVars = append(pathVars, s[1:])
				}
			}
			var declared []string
			if vs, ok := u["variable"].([]any); ok {
				for _, v := range vs {
					declared = append(declared, v.(map[string]any)["key"].(string))
				}
			}
			if !slices.Equal(pathVars, declared) {
				t.Errorf("%s: path variables %q, declared %q", u["raw"], pathVars, declared)
			}
		}
	}
}

func TestExportErrors(t *testing.T) {
	api := load(t, "files-3.1.json")
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no token URL", Options{BaseURL: "https://api.example.com"}, `token URL "": want an absolute http(s) URL`},
		{"relative token URL", Options{TokenURL: "/oauth/token", BaseURL: "https://api.example.com"}, `token URL "/oauth/token"`},
		{"relative server", Options{TokenURL: "https://a.example.com/oauth/token"}, `the document's first server URL "/files-api" is not an absolute http(s) URL`},
		{"base URL with a query", Options{TokenURL: "https://a.example.com/oauth/token", BaseURL: "https://api.example.com/?x=1"}, `base URL "https://api.example.com/?x=1" is not an absolute`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Export(api, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	opts := Options{TokenURL: "https://auth.example.com/oauth/token"}
	h := Handler(load(t, "shop-3.0.yaml"), opts, nil)
	for _, tc := range []struct {
		name, target string
		wantStatus   int
		wantClientID string
	}{
		{"no client", "/docs/postman.json", 200, ""},
		{"client prefilled", "/docs/postman.json?client_id=billing-sync", 200, "billing-sync"},
		{"JSON in the client ID stays a string", "/docs/postman.json?client_id=%22%7D%5D", 200, `"}]`},
		{"client ID with a space", "/docs/postman.json?client_id=a%20b", 400, ""},
		{"client ID too long", "/docs/postman.json?client_id=" + strings.Repeat("a", 256), 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
			if rec.Code != tc.wantStatus {
				t.Fatalf("got %d %s, want %d", rec.Code, rec.Body, tc.wantStatus)
			}
			if rec.Code != 200 {
				return
			}
			if ct, cd := rec.Header().Get("Content-Type"), rec.Header().Get("Content-Disposition"); ct != "application/json" || cd != `attachment; filename="postman_collection.json"` {
				t.Errorf("Content-Type %q, Content-Disposition %q", ct, cd)
			}
			var c struct{ Variable []kv }
			if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
				t.Fatal(err)
			}
			for _, v := range c.Variable {
				if v.Key == "clientId" && v.Value != tc.wantClientID {
					t.Errorf("clientId %q, want %q", v.Value, tc.wantClientID)
				}
			}
		})
	}

	t.Run("no document", func(t *testing.T) {
		rec := httptest.NewRecorder()
		Handler(nil, opts, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/docs/postman.json", nil))
		if rec.Code != http.StatusNotFound || strings.Count(strings.TrimSpace(rec.Body.String()), "\n") != 0 {
			t.Errorf("got %d %q, want 404 and one line", rec.Code, rec.Body)
		}
	})
	t.Run("no absolute base URL", func(t *testing.T) {
		rec := httptest.NewRecorder()
		Handler(load(t, "files-3.1.json"), opts, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/docs/postman.json", nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("got %d %q, want 404", rec.Code, rec.Body)
		}
	})
}
