package console_test

import (
	"context"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/console"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/usage"
	"github.com/gatehouse/gatehouse/internal/users"
	"github.com/gatehouse/gatehouse/scope"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// zeroReader makes cookie values and CSRF tokens predictable.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// countReader makes distinct but predictable random values.
type countReader struct{ n byte }

func (c *countReader) Read(p []byte) (int, error) {
	for i := range p {
		c.n++
		p[i] = c.n
	}
	return len(p), nil
}

func TestPagesGolden(t *testing.T) {
	var svc *clients.Service
	var us *usage.Service
	h := newHarnessWith(t, users.Options{Rand: zeroReader{}}, func(o *console.Options) {
		o.Rand = zeroReader{}
		o.CSRFKey = []byte("golden test key")
		st := o.Store.(store.Store)
		svc = clients.NewService(st, scope.Default(), 30*24*time.Hour, o.Now, &countReader{})
		k, err := token.NewKeyring(st, token.Config{MasterKey: make([]byte, 32), Now: o.Now, Rand: zeroReader{}})
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Init(context.Background()); err != nil {
			t.Fatal(err)
		}
		o.Clients, o.Keys = svc, k
		us = usage.New(usage.Options{Store: st, Now: o.Now})
		o.Usage = us
	})
	h.createUser("alice", store.RoleAdmin)
	pages := map[string]string{}
	pages["login"] = h.get("/console/login?next=/console/").body
	pages["login-failed"] = h.post("/console/login", url.Values{
		"csrf_token": {csrfOf(t, pages["login"])}, "username": {"alice"}, "password": {"wrong password!"}, "next": {"/console/"},
	}).body
	pages["setup-invalid"] = h.get("/console/setup?token=nope").body
	pages["set-password"] = h.get("/console/set-password").body
	pages["set-password-invalid"] = h.post("/console/set-password", url.Values{
		"csrf_token": {csrfOf(t, pages["set-password"])}, "token": {"nope"}, "password": {pw}, "password2": {pw},
	}).body
	h.login("alice", pw, "")
	pages["home"] = h.get("/console/").body
	pages["not-found"] = h.get("/console/nope").body
	if _, _, err := svc.Create(context.Background(), "test", clients.Spec{Name: "Reports", ID: "reports",
		Scopes: []string{"profile", "api:read-only"}, TokenTTL: 12 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	pages["apps"] = h.get("/console/apps").body
	pages["app-new"] = h.get("/console/apps/new").body
	pages["app-new-invalid"] = h.post("/console/apps/new", url.Values{"csrf_token": {csrfOf(t, pages["app-new"])},
		"name": {"Web <app>"}, "client_id": {"x"}, "grant_types": {"authorization_code"}, "scopes": {"search"}}).body
	created := h.post("/console/apps/new", url.Values{"csrf_token": {csrfOf(t, pages["app-new"])},
		"name": {"Payroll"}, "client_id": {"payroll"}, "grant_types": {"client_credentials"}, "scopes": {"profile"}})
	if created.code != http.StatusSeeOther {
		t.Fatalf("create app: status %d, want 303; body:\n%s", created.code, created.body)
	}
	pages["app-created"] = h.get(created.hdr.Get("Location")).body
	pages["app-created-gone"] = h.get(created.hdr.Get("Location")).body
	// The app's usage: two tokens from one address, calls through a gateway.
	us.Tally().Issued("reports", "203.0.113.7", h.clk.Now())
	us.Tally().Issued("reports", "203.0.113.7", h.clk.Now())
	us.Flush(context.Background())
	if err := us.Report(context.Background(), admin.UsageReport{Calls: []admin.UsageCalls{
		{ClientID: "reports", Pattern: "records/*/search", Allowed: 12, LastSeen: h.clk.Now()},
		{ClientID: "reports", Pattern: "*", Allowed: 3, Denied: map[string]int64{"insufficient_scope": 2}, LastSeen: h.clk.Now()},
	}}); err != nil {
		t.Fatal(err)
	}
	pages["app"] = h.get("/console/apps/reports").body
	pages["app-delete"] = h.get("/console/apps/reports/delete").body
	pages["keys"] = h.get("/console/keys").body
	pages["users"] = h.get("/console/users").body
	pages["audit"] = h.get("/console/audit").body
	pages["authorized-apps"] = h.get("/console/authorized-apps").body
	for name, got := range pages {
		got = strings.ReplaceAll(got, h.srv.URL, "http://issuer.test") // the test server's port varies
		path := filepath.Join("testdata", name+".golden")
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if d := cmp.Diff(string(want), got); d != "" {
			t.Errorf("page %s differs from %s (-want +got):\n%s", name, path, d)
		}
	}
}
