package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenAPIPostman: `gatehouse openapi postman` writes the collection of
// a document, to a file or to standard output, with the token URL of the
// issuer and the client ID given, and never a secret; bad input is one
// line with the fix.
func TestOpenAPIPostman(t *testing.T) {
	doc, err := filepath.Abs("../postman/testdata/shop-3.0.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "api.postman.json")
	code, stdout, stderr := runScopes(t, "openapi", "postman", doc, "--issuer", "https://auth.example.com",
		"--base-url", "https://api.example.com/v1", "--client-id", "billing-sync", "--output", out)
	if code != 0 || !strings.Contains(stdout, "api.postman.json") || !strings.Contains(stdout, "Postman Collection v2.1") {
		t.Fatalf("openapi postman --output: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var col struct {
		Info struct {
			Schema string `json:"schema"`
		} `json:"info"`
		Variable []struct{ Key, Value string } `json:"variable"`
		Item     []json.RawMessage             `json:"item"`
	}
	if err := json.Unmarshal(b, &col); err != nil {
		t.Fatalf("the collection is not JSON: %v", err)
	}
	if col.Info.Schema != "https://schema.getpostman.com/json/collection/v2.1.0/collection.json" || len(col.Item) == 0 {
		t.Errorf("collection: schema %q, %d items", col.Info.Schema, len(col.Item))
	}
	vars := map[string]string{}
	for _, v := range col.Variable {
		vars[v.Key] = v.Value
	}
	for k, want := range map[string]string{"tokenUrl": "https://auth.example.com/oauth/token", "baseUrl": "https://api.example.com/v1",
		"clientId": "billing-sync", "clientSecret": ""} {
		if got, ok := vars[k]; !ok || got != want {
			t.Errorf("variable %s = %q (present %v), want %q", k, got, ok, want)
		}
	}

	// To standard output, the same collection.
	code, stdout, stderr = runScopes(t, "openapi", "postman", doc, "--issuer", "https://auth.example.com",
		"--base-url", "https://api.example.com/v1", "--client-id", "billing-sync")
	if code != 0 || stdout != string(b) {
		t.Errorf("openapi postman to stdout: exit %d, stderr %q; the output differs from the file's", code, stderr)
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"openapi", "postman"}, 2, "FILE"},
		{[]string{"openapi", "postman", doc, "--base-url", "api.example.com"}, 2, "--base-url"},
		{[]string{"openapi", "postman", filepath.Join(t.TempDir(), "missing.yaml")}, 1, "missing.yaml"},
	} {
		code, _, stderr := runScopes(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and a short message naming %s", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}
