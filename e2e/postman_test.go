package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/e2e/harness"
)

// newmanVersion is the newman (Postman's command-line runner) the test
// runs; .ci/run fetches the same.
const newmanVersion = "6.2.2"

// shopOpenAPI is the API the exported collection calls: path and query
// parameters, a JSON body derived from a schema and one given as an
// example, an AND requirement and a public operation.
const shopOpenAPI = `openapi: 3.0.3
info: {title: Shop, version: "1"}
servers: [{url: "https://api.example.com/v1"}]
security: [{oauth: [orders:read]}]
tags: [{name: orders, description: Orders of the shop}]
paths:
  /orders:
    get:
      tags: [orders]
      summary: List orders
      parameters:
        - {name: status, in: query, required: true, schema: {type: string, enum: [open, closed]}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1}}
      responses: {"200": {description: ok, content: {application/json: {schema: {type: array}}}}}
    post:
      tags: [orders]
      summary: Create an order
      security: [{oauth: [orders:write]}]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [sku, quantity]
              properties:
                sku: {type: string}
                quantity: {type: integer, minimum: 1}
                note: {type: string}
      responses: {"201": {description: created}}
  /orders/{orderId}:
    parameters:
      - {name: orderId, in: path, required: true, schema: {type: integer}, example: 42}
    get:
      tags: [orders]
      summary: Get an order
      responses: {"200": {description: ok}}
    put:
      tags: [orders]
      summary: Replace an order
      security: [{oauth: [orders:write]}]
      requestBody:
        content:
          application/json:
            example: {sku: A-1, quantity: 2}
      responses: {"200": {description: ok}}
    delete:
      tags: [orders]
      summary: Delete an order
      security: [{oauth: [orders:write, admin]}]
      responses: {"204": {description: deleted}}
  /status:
    get:
      summary: Status
      security: []
      responses: {"200": {description: up}}
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows:
        clientCredentials:
          tokenUrl: https://auth.example.com/oauth/token
          scopes:
            orders:read: Read your orders
            orders:write: Change your orders
            admin: Administer the shop
`

// TestPostman exports serve's Postman collection of the API and runs it
// with newman against serve's embedded gateway in front of an upstream:
// the collection's pre-request script gets the token with the client's
// credentials, and every request is allowed.
func TestPostman(t *testing.T) {
	npx, err := exec.LookPath("npx")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("npx is required in CI (.ci/run installs Node.js): %v", err)
		}
		t.Skipf("npx not installed: %v", err)
	}
	dir := t.TempDir()
	doc := filepath.Join(dir, "openapi.yaml")
	os.WriteFile(doc, []byte(shopOpenAPI), 0o600)
	in := newInstance(t, "GATEHOUSE_OPENAPI="+doc)
	// The upstream records each call: method, URI, the token's scopes
	// the gateway passes on, and the body compacted.
	var mu sync.Mutex
	var seenCalls []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		call := strings.TrimSpace(r.Method + " " + r.RequestURI + " " + r.Header.Get("X-Gatehouse-Scope"))
		if len(b) > 0 {
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Errorf("%s: body %q is not JSON: %v", call, b, err)
			}
			compact, _ := json.Marshal(v)
			call += " " + string(compact)
		}
		mu.Lock()
		seenCalls = append(seenCalls, call)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	}))
	t.Cleanup(up.Close)
	cfg := filepath.Join(in.DataDir, "gatehouse.yaml")
	os.WriteFile(cfg, []byte("gateway:\n  enabled: true\n  addr: 127.0.0.1:0\n  upstream: "+up.URL+"\n  allow_public: true\n"), 0o600)
	srv := server{in.Start([]string{"serve", "--addr", "127.0.0.1:0", "--config", cfg, "--openapi", doc}, harness.ListenRE, gatewayRE)}
	gwURL := "http://" + gatewayRE.FindStringSubmatch(srv.Logs.String())[1]
	c := in.CreateClient("--name", "Postman", "--scopes", "orders:read orders:write admin")

	resp, err := http.Get(srv.URL + "/docs/postman.json?client_id=" + c.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment; filename=") {
		t.Fatalf("GET /docs/postman.json: %d, Content-Type %q, Content-Disposition %q; want 200, application/json, an attachment:\n%s",
			resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"), body)
	}
	var coll struct {
		Variable []struct{ Key, Value string } `json:"variable"`
	}
	if err := json.Unmarshal(body, &coll); err != nil {
		t.Fatalf("collection: %v", err)
	}
	vars := map[string]string{}
	for _, v := range coll.Variable {
		vars[v.Key] = v.Value
	}
	for k, want := range map[string]string{
		"baseUrl": gwURL + "/v1", "tokenUrl": srv.URL + "/oauth/token", "clientId": c.ClientID, "clientSecret": "",
		"scope": "orders:read orders:write admin",
	} {
		if vars[k] != want {
			t.Errorf("collection variable %s = %q, want %q", k, vars[k], want)
		}
	}
	if strings.Contains(string(body), c.ClientSecret) {
		t.Fatal("the served collection holds the client's secret")
	}
	collFile := filepath.Join(dir, "collection.json")
	os.WriteFile(collFile, body, 0o600)

	report := filepath.Join(dir, "report.json")
	cmd := exec.Command(npx, "--yes", "newman@"+newmanVersion, "run", collFile,
		"--env-var", "clientSecret="+c.ClientSecret,
		"--reporters", "cli,json", "--reporter-json-export", report,
		"--disable-unicode", "--color", "off", "--timeout-request", "10000")
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false", "npm_config_fund=false")
	cmd.Stdin = nil
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if _, statErr := os.Stat(report); statErr != nil {
		if os.Getenv("CI") != "true" && strings.Contains(string(out), "npm") && !strings.Contains(string(out), "newman") {
			t.Skipf("newman@%s could not be fetched (%v): %s", newmanVersion, err, out)
		}
		t.Fatalf("newman wrote no report after %s (%v):\n%s", time.Since(start), err, out)
	}
	if err != nil {
		t.Errorf("newman run: %v (want exit 0):\n%s", err, out)
	}
	var rep struct {
		Run struct {
			Executions []struct {
				Item     struct{ Name string } `json:"item"`
				Response struct{ Code int }    `json:"response"`
			} `json:"executions"`
			Failures []json.RawMessage `json:"failures"`
		} `json:"run"`
	}
	data, _ := os.ReadFile(report)
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("newman's report: %v", err)
	}
	if len(rep.Run.Failures) > 0 {
		t.Errorf("newman reports %d failures:\n%s", len(rep.Run.Failures), out)
	}
	// One request per operation, and one token request: the script keeps
	// the token for the later requests.
	for _, ex := range rep.Run.Executions {
		if ex.Response.Code < 200 || ex.Response.Code > 299 {
			t.Errorf("%s: %d, want 2xx", ex.Item.Name, ex.Response.Code)
		}
	}
	if got, want := len(rep.Run.Executions), 6+1; got != want {
		t.Errorf("newman sent %d requests, want %d: one per operation and one token request", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"GET /v1/orders?status=open orders:read orders:write admin",
		"POST /v1/orders orders:read orders:write admin {\"quantity\":1,\"sku\":\"string\"}",
		"GET /v1/orders/42 orders:read orders:write admin",
		"PUT /v1/orders/42 orders:read orders:write admin {\"quantity\":2,\"sku\":\"A-1\"}",
		"DELETE /v1/orders/42 orders:read orders:write admin",
		"GET /v1/status",
	}
	if diff := cmp.Diff(want, seenCalls); diff != "" {
		t.Errorf("the upstream saw (-want +got):\n%s", diff)
	}
}
