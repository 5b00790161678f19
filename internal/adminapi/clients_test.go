package adminapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/adminapi/apitest"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
)

// problemOf checks that r is a problem of the type and status, and
// returns it.
func problemOf(t *testing.T, r apitest.Response, status int, typ string) admin.Problem {
	t.Helper()
	var p admin.Problem
	if r.Status != status || r.Header.Get("Content-Type") != "application/problem+json" {
		body := string(r.Body)
		if len(body) > 300 {
			body = body[:300] + "…"
		}
		t.Fatalf("got %d (%s) %s, want %d application/problem+json", r.Status, r.Header.Get("Content-Type"), body, status)
	}
	r.JSON(t, &p)
	if p.Type != typ || p.Status != status || p.Title == "" {
		t.Errorf("problem %+v: want type %s, status %d and a title", p, typ, status)
	}
	return p
}

func TestClientCRUD(t *testing.T) {
	s := apitest.Start(t)
	tok := s.AdminToken()

	r := s.Do("POST", "/admin/v1/clients", tok, admin.NewClient{Name: "Acme sync", Scopes: []string{"orders", "reports"}, Accounts: []string{"acme"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var created admin.Client
	r.JSON(t, &created)
	if created.ClientSecret == "" || len(created.Secrets) != 1 || created.Name != "Acme sync" {
		t.Fatalf("created client %+v: want a secret, its metadata and the name", created)
	}
	if got, want := r.Header.Get("Location"), "/admin/v1/clients/"+created.ClientID; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	etag := r.Header.Get("ETag")
	// The secret works at the token endpoint.
	s.TokenFor(created.ClientID, created.ClientSecret, "orders account:acme")

	r = s.Do("GET", "/admin/v1/clients/"+created.ClientID, tok, nil)
	var got admin.Client
	r.JSON(t, &got)
	if r.Status != 200 || got.ClientSecret != "" || got.ClientID != created.ClientID {
		t.Fatalf("get: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("ETag") != etag || etag == "" {
		t.Errorf("GET's ETag %q differs from the create's %q", r.Header.Get("ETag"), etag)
	}

	// Merge patch with the current ETag; null resets a member.
	r = s.Do("PATCH", "/admin/v1/clients/"+created.ClientID, tok, `{"name":"Acme nightly sync","scopes":["orders"],"description":null}`,
		"Content-Type", "application/merge-patch+json", "If-Match", etag)
	if r.Status != 200 {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &got)
	if got.Name != "Acme nightly sync" || !slices.Equal(got.Scopes, []string{"orders"}) || !slices.Equal(got.Accounts, []string{"acme"}) {
		t.Errorf("patched client %+v", got)
	}
	newTag := r.Header.Get("ETag")
	if newTag == etag || newTag == "" {
		t.Errorf("ETag after the patch %q, want a new one (was %q)", newTag, etag)
	}

	// A second admin with the old ETag gets 412 and changes nothing.
	r = s.Do("PATCH", "/admin/v1/clients/"+created.ClientID, tok, `{"name":"lost update"}`,
		"Content-Type", "application/merge-patch+json", "If-Match", etag)
	if p := problemOf(t, r, http.StatusPreconditionFailed, admin.ProblemPrecondition); p.Field != "If-Match" {
		t.Errorf("412 problem names field %q, want If-Match", p.Field)
	}
	r = s.Do("DELETE", "/admin/v1/clients/"+created.ClientID, tok, nil, "If-Match", etag)
	problemOf(t, r, http.StatusPreconditionFailed, admin.ProblemPrecondition)
	if c, _ := s.Clients.Get(context.Background(), created.ClientID); c.Name != "Acme nightly sync" {
		t.Errorf("after the stale updates the name is %q", c.Name)
	}

	r = s.Do("DELETE", "/admin/v1/clients/"+created.ClientID, tok, nil, "If-Match", newTag)
	if r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	problemOf(t, s.Do("GET", "/admin/v1/clients/"+created.ClientID, tok, nil), http.StatusNotFound, admin.ProblemNotFound)

	// Every change is audited with the calling client.
	events, err := s.Store.ListAudit(context.Background(), store.AuditFilter{Target: created.ClientID})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
		if !strings.HasPrefix(e.Actor, "api:") {
			t.Errorf("audit event %s by %q, want the calling client (api:...)", e.Action, e.Actor)
		}
	}
	if want := []string{"client.delete", "client.update", "client.create"}; !slices.Equal(actions, want) {
		t.Errorf("audit trail %q, want %q", actions, want)
	}
}

func TestClientListPages(t *testing.T) {
	s := apitest.Start(t)
	tok := s.AdminToken()
	ctx := context.Background()
	want := map[string]bool{}
	for i := range 120 {
		acct := []string{"acme"}
		if i%3 == 0 {
			acct = []string{"globex"}
		}
		c, _, err := s.Clients.Create(ctx, "test", clients.Spec{ID: fmt.Sprintf("c-%03d", i), Name: fmt.Sprintf("Sync job %d", i), Accounts: acct})
		if err != nil {
			t.Fatal(err)
		}
		want[c.ID] = true
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		r := s.Do("GET", "/admin/v1/clients?limit=50&cursor="+cursor, tok, nil)
		var p admin.Page[admin.Client]
		r.JSON(t, &p)
		if r.Status != 200 {
			t.Fatalf("list: %d %s", r.Status, r.Body)
		}
		pages++
		for _, c := range p.Items {
			if seen[c.ClientID] {
				t.Errorf("client %s on two pages", c.ClientID)
			}
			seen[c.ClientID] = true
		}
		if p.NextCursor == "" {
			break
		}
		if len(p.Items) != 50 {
			t.Errorf("a page before the last has %d items, want 50", len(p.Items))
		}
		cursor = p.NextCursor
	}
	// 120 made here, and the caller's own client.
	if len(seen) != 121 || pages != 3 {
		t.Errorf("pages: %d clients on %d pages, want 121 on 3", len(seen), pages)
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("client %s never listed", id)
		}
	}

	var p admin.Page[admin.Client]
	s.Do("GET", "/admin/v1/clients?q=JOB+11&limit=200", tok, nil).JSON(t, &p)
	if ids := clientIDs(p.Items); !slices.Equal(ids, []string{"c-011", "c-110", "c-111", "c-112", "c-113", "c-114", "c-115", "c-116", "c-117", "c-118", "c-119"}) {
		t.Errorf("q=JOB 11: got %q", ids)
	}
	s.Do("GET", "/admin/v1/clients?account=globex&limit=200", tok, nil).JSON(t, &p)
	if len(p.Items) != 40 {
		t.Errorf("account=globex: %d clients, want 40", len(p.Items))
	}

	for _, q := range []string{"limit=0", "limit=201", "limit=x"} {
		if p := problemOf(t, s.Do("GET", "/admin/v1/clients?"+q, tok, nil), 400, admin.ProblemInvalid); p.Field != "limit" {
			t.Errorf("%s: problem field %q, want limit", q, p.Field)
		}
	}
	if p := problemOf(t, s.Do("GET", "/admin/v1/clients?cursor=!!!", tok, nil), 400, admin.ProblemInvalid); p.Field != "cursor" {
		t.Errorf("bad cursor: problem field %q", p.Field)
	}
	problemOf(t, s.Do("GET", "/admin/v1/clients?q=%zz", tok, nil), 400, admin.ProblemInvalid)
}

func clientIDs(cs []admin.Client) []string {
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ClientID)
	}
	return ids
}

// TestProblems: every kind of error is a problem of its own type.
func TestProblems(t *testing.T) {
	s := apitest.Start(t)
	tok := s.AdminToken()
	read := s.Token([]string{adminapi.ScopeAdminRead}, nil, adminapi.ScopeAdminRead)
	s.Do("POST", "/admin/v1/clients", tok, admin.NewClient{ClientID: "taken", Name: "Taken"})

	for _, tt := range []struct {
		name, method, path, tok string
		body                    any
		header                  []string
		status                  int
		typ, field              string
	}{
		{"no token", "GET", "/admin/v1/clients", "", nil, nil, 401, admin.ProblemUnauthorized, ""},
		{"bad token", "GET", "/admin/v1/clients", "not-a-jwt", nil, nil, 401, admin.ProblemUnauthorized, ""},
		{"read-only token writes", "POST", "/admin/v1/clients", read, admin.NewClient{Name: "x"}, nil, 403, admin.ProblemForbidden, ""},
		{"unknown path", "GET", "/admin/v1/nothing", tok, nil, nil, 404, admin.ProblemNotFound, ""},
		{"unknown client", "GET", "/admin/v1/clients/nobody", tok, nil, nil, 404, admin.ProblemNotFound, ""},
		{"method", "PUT", "/admin/v1/clients", tok, nil, nil, 405, admin.ProblemMethod, ""},
		{"content type", "POST", "/admin/v1/clients", tok, "name=x", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, admin.ProblemUnsupportedType, "Content-Type"},
		{"not JSON", "POST", "/admin/v1/clients", tok, "{", nil, 400, admin.ProblemMalformed, ""},
		{"unknown member", "POST", "/admin/v1/clients", tok, `{"name":"x","scope":"orders"}`, nil, 400, admin.ProblemMalformed, "/scope"},
		{"wrong type", "POST", "/admin/v1/clients", tok, `{"name":"x","scopes":"orders"}`, nil, 400, admin.ProblemMalformed, "/scopes"},
		{"invalid", "POST", "/admin/v1/clients", tok, admin.NewClient{Name: " "}, nil, 422, admin.ProblemInvalid, ""},
		{"unknown scope", "POST", "/admin/v1/clients", tok, admin.NewClient{Name: "x", Scopes: []string{"nope"}}, nil, 422, admin.ProblemInvalid, ""},
		{"conflict", "POST", "/admin/v1/clients", tok, admin.NewClient{ClientID: "taken", Name: "Again"}, nil, 409, admin.ProblemConflict, ""},
		{"too large", "POST", "/admin/v1/clients", tok, `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, nil, 413, admin.ProblemTooLarge, ""},
		{"read-only member", "PATCH", "/admin/v1/clients/taken", tok, `{"client_id":"other"}`, []string{"Content-Type", "application/merge-patch+json"}, 422, admin.ProblemInvalid, "/client_id"},
		{"bad grace", "POST", "/admin/v1/clients/taken/secrets", tok, `{"grace":"soon"}`, nil, 422, admin.ProblemInvalid, "/grace"},
		{"unknown secret", "DELETE", "/admin/v1/clients/taken/secrets/sec_nope", tok, nil, nil, 404, admin.ProblemNotFound, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := problemOf(t, s.Do(tt.method, tt.path, tt.tok, tt.body, tt.header...), tt.status, tt.typ)
			if p.Field != tt.field {
				t.Errorf("problem field %q, want %q (%+v)", p.Field, tt.field, p)
			}
		})
	}
	r := s.Do("PUT", "/admin/v1/clients", tok, nil)
	if allow := r.Header.Get("Allow"); allow != "GET, HEAD, POST" {
		t.Errorf("405 Allow = %q, want GET, HEAD, POST", allow)
	}
	if r := s.Do("GET", "/admin/v1/clients", "", nil); !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 WWW-Authenticate = %q, want a Bearer challenge", r.Header.Get("WWW-Authenticate"))
	}
}

// TestTenantIsolation: a token restricted to an account manages only that
// account's clients, on every client route; the other account's are 404.
func TestTenantIsolation(t *testing.T) {
	s := apitest.Start(t)
	pid, psecret := s.Client([]string{adminapi.ScopeClients}, []string{store.AnyAccount})
	acme := s.TokenFor(pid, psecret, "gatehouse:clients account:acme")
	globex := s.TokenFor(pid, psecret, "gatehouse:clients account:globex")

	create := func(tok string, body any) admin.Client {
		t.Helper()
		r := s.Do("POST", "/admin/v1/clients", tok, body)
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		var c admin.Client
		r.JSON(t, &c)
		return c
	}
	a := create(acme, admin.NewClient{Name: "Acme's integration"})
	if !slices.Equal(a.Accounts, []string{"acme"}) || !slices.Equal(a.Scopes, []string{"orders"}) {
		t.Errorf("tenant-created client: accounts %q, scopes %q; want [acme] and the self-service defaults [orders]", a.Accounts, a.Scopes)
	}
	g := create(globex, admin.NewClient{Name: "Globex's integration", Scopes: []string{"reports"}})
	// An admin's client for acme with more accounts is not acme's to manage.
	shared, _, err := s.Clients.Create(context.Background(), "test", clients.Spec{Name: "shared", Accounts: []string{"acme", "globex"}})
	if err != nil {
		t.Fatal(err)
	}

	var page admin.Page[admin.Client]
	s.Do("GET", "/admin/v1/clients", acme, nil).JSON(t, &page)
	if ids := clientIDs(page.Items); !slices.Equal(ids, []string{a.ClientID}) {
		t.Errorf("acme lists %q, want only %q", ids, a.ClientID)
	}
	s.Do("GET", "/admin/v1/clients?account=globex", acme, nil).JSON(t, &page)
	if len(page.Items) != 0 {
		t.Errorf("acme lists %q with ?account=globex, want none", clientIDs(page.Items))
	}

	for _, other := range []string{g.ClientID, shared.ID} {
		for _, rt := range []struct{ method, path, body string }{
			{"GET", "/admin/v1/clients/" + other, ""},
			{"PATCH", "/admin/v1/clients/" + other, `{"name":"mine now"}`},
			{"DELETE", "/admin/v1/clients/" + other, ""},
			{"GET", "/admin/v1/clients/" + other + "/secrets", ""},
			{"POST", "/admin/v1/clients/" + other + "/secrets", `{"grace":"0s"}`},
			{"DELETE", "/admin/v1/clients/" + other + "/secrets/any", ""},
			{"POST", "/admin/v1/clients/" + other + "/revoke-tokens", ""},
		} {
			var body any
			if rt.body != "" {
				body = rt.body
			}
			problemOf(t, s.Do(rt.method, rt.path, acme, body), http.StatusNotFound, admin.ProblemNotFound)
		}
	}
	if c, _ := s.Clients.Get(context.Background(), g.ClientID); c.Name != "Globex's integration" || len(c.Secrets) != 1 {
		t.Errorf("globex's client after acme's attempts: %+v", c)
	}

	// A tenant gives only self-service scopes, never system ones, and
	// binds clients to its own account only.
	problemOf(t, s.Do("POST", "/admin/v1/clients", acme, admin.NewClient{Name: "x", Scopes: []string{"billing"}}), 422, admin.ProblemInvalid)
	problemOf(t, s.Do("POST", "/admin/v1/clients", acme, admin.NewClient{Name: "x", Scopes: []string{adminapi.ScopeAdmin}}), 403, admin.ProblemForbidden)
	problemOf(t, s.Do("POST", "/admin/v1/clients", acme, admin.NewClient{Name: "x", Accounts: []string{"globex"}}), 422, admin.ProblemInvalid)
	problemOf(t, s.Do("PATCH", "/admin/v1/clients/"+a.ClientID, acme, `{"accounts":["acme","globex"]}`, "Content-Type", "application/merge-patch+json"), 422, admin.ProblemInvalid)
	problemOf(t, s.Do("PATCH", "/admin/v1/clients/"+a.ClientID, acme, `{"scopes":["billing"]}`, "Content-Type", "application/merge-patch+json"), 422, admin.ProblemInvalid)
	// And reaches nothing but clients (and the catalog).
	for _, p := range []string{"/admin/v1/keys", "/admin/v1/audit"} {
		problemOf(t, s.Do("GET", p, acme, nil), http.StatusForbidden, admin.ProblemForbidden)
	}
	if r := s.Do("GET", "/admin/v1/scopes", acme, nil); r.Status != 200 {
		t.Errorf("GET /scopes as a tenant: %d %s", r.Status, r.Body)
	}

	// What it may do to its own client works, and is audited with the account.
	r := s.Do("POST", "/admin/v1/clients/"+a.ClientID+"/secrets", acme, `{"grace":"0s"}`)
	if r.Status != 201 {
		t.Fatalf("acme rotates its client's secret: %d %s", r.Status, r.Body)
	}
	events, err := s.Store.ListAudit(context.Background(), store.AuditFilter{Target: a.ClientID, Action: "client.rotate_secret"})
	if err != nil || len(events) != 1 || events[0].Actor != "api:"+pid+" account:acme" {
		t.Errorf("audit of the rotation: %+v, %v; want one by api:%s account:acme", events, err, pid)
	}
}

// TestSystemScopesNeedAdmin: a gatehouse:clients token cannot make or take
// over an administrator's credential.
func TestSystemScopesNeedAdmin(t *testing.T) {
	s := apitest.Start(t)
	mgr := s.Token([]string{adminapi.ScopeClients}, nil, adminapi.ScopeClients)
	adminID, _ := s.Client([]string{adminapi.ScopeAdmin}, nil)

	problemOf(t, s.Do("POST", "/admin/v1/clients", mgr, admin.NewClient{Name: "x", Scopes: []string{adminapi.ScopeAdmin}}), 403, admin.ProblemForbidden)
	for _, rt := range []struct{ method, path, body string }{
		{"POST", "/admin/v1/clients/" + adminID + "/secrets", `{"grace":"0s"}`},
		{"PATCH", "/admin/v1/clients/" + adminID, `{"name":"mine"}`},
		{"DELETE", "/admin/v1/clients/" + adminID, ""},
	} {
		var body any
		if rt.body != "" {
			body = rt.body
		}
		var h []string
		if rt.method == "PATCH" {
			h = []string{"Content-Type", "application/merge-patch+json"}
		}
		problemOf(t, s.Do(rt.method, rt.path, mgr, body, h...), 403, admin.ProblemForbidden)
	}
	// It still manages ordinary clients, and an admin may give system scopes.
	if r := s.Do("POST", "/admin/v1/clients", mgr, admin.NewClient{Name: "ordinary"}); r.Status != 201 {
		t.Errorf("gatehouse:clients creates an ordinary client: %d %s", r.Status, r.Body)
	}
	if r := s.Do("POST", "/admin/v1/clients", s.AdminToken(), admin.NewClient{Name: "ci", Scopes: []string{adminapi.ScopeAdminRead}}); r.Status != 201 {
		t.Errorf("an admin gives gatehouse:admin:read: %d %s", r.Status, r.Body)
	}
}

func TestIdempotentCreate(t *testing.T) {
	s := apitest.Start(t)
	tok := s.AdminToken()
	body := admin.NewClient{Name: "Retried"}
	first := s.Do("POST", "/admin/v1/clients", tok, body, "Idempotency-Key", "key-1")
	again := s.Do("POST", "/admin/v1/clients", tok, body, "Idempotency-Key", "key-1")
	if first.Status != 201 || again.Status != 201 || string(first.Body) != string(again.Body) {
		t.Fatalf("retry with the same key: %d %s then %d %s, want the same 201 twice", first.Status, first.Body, again.Status, again.Body)
	}
	if again.Header.Get("Idempotent-Replayed") != "true" || first.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("Idempotent-Replayed: first %q, retry %q", first.Header.Get("Idempotent-Replayed"), again.Header.Get("Idempotent-Replayed"))
	}
	if again.Header.Get("Location") != first.Header.Get("Location") || again.Header.Get("ETag") != first.Header.Get("ETag") {
		t.Errorf("replayed headers differ: %v vs %v", again.Header, first.Header)
	}
	var c admin.Client
	again.JSON(t, &c)
	s.TokenFor(c.ClientID, c.ClientSecret, "orders") // the replayed secret works

	problemOf(t, s.Do("POST", "/admin/v1/clients", tok, admin.NewClient{Name: "Other"}, "Idempotency-Key", "key-1"), 422, admin.ProblemIdempotency)
	problemOf(t, s.Do("POST", "/admin/v1/clients", tok, admin.NewClient{Name: "x"}, "Idempotency-Key", "bad key"), 400, admin.ProblemInvalid)

	// Another caller's key is its own.
	other := s.AdminToken()
	if r := s.Do("POST", "/admin/v1/clients", other, body, "Idempotency-Key", "key-1"); r.Status != 201 || string(r.Body) == string(first.Body) {
		t.Errorf("another caller with the same key: %d %s, want a new client", r.Status, r.Body)
	}
	// A failed request keeps nothing: its retry runs.
	problemOf(t, s.Do("POST", "/admin/v1/clients", tok, admin.NewClient{Name: " "}, "Idempotency-Key", "key-2"), 422, admin.ProblemInvalid)
	if r := s.Do("POST", "/admin/v1/clients", tok, admin.NewClient{Name: "Fixed"}, "Idempotency-Key", "key-2"); r.Status != 201 {
		t.Errorf("retry of a failed request with its key: %d %s", r.Status, r.Body)
	}

	var page admin.Page[admin.Client]
	s.Do("GET", "/admin/v1/clients?q=Retried", tok, nil).JSON(t, &page)
	if len(page.Items) != 2 { // one for each caller
		t.Errorf("clients named Retried: %d, want 2", len(page.Items))
	}
}

func TestSecrets(t *testing.T) {
	s := apitest.Start(t)
	tok := s.AdminToken()
	var c admin.Client
	s.Do("POST", "/admin/v1/clients", tok, admin.NewClient{Name: "Rotating"}).JSON(t, &c)

	r := s.Do("POST", "/admin/v1/clients/"+c.ClientID+"/secrets", tok, `{"grace":"1h"}`)
	var rot admin.Rotation
	r.JSON(t, &rot)
	if r.Status != 201 || rot.ClientSecret == "" || rot.GraceSeconds != 3600 || len(rot.Secrets) != 2 {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	s.TokenFor(c.ClientID, c.ClientSecret, "orders")   // old, in its grace period
	s.TokenFor(c.ClientID, rot.ClientSecret, "orders") // new

	var secrets admin.Page[admin.Secret]
	r = s.Do("GET", "/admin/v1/clients/"+c.ClientID+"/secrets", tok, nil)
	r.JSON(t, &secrets)
	if len(secrets.Items) != 2 || strings.Contains(string(r.Body), rot.ClientSecret) || strings.Contains(string(r.Body), "digest") {
		t.Errorf("secrets: %s", r.Body)
	}
	if r := s.Do("DELETE", "/admin/v1/clients/"+c.ClientID+"/secrets/"+c.Secrets[0].ID, tok, nil); r.Status != 204 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	got, err := s.Clients.Get(context.Background(), c.ClientID)
	if err != nil || len(got.Secrets) != 1 || got.Secrets[0].ID != rot.SecretID {
		t.Errorf("after revoking the old secret: %+v, %v", got.Secrets, err)
	}
}

// TestDisabledCallerCutOff: disabling the calling client stops its tokens
// at once, though they are still unexpired.
func TestDisabledCallerCutOff(t *testing.T) {
	s := apitest.Start(t)
	id, secret := s.Client([]string{adminapi.ScopeAdmin}, nil)
	tok := s.TokenFor(id, secret, adminapi.ScopeAdmin)
	if r := s.Do("GET", "/admin/v1/clients", tok, nil); r.Status != 200 {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	disabled := true
	if _, err := s.Clients.Update(context.Background(), "test", id, clients.Patch{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	problemOf(t, s.Do("GET", "/admin/v1/clients", tok, nil), 401, admin.ProblemUnauthorized)
}

// TestRevokeTokens: every token issued to the client until now stops
// working (here: at the admin API itself, which checks each call), and a
// new one works.
func TestRevokeTokens(t *testing.T) {
	s := apitest.Start(t)
	tok := s.AdminToken()
	id, secret := s.Client([]string{adminapi.ScopeAdminRead}, nil)
	reader := s.TokenFor(id, secret, adminapi.ScopeAdminRead)
	if r := s.Do("GET", "/admin/v1/clients", reader, nil); r.Status != 200 {
		t.Fatalf("before: %d %s", r.Status, r.Body)
	}
	r := s.Do("POST", "/admin/v1/clients/"+id+"/revoke-tokens", tok, nil)
	var rev admin.TokenRevocation
	r.JSON(t, &rev)
	if r.Status != 200 || rev.ClientID != id || rev.IssuedBefore.IsZero() || rev.IATBefore != rev.IssuedBefore.Unix()+1 {
		t.Fatalf("revoke-tokens: %d %s", r.Status, r.Body)
	}
	problemOf(t, s.Do("GET", "/admin/v1/clients", reader, nil), 401, admin.ProblemUnauthorized)
	events, err := s.Store.ListAudit(context.Background(), store.AuditFilter{Target: id, Action: "client.revoke_tokens"})
	if err != nil || len(events) != 1 || !strings.HasPrefix(events[0].Actor, "api:") {
		t.Errorf("audit: %+v, %v", events, err)
	}
	time.Sleep(time.Until(time.Unix(rev.IATBefore, 0)))
	if r := s.Do("GET", "/admin/v1/clients", s.TokenFor(id, secret, adminapi.ScopeAdminRead), nil); r.Status != 200 {
		t.Errorf("a token issued after the revocation's second: %d %s", r.Status, r.Body)
	}
	problemOf(t, s.Do("POST", "/admin/v1/clients/nobody/revoke-tokens", tok, nil), 404, admin.ProblemNotFound)
}

func TestClientResources(t *testing.T) {
	s := apitest.Start(t)
	r := s.Do("POST", "/admin/v1/clients", s.AdminToken(), admin.NewClient{Name: "reports", Scopes: []string{"reports:read"}, Resources: []string{apitest.ResourceID}})
	if r.Status != 201 {
		t.Fatalf("create with a resource: %d %s", r.Status, r.Body)
	}
	var c admin.Client
	r.JSON(t, &c)
	if !slices.Equal(c.Resources, []string{apitest.ResourceID}) || !slices.Equal(c.Scopes, []string{"reports:read"}) {
		t.Errorf("created: resources %q, scopes %q; want [%s], [reports:read]", c.Resources, c.Scopes, apitest.ResourceID)
	}
	// Without the resource, its scope is unknown.
	problemOf(t, s.Do("PATCH", "/admin/v1/clients/"+c.ClientID, s.AdminToken(), `{"resources":[]}`, "Content-Type", "application/merge-patch+json"), 422, admin.ProblemInvalid)
	problemOf(t, s.Do("POST", "/admin/v1/clients", s.AdminToken(), admin.NewClient{Name: "x", Resources: []string{"https://unknown.test"}}), 422, admin.ProblemInvalid)
	r = s.Do("PATCH", "/admin/v1/clients/"+c.ClientID, s.AdminToken(), `{"resources":null,"scopes":["orders"]}`, "Content-Type", "application/merge-patch+json")
	if r.Status != 200 {
		t.Fatalf("patch resources away: %d %s", r.Status, r.Body)
	}
	var patched admin.Client
	r.JSON(t, &patched)
	if len(patched.Resources) != 0 {
		t.Errorf("patched: resources %q, want none", patched.Resources)
	}
	// A tenant's clients stay on the default resource.
	pid, psecret := s.Client([]string{adminapi.ScopeClients}, []string{store.AnyAccount})
	acme := s.TokenFor(pid, psecret, "gatehouse:clients account:acme")
	problemOf(t, s.Do("POST", "/admin/v1/clients", acme, admin.NewClient{Name: "acme", Resources: []string{apitest.ResourceID}}), 403, admin.ProblemForbidden)
}
