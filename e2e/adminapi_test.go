package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/e2e/harness"
	"github.com/gatehouse/gatehouse/internal/store/postgres/pgtest"
)

// apiCaller calls the admin API of a running server with a token.
type apiCaller struct {
	t   *testing.T
	url string
	tok string
}

type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

func (c apiCaller) do(method, path string, body any, header ...string) apiResponse {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, ok := body.(string)
		if !ok {
			j, err := json.Marshal(body)
			if err != nil {
				c.t.Fatal(err)
			}
			b = string(j)
		}
		r = strings.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.tok)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return apiResponse{resp.StatusCode, resp.Header, b}
}

func (r apiResponse) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %d %s: %v", r.status, r.body, err)
	}
}

// wantProblem checks r is an application/problem+json of the status and type.
func (r apiResponse) wantProblem(t *testing.T, what string, status int, typ string) {
	t.Helper()
	var p admin.Problem
	if r.status != status || r.header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(r.body, &p) != nil || p.Type != typ {
		body := string(r.body)
		if len(body) > 300 {
			body = body[:300]
		}
		t.Errorf("%s: got %d %s %s, want a %d problem of type %s", what, r.status, r.header.Get("Content-Type"), body, status, typ)
	}
}

// TestAdminAPI drives the admin API of the real binary on both stores:
// CRUD, pages over 1,000 clients, If-Match, idempotent creates under
// concurrent retries, problems, read-only and tenant tokens.
func TestAdminAPI(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  func(t *testing.T) []string
	}{
		{"sqlite", func(*testing.T) []string { return nil }},
		{"postgres", func(t *testing.T) []string {
			return []string{"GATEHOUSE_DATABASE_URL=" + pgtest.DSN(t), "GATEHOUSE_SECRET=e2e-master-key-0123456789abcdefghijkl"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { testAdminAPI(t, newInstance(t, tc.env(t)...)) })
	}
}

func testAdminAPI(t *testing.T, in instance) {
	srv := in.serve()
	tokenOf := func(c createdClient, scope string) string {
		t.Helper()
		code, m := srv.token(t, c.ClientID, c.ClientSecret, scope)
		if code != 200 {
			t.Fatalf("token (%s): %d %v", scope, code, m)
		}
		return m["access_token"].(string)
	}
	ops := in.CreateClient("--name", "ops", "--scopes", "gatehouse:admin")
	api := apiCaller{t, srv.URL + "/admin/v1", tokenOf(ops, "gatehouse:admin")}
	reader := apiCaller{t, api.url, tokenOf(in.CreateClient("--name", "auditor", "--scopes", "gatehouse:admin:read"), "gatehouse:admin:read")}
	backend := in.CreateClient("--name", "platform", "--scopes", "gatehouse:clients", "--accounts", "*")
	acme := apiCaller{t, api.url, tokenOf(backend, "gatehouse:clients account:acme")}
	globex := apiCaller{t, api.url, tokenOf(backend, "gatehouse:clients account:globex")}

	// Create, read, update with If-Match, delete.
	r := api.do("POST", "/clients", admin.NewClient{Name: "Nightly export", Scopes: []string{"api:read-only"}})
	var c admin.Client
	r.decode(t, &c)
	if r.status != 201 || c.ClientSecret == "" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if code, m := srv.token(t, c.ClientID, c.ClientSecret, "api:read-only"); code != 200 {
		t.Errorf("the created client's token: %d %v", code, m)
	}
	r = api.do("GET", "/clients/"+c.ClientID, nil)
	etag := r.header.Get("ETag")
	if r.status != 200 || etag == "" {
		t.Fatalf("get: %d %s (ETag %q)", r.status, r.body, etag)
	}
	r = api.do("PATCH", "/clients/"+c.ClientID, `{"name":"Nightly export v2"}`, "Content-Type", "application/merge-patch+json", "If-Match", etag)
	if r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	api.do("PATCH", "/clients/"+c.ClientID, `{"name":"lost"}`, "Content-Type", "application/merge-patch+json", "If-Match", etag).
		wantProblem(t, "patch with a stale ETag", 412, admin.ProblemPrecondition)
	reader.do("POST", "/clients", admin.NewClient{Name: "x"}).wantProblem(t, "admin:read creates", 403, admin.ProblemForbidden)
	reader.do("DELETE", "/clients/"+c.ClientID, nil).wantProblem(t, "admin:read deletes", 403, admin.ProblemForbidden)
	if r := reader.do("GET", "/clients/"+c.ClientID, nil); r.status != 200 {
		t.Errorf("admin:read reads: %d %s", r.status, r.body)
	}

	// Revoking everything issued to it: its token is inactive at once.
	_, m := srv.token(t, c.ClientID, c.ClientSecret, "api:read-only")
	leaked := m["access_token"].(string)
	if r := api.do("POST", "/clients/"+c.ClientID+"/revoke-tokens", nil); r.status != 200 {
		t.Fatalf("revoke-tokens: %d %s", r.status, r.body)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/oauth/introspect", strings.NewReader("token="+leaked))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	if code, m := harness.DoJSON(t, req); code != 200 || m["active"] != false {
		t.Errorf("introspection of a token issued before revoke-tokens: %d %v, want inactive", code, m)
	}

	// The CLI's remote mode prints what the local mode prints. (Once
	// more if they differ: the server may have recorded the secret's last
	// use, which it does once a minute, between the two.)
	remoteCLI := in.Instance.WithEnv("GATEHOUSE_CLIENT_ID="+ops.ClientID, "GATEHOUSE_CLIENT_SECRET="+ops.ClientSecret)
	var local, remote string
	for range 2 {
		local = in.MustCLI("clients", "show", c.ClientID, "--output", "json")
		remote = remoteCLI.MustCLI("clients", "show", c.ClientID, "--output", "json", "--server", srv.URL)
		if local == remote {
			break
		}
	}
	if local != remote {
		t.Errorf("clients show: local output\n%s\nremote output\n%s", local, remote)
	}

	if r := api.do("DELETE", "/clients/"+c.ClientID, nil); r.status != 204 {
		t.Errorf("delete: %d %s", r.status, r.body)
	}
	api.do("GET", "/clients/"+c.ClientID, nil).wantProblem(t, "deleted client", 404, admin.ProblemNotFound)
	apiCaller{t, api.url, "forged.token.here"}.do("GET", "/clients", nil).wantProblem(t, "bad token", 401, admin.ProblemUnauthorized)
	api.do("POST", "/clients", "{").wantProblem(t, "malformed body", 400, admin.ProblemMalformed)

	// Idempotent create under concurrent retries: one client, one secret.
	var wg sync.WaitGroup
	results := make([]apiResponse, 6)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = api.do("POST", "/clients", admin.NewClient{Name: "Retried import"}, "Idempotency-Key", "import-7f3a")
		}()
	}
	wg.Wait()
	var first []byte
	for _, r := range results {
		switch r.status {
		case 201:
			if first != nil && !bytes.Equal(first, r.body) {
				t.Errorf("two different 201s for one Idempotency-Key:\n%s\n%s", first, r.body)
			}
			first = r.body
		case 409:
			r.wantProblem(t, "retry while the first runs", 409, admin.ProblemIdempotency)
		default:
			t.Errorf("concurrent retry: %d %s", r.status, r.body)
		}
	}
	if r := api.do("POST", "/clients", admin.NewClient{Name: "Retried import"}, "Idempotency-Key", "import-7f3a"); r.status != 201 || !bytes.Equal(r.body, first) {
		t.Errorf("retry after the first finished: %d %s, want the first response", r.status, r.body)
	}
	var page admin.Page[admin.Client]
	api.do("GET", "/clients?q=retried+import", nil).decode(t, &page)
	if len(page.Items) != 1 {
		t.Errorf("clients made by the retried create: %d, want 1", len(page.Items))
	}

	// Tenants see only their own.
	r = acme.do("POST", "/clients", admin.NewClient{Name: "Acme sync", Scopes: []string{"api:read-only"}})
	var ac admin.Client
	r.decode(t, &ac)
	if r.status != 201 || len(ac.Accounts) != 1 || ac.Accounts[0] != "acme" {
		t.Fatalf("tenant create: %d %s", r.status, r.body)
	}
	for _, rt := range [][2]string{{"GET", ""}, {"DELETE", ""}, {"GET", "/secrets"}, {"POST", "/secrets"}} {
		globex.do(rt[0], "/clients/"+ac.ClientID+rt[1], nil).wantProblem(t, "globex: "+rt[0]+" acme's client"+rt[1], 404, admin.ProblemNotFound)
	}
	globex.do("GET", "/clients", nil).decode(t, &page)
	if len(page.Items) != 0 {
		t.Errorf("globex lists %d clients, want none", len(page.Items))
	}
	acme.do("GET", "/keys", nil).wantProblem(t, "tenant reads keys", 403, admin.ProblemForbidden)

	// Pages over 1,000 clients.
	for i := range 1000 {
		if r := api.do("POST", "/clients", admin.NewClient{ClientID: fmt.Sprintf("bulk-%04d", i), Name: "bulk"}); r.status != 201 {
			t.Fatalf("bulk create %d: %d %s", i, r.status, r.body)
		}
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		var p admin.Page[admin.Client]
		api.do("GET", "/clients?q=bulk&limit=200&cursor="+cursor, nil).decode(t, &p)
		pages++
		for _, c := range p.Items {
			if seen[c.ClientID] {
				t.Fatalf("client %s on two pages", c.ClientID)
			}
			seen[c.ClientID] = true
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != 1000 || pages != 5 {
		t.Errorf("paged through %d bulk clients in %d pages, want 1000 in 5", len(seen), pages)
	}
}
