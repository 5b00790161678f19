package console_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/consents"
	"github.com/gatehouse/gatehouse/internal/console"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/users"
	"github.com/gatehouse/gatehouse/scope"
)

// adminHarness is a harness whose console has the apps and keys pages,
// with the admin "root" logged in on h.hc.
type adminHarness struct {
	*harness
	clients *clients.Service
	keys    *token.Keyring
}

func newAdminHarness(t *testing.T, opts ...func(*console.Options)) *adminHarness {
	t.Helper()
	a := &adminHarness{}
	h := newHarnessWith(t, users.Options{}, func(o *console.Options) {
		for _, f := range opts {
			f(o)
		}
		st := o.Store.(store.Store)
		a.clients = clients.NewService(st, scope.Default(), 30*24*time.Hour, o.Now, rand.Reader, systemNames(o.SystemScopes)...)
		master := bytes.Repeat([]byte{7}, 32)
		k, err := token.NewKeyring(st, token.Config{MasterKey: master, Now: o.Now, LeadTime: time.Hour, MaxTokenTTL: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Init(context.Background()); err != nil {
			t.Fatal(err)
		}
		a.keys = k
		o.Clients, o.Keys, o.Catalog = a.clients, k, scope.Default()
	})
	a.harness = h
	h.createUser("root", store.RoleAdmin)
	wantCode(t, "admin login", h.login("root", pw, ""), http.StatusSeeOther)
	return a
}

// postForm GETs page for its CSRF token and POSTs form (plus the token) to action.
func (h *harness) postForm(page, action string, form url.Values) resp {
	h.t.Helper()
	r := h.get(page)
	wantCode(h.t, "GET "+page, r, http.StatusOK)
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf_token", csrfOf(h.t, r.body))
	return h.post(action, form)
}

// as runs f with hc as the harness's browser.
func (h *harness) as(hc *http.Client, f func()) {
	old := h.hc
	h.hc = hc
	defer func() { h.hc = old }()
	f()
}

func wantBody(t *testing.T, what string, r resp, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.body, s) {
			t.Errorf("%s: body does not contain %q:\n%s", what, s, r.body)
		}
	}
}

func wantNoBody(t *testing.T, what string, r resp, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(r.body, s) {
			t.Errorf("%s: body contains %q, want it absent:\n%s", what, s, r.body)
		}
	}
}

var secretRE = regexp.MustCompile(`id="client-secret">([^<]+)<`)

func (a *adminHarness) mkClient(t *testing.T, sp clients.Spec) (store.Client, string) {
	t.Helper()
	if sp.Name == "" {
		sp.Name = "Test app"
	}
	c, s, err := a.clients.Create(context.Background(), "test", sp)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func TestAppCreateShowsSecretOnce(t *testing.T) {
	a := newAdminHarness(t)
	r := a.get("/console/apps")
	wantCode(t, "apps", r, http.StatusOK)
	wantBody(t, "apps", r, `id="new-app"`, `href="/console/apps/new"`, "Generate New OAuth Credentials")

	r = a.get("/console/apps/new")
	wantCode(t, "new app form", r, http.StatusOK)
	wantBody(t, "new app form", r, `id="app-form"`, `id="save"`, `name="scopes" value="profile"`,
		"Access your profile information", `name="grant_types" value="authorization_code"`, `name="token_endpoint_auth_method"`,
		`name="scopes" value="api" checked`) // the catalog's default scope, pre-ticked
	wantNoBody(t, "new app form", r, `name="scopes" value="profile" checked`)

	form := url.Values{
		"name": {"Payroll sync"}, "client_id": {"payroll"}, "website": {"https://payroll.example"},
		"grant_types": {"client_credentials"}, "scopes": {"profile", "api:read-only"},
		"accounts": {"acme, beta"}, "token_ttl": {"12h"}, "token_endpoint_auth_method": {"client_secret_basic"},
	}
	r = a.postForm("/console/apps/new", "/console/apps/new", form)
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.hdr.Get("Location"), "/console/apps/payroll/created?ticket=") {
		t.Fatalf("create: got %d Location %q, want 303 to /console/apps/payroll/created?ticket=...; body:\n%s", r.code, r.hdr.Get("Location"), r.body)
	}
	created := r.hdr.Get("Location")

	r = a.get(created)
	wantCode(t, "created page", r, http.StatusOK)
	if got := r.hdr.Get("Cache-Control"); got != "no-store" {
		t.Errorf("created page Cache-Control = %q, want no-store", got)
	}
	wantBody(t, "created page", r, `<code id="client-id">payroll</code>`, `id="copy-secret"`, "will not be shown again", `src="/console/static/copy.js"`)
	m := secretRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("created page shows no secret:\n%s", r.body)
	}
	c, err := a.clients.Get(context.Background(), "payroll")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Secrets) != 1 || !bytes.Equal(c.Secrets[0].Digest, secret.Digest(m[1])) {
		t.Errorf("the shown secret %q is not the client's secret", m[1])
	}
	if c.Name != "Payroll sync" || c.TokenTTL != 12*time.Hour || strings.Join(c.Scopes, " ") != "profile api:read-only" ||
		strings.Join(c.Accounts, ",") != "acme,beta" || c.Website != "https://payroll.example" {
		t.Errorf("stored client = %+v, not what the form said", c)
	}

	// Reload, back button: the secret is gone.
	r = a.get(created)
	wantCode(t, "created page again", r, http.StatusOK)
	wantBody(t, "created page again", r, `id="secret-gone"`, "no longer available")
	wantNoBody(t, "created page again", r, m[1], `id="client-secret"`)

	// The list shows the app; the search filters by name and client ID.
	for q, want := range map[string]bool{"": true, "PAYROLL": true, "sync": true, "payr": true, "zzz": false} {
		r = a.get("/console/apps?q=" + url.QueryEscape(q))
		if got := strings.Contains(r.body, `href="/console/apps/payroll"`); got != want {
			t.Errorf("search %q lists payroll: %v, want %v", q, got, want)
		}
	}
	a.mkClient(t, sp("Other", "other-app"))
	r = a.get("/console/apps?q=other")
	wantBody(t, "search other", r, `href="/console/apps/other-app"`)
	wantNoBody(t, "search other", r, `href="/console/apps/payroll"`)
}

func sp(name, id string) clients.Spec { return clients.Spec{Name: name, ID: id} }

func TestTicketBoundToSessionAndExpires(t *testing.T) {
	a := newAdminHarness(t)
	a.mkClient(t, sp("A", "app-a"))
	r := a.postForm("/console/apps/app-a", "/console/apps/app-a/secrets", url.Values{"grace": {"0"}})
	wantCode(t, "regenerate", r, http.StatusSeeOther)
	loc := r.hdr.Get("Location")

	// Another administrator's browser cannot use the ticket.
	a.createUser("other", store.RoleAdmin)
	a.as(a.newClient(), func() {
		wantCode(t, "other login", a.login("other", pw, ""), http.StatusSeeOther)
		r = a.get(loc)
		wantBody(t, "other admin", r, `id="secret-gone"`)
		wantNoBody(t, "other admin", r, `id="client-secret"`)
	})
	// After five minutes it is gone for the owner too.
	a.clk.Add(console.TicketValidity)
	r = a.get(loc)
	wantBody(t, "expired ticket", r, `id="secret-gone"`)
	wantNoBody(t, "expired ticket", r, `id="client-secret"`)
}

// TestAppFormSystemScopes: with the admin API on, an administrator can
// give an app its system scopes from the form.
func TestAppFormSystemScopes(t *testing.T) {
	a := newAdminHarness(t, func(o *console.Options) { o.SystemScopes = adminapi.SystemCatalog() })
	r := a.get("/console/apps/new")
	wantBody(t, "new app form", r, `name="scopes" value="gatehouse:admin"`, `name="scopes" value="gatehouse:clients"`, "(Gatehouse admin API)")
	form := url.Values{"name": {"Provisioning"}, "client_id": {"prov"}, "grant_types": {"client_credentials"},
		"scopes": {"gatehouse:clients"}, "token_endpoint_auth_method": {"client_secret_basic"}}
	r = a.postForm("/console/apps/new", "/console/apps/new", form)
	wantCode(t, "create", r, http.StatusSeeOther)
	c, err := a.clients.Get(context.Background(), "prov")
	if err != nil || !slices.Equal(c.Scopes, []string{"gatehouse:clients"}) {
		t.Errorf("created app: %+v, %v; want scopes [gatehouse:clients]", c.Scopes, err)
	}
	wantBody(t, "app page", a.get("/console/apps/prov"), "Manage OAuth clients and their secrets (Gatehouse admin API)")

	// Without the admin API, the form offers no system scope.
	b := newAdminHarness(t)
	wantNoBody(t, "new app form without the admin API", b.get("/console/apps/new"), "gatehouse:admin")
}

func TestAppFormValidation(t *testing.T) {
	a := newAdminHarness(t)
	form := url.Values{
		"name": {""}, "client_id": {"x"}, "redirect_uris": {"http://evil.example/cb"},
		"grant_types": {"authorization_code"}, "scopes": {"profile"}, "website": {"ftp://site"},
	}
	r := a.postForm("/console/apps/new", "/console/apps/new", form)
	wantCode(t, "invalid form", r, http.StatusUnprocessableEntity)
	wantBody(t, "invalid form", r, "name is required", "must be 3 to 64 characters", "must use https",
		"must be an http or https URL",
		`value="x"`, "http://evil.example/cb</textarea>", `name="scopes" value="profile" checked`,
		`name="grant_types" value="authorization_code" checked`, `id="app-form"`)

	form = url.Values{"name": {"Named"}, "grant_types": {"client_credentials"}, "token_ttl": {"forever"}}
	r = a.postForm("/console/apps/new", "/console/apps/new", form)
	wantCode(t, "bad ttl", r, http.StatusUnprocessableEntity)
	wantBody(t, "bad ttl", r, "token lifetime", `value="forever"`, `value="Named"`)

	// A redirect URI the browser would run or show itself: refused with a
	// specific reason, and the form keeps what was typed.
	form = url.Values{"name": {"Named"}, "grant_types": {"authorization_code"},
		"redirect_uris": {"https://ok.example/cb\r\njavascript:alert(document.cookie)\r\ndata:text/html,hi"}}
	r = a.postForm("/console/apps/new", "/console/apps/new", form)
	wantCode(t, "javascript redirect", r, http.StatusUnprocessableEntity)
	wantBody(t, "javascript redirect", r, "the javascript: scheme is not allowed", "the data: scheme is not allowed",
		"com.example.app:/callback", "javascript:alert(document.cookie)")

	// No grant type ticked: an error, not the default.
	r = a.postForm("/console/apps/new", "/console/apps/new", url.Values{"name": {"Named"}})
	wantCode(t, "no grant", r, http.StatusUnprocessableEntity)
	wantBody(t, "no grant", r, "at least one grant type is required")

	// A taken client ID.
	a.mkClient(t, sp("Taken", "taken"))
	r = a.postForm("/console/apps/new", "/console/apps/new", url.Values{"name": {"N"}, "client_id": {"taken"}, "grant_types": {"client_credentials"}})
	wantCode(t, "taken", r, http.StatusUnprocessableEntity)
	wantBody(t, "taken", r, "already taken")

	if cs, _ := a.clients.List(context.Background()); len(cs) != 1 {
		t.Errorf("%d clients after invalid forms, want 1", len(cs))
	}

	// A public client: no secret on the created page, and it says why.
	r = a.postForm("/console/apps/new", "/console/apps/new", url.Values{"name": {"SPA"}, "client_id": {"spa"},
		"grant_types": {"authorization_code"}, "redirect_uris": {"https://spa.example/cb\r\nhttp://localhost:3000/cb"},
		"token_endpoint_auth_method": {"none"}})
	wantCode(t, "public client", r, http.StatusSeeOther)
	r = a.get(r.hdr.Get("Location"))
	wantBody(t, "public created", r, "public client")
	wantNoBody(t, "public created", r, `id="client-secret"`, `id="secret-gone"`)
	c, err := a.clients.Get(context.Background(), "spa")
	if err != nil || c.TokenEndpointAuthMethod != store.AuthMethodNone || len(c.RedirectURIs) != 2 {
		t.Errorf("public client = %+v, %v", c, err)
	}
}

func TestMemberForbidden(t *testing.T) {
	a := newAdminHarness(t)
	a.mkClient(t, sp("A", "app-a"))
	admin := a.hc
	csrfAdmin := csrfOf(t, a.get("/console/").body)
	a.createUser("bob", store.RoleMember)
	a.hc = a.newClient()
	wantCode(t, "member login", a.login("bob", pw, ""), http.StatusSeeOther)
	home := a.get("/console/")
	wantNoBody(t, "member home", home, `href="/console/apps"`, `href="/console/keys"`, `href="/console/users"`)
	wantBody(t, "member home", home, `href="/console/authorized-apps"`)
	csrf := csrfOf(t, home.body)
	for _, p := range []string{"/console/apps", "/console/apps/new", "/console/apps/app-a", "/console/apps/app-a/delete",
		"/console/apps/app-a/created?ticket=x", "/console/keys", "/console/users", "/console/audit"} {
		wantCode(t, "member GET "+p, a.get(p), http.StatusForbidden)
	}
	for _, p := range []string{"/console/apps/new", "/console/apps/app-a", "/console/apps/app-a/secrets",
		"/console/apps/app-a/disable", "/console/apps/app-a/enable", "/console/apps/app-a/secrets/x/revoke",
		"/console/apps/app-a/delete", "/console/keys/rotate", "/console/users",
		"/console/users/x/disable", "/console/users/x/enable", "/console/users/x/password"} {
		wantCode(t, "member POST "+p, a.post(p, url.Values{"csrf_token": {csrf}, "name": {"Evil"}, "grace": {"0"},
			"grant_types": {"client_credentials"}, "username": {"evil"}, "password": {pw}, "password2": {pw}}), http.StatusForbidden)
	}
	wantCode(t, "member authorized apps", a.get("/console/authorized-apps"), http.StatusOK)
	if c, err := a.clients.Get(context.Background(), "app-a"); err != nil || c.Disabled || c.Name != "A" {
		t.Errorf("app after member POSTs = %+v, %v; want unchanged", c, err)
	}
	if cs, _ := a.clients.List(context.Background()); len(cs) != 1 {
		t.Errorf("%d clients after member POSTs, want 1", len(cs))
	}

	// Not logged in: to the login page.
	a.hc = a.newClient()
	wantLocation(t, "anonymous apps", a.get("/console/apps"), "/console/login?next=%2Fconsole%2Fapps")

	// An admin without the CSRF token, or with another session's: 403, nothing changes.
	a.hc = admin
	wantCode(t, "no csrf", a.post("/console/apps/new", url.Values{"name": {"N"}, "grant_types": {"client_credentials"}}), http.StatusForbidden)
	wantCode(t, "no csrf disable", a.post("/console/apps/app-a/disable", nil), http.StatusForbidden)
	wantCode(t, "member's csrf", a.post("/console/keys/rotate", url.Values{"csrf_token": {csrf}}), http.StatusForbidden)
	wantCode(t, "own csrf", a.post("/console/apps/app-a/disable", url.Values{"csrf_token": {csrfAdmin}}), http.StatusSeeOther)
	if cs, _ := a.clients.List(context.Background()); len(cs) != 1 || !cs[0].Disabled {
		t.Errorf("clients = %+v; want only app-a, disabled", cs)
	}
	if got := len(a.keys.Keys()); got != 1 {
		t.Errorf("%d keys, want 1", got)
	}
}

func TestAppDetailActions(t *testing.T) {
	a := newAdminHarness(t)
	ctx := context.Background()
	c, old := a.mkClient(t, clients.Spec{Name: "Billing", ID: "billing", Scopes: []string{"profile"}})
	page := "/console/apps/billing"
	r := a.get(page)
	wantCode(t, "detail", r, http.StatusOK)
	wantBody(t, "detail", r, `id="app-form"`, `id="regenerate-form"`, `name="grace"`, `id="regenerate"`, `<option value="7d"`,
		c.Secrets[0].ID, "client.create", `value="Billing"`)
	wantNoBody(t, "detail", r, old)

	// Edit.
	r = a.postForm(page, page, url.Values{"name": {"Billing v2"}, "grant_types": {"client_credentials"},
		"scopes": {"profile", "search"}, "token_ttl": {"1h"}, "accounts": {"*"}})
	wantLocation(t, "edit", r, page+"?done=updated")
	c, _ = a.clients.Get(ctx, "billing")
	if c.Name != "Billing v2" || strings.Join(c.Scopes, " ") != "profile search" || c.TokenTTL != time.Hour || strings.Join(c.Accounts, ",") != "*" {
		t.Errorf("after edit: %+v", c)
	}
	r = a.get(page + "?done=updated")
	wantBody(t, "after edit", r, "Changes saved.", `value="1h"`, "client.update")
	r = a.postForm(page, page, url.Values{"name": {""}, "grant_types": {"client_credentials"}, "token_ttl": {"1000d"}})
	wantCode(t, "invalid edit", r, http.StatusUnprocessableEntity)
	wantBody(t, "invalid edit", r, "name is required", "exceeds the configured maximum")

	// Regenerate with a grace period: the new secret once, the old one's expiry.
	a.clk.Add(time.Minute)
	r = a.postForm(page, page+"/secrets", url.Values{"grace": {"1h"}})
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.hdr.Get("Location"), page+"/created?ticket=") {
		t.Fatalf("regenerate: %d %q", r.code, r.hdr.Get("Location"))
	}
	loc := r.hdr.Get("Location")
	r = a.get(loc)
	m := secretRE.FindStringSubmatch(r.body)
	if m == nil || m[1] == old {
		t.Fatalf("regenerated page shows no new secret:\n%s", r.body)
	}
	expiry := a.clk.Now().Add(time.Hour).UTC().Format("2006-01-02 15:04 UTC")
	wantBody(t, "regenerated", r, "New secret for Billing v2", expiry)
	wantBody(t, "regenerated again", a.get(loc), `id="secret-gone"`)
	r = a.get(page)
	wantBody(t, "detail after regenerate", r, expiry, "client.rotate_secret")
	c, _ = a.clients.Get(ctx, "billing")
	if len(c.Secrets) != 2 || !c.Secrets[0].ExpiresAt.Equal(a.clk.Now().Add(time.Hour)) {
		t.Fatalf("secrets after regenerate: %+v", c.Secrets)
	}
	wantCode(t, "bad grace", a.postForm(page, page+"/secrets", url.Values{"grace": {"5y"}}), http.StatusBadRequest)

	// Revoke one secret.
	r = a.postForm(page, page+"/secrets/"+c.Secrets[0].ID+"/revoke", nil)
	wantLocation(t, "revoke", r, page+"?done=secret-revoked")
	c, _ = a.clients.Get(ctx, "billing")
	if len(c.Secrets) != 1 || !bytes.Equal(c.Secrets[0].Digest, secret.Digest(m[1])) {
		t.Errorf("after revoke: %+v, want only the new secret", c.Secrets)
	}
	wantCode(t, "revoke unknown", a.postForm(page, page+"/secrets/sec_nope/revoke", nil), http.StatusNotFound)

	// Disable and enable.
	wantLocation(t, "disable", a.postForm(page, page+"/disable", nil), page+"?done=disabled")
	if c, _ = a.clients.Get(ctx, "billing"); !c.Disabled {
		t.Error("not disabled")
	}
	wantBody(t, "disabled page", a.get(page), `id="enable"`, "disabled")
	wantBody(t, "disabled in list", a.get("/console/apps"), `badge off">disabled`)
	wantLocation(t, "enable", a.postForm(page, page+"/enable", nil), page+"?done=enabled")
	if c, _ = a.clients.Get(ctx, "billing"); c.Disabled {
		t.Error("not enabled")
	}

	// Delete, after a confirmation page.
	r = a.get(page + "/delete")
	wantCode(t, "delete page", r, http.StatusOK)
	wantBody(t, "delete page", r, `action="/console/apps/billing/delete"`, "cannot be undone")
	if _, err := a.clients.Get(ctx, "billing"); err != nil {
		t.Fatal("the confirmation page deleted the app")
	}
	wantLocation(t, "delete", a.postForm(page+"/delete", page+"/delete", nil), "/console/apps?done=deleted")
	if _, err := a.clients.Get(ctx, "billing"); !errors.Is(err, clients.ErrNotFound) {
		t.Errorf("after delete: Get = %v, want ErrNotFound", err)
	}
	wantCode(t, "deleted detail", a.get(page), http.StatusNotFound)

	// Every action is audited as the console user.
	evs, err := a.st.ListAudit(ctx, store.AuditFilter{Target: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		if e.Actor == "console:root" {
			got = append(got, e.Action)
		}
	}
	want := "client.delete client.update client.update client.revoke_secret client.rotate_secret client.update"
	if strings.Join(got, " ") != want {
		t.Errorf("console audit actions = %q, want %q", strings.Join(got, " "), want)
	}
}

func TestKeysRotate(t *testing.T) {
	a := newAdminHarness(t)
	r := a.get("/console/keys")
	wantCode(t, "keys", r, http.StatusOK)
	wantBody(t, "keys", r, `badge active">active`, `id="rotate"`)
	wantNoBody(t, "keys", r, `badge next">next`)
	wantLocation(t, "rotate", a.postForm("/console/keys", "/console/keys/rotate", nil), "/console/keys?done=rotated")
	ks := a.keys.Keys()
	if len(ks) != 2 || ks[1].State != token.StateNext {
		t.Fatalf("keys after rotate: %+v", ks)
	}
	r = a.get("/console/keys?done=rotated")
	wantBody(t, "keys after rotate", r, `badge next">next`, ks[1].ID, "A new signing key was added")
	evs, _ := a.st.ListAudit(context.Background(), store.AuditFilter{Action: "key.rotate"})
	if len(evs) != 1 || evs[0].Actor != "console:root" {
		t.Errorf("key.rotate events = %+v, want one by console:root", evs)
	}
}

func TestUsersPage(t *testing.T) {
	a := newAdminHarness(t)
	ctx := context.Background()
	r := a.postForm("/console/users", "/console/users", url.Values{"username": {"carol"}, "display_name": {"Carol C"},
		"role": {"member"}, "password": {pw}, "password2": {pw + "x"}})
	wantCode(t, "passwords differ", r, http.StatusUnprocessableEntity)
	wantBody(t, "passwords differ", r, "The two passwords differ.", `value="carol"`)
	r = a.postForm("/console/users", "/console/users", url.Values{"username": {"carol"}, "role": {"member"}, "password": {"short"}, "password2": {"short"}})
	wantCode(t, "short password", r, http.StatusUnprocessableEntity)
	wantBody(t, "short password", r, "12")
	r = a.postForm("/console/users", "/console/users", url.Values{"username": {"carol"}, "display_name": {"Carol C"},
		"role": {"member"}, "password": {pw}, "password2": {pw}})
	wantLocation(t, "create user", r, "/console/users?done=user-created")
	r = a.postForm("/console/users", "/console/users", url.Values{"username": {"Carol"}, "role": {"member"}, "password": {pw}, "password2": {pw}})
	wantBody(t, "taken", r, "That username is taken.")
	carol, err := a.users.GetByUsername(ctx, "carol")
	if err != nil || carol.DisplayName != "Carol C" || carol.Role != store.RoleMember {
		t.Fatalf("carol = %+v, %v", carol, err)
	}
	wantBody(t, "users", a.get("/console/users"), `id="user-carol"`, "Carol C")

	// Carol logs in; a password reset ends her session.
	carolHC := a.newClient()
	a.as(carolHC, func() { wantCode(t, "carol login", a.login("carol", pw, ""), http.StatusSeeOther) })
	newPW := "another long password"
	r = a.postForm("/console/users", "/console/users/"+carol.ID+"/password", url.Values{"password": {newPW}, "password2": {newPW}})
	wantLocation(t, "reset password", r, "/console/users?done=password-set")
	a.as(carolHC, func() {
		wantCode(t, "carol after reset", a.get("/console/"), http.StatusSeeOther)
		wantCode(t, "carol old password", a.login("carol", pw, ""), http.StatusOK)
		wantCode(t, "carol new password", a.login("carol", newPW, ""), http.StatusSeeOther)
	})
	r = a.postForm("/console/users", "/console/users/"+carol.ID+"/password", url.Values{"password": {"x"}, "password2": {"y"}})
	wantBody(t, "reset mismatch", r, "The two passwords differ")

	// Disable ends her session; enable lets her in again.
	wantLocation(t, "disable", a.postForm("/console/users", "/console/users/"+carol.ID+"/disable", nil), "/console/users?done=user-disabled")
	a.as(carolHC, func() { wantCode(t, "carol disabled", a.get("/console/"), http.StatusSeeOther) })
	if u, _ := a.users.Get(ctx, carol.ID); !u.Disabled {
		t.Error("carol not disabled")
	}
	wantLocation(t, "enable", a.postForm("/console/users", "/console/users/"+carol.ID+"/enable", nil), "/console/users?done=user-enabled")
	if u, _ := a.users.Get(ctx, carol.ID); u.Disabled {
		t.Error("carol still disabled")
	}
	wantCode(t, "disable unknown", a.postForm("/console/users", "/console/users/usr_nope/disable", nil), http.StatusNotFound)

	// An admin cannot disable themselves.
	root, _ := a.users.GetByUsername(ctx, "root")
	r = a.postForm("/console/users", "/console/users/"+root.ID+"/disable", nil)
	wantBody(t, "self disable", r, "You cannot disable your own account.")
	if u, _ := a.users.Get(ctx, root.ID); u.Disabled {
		t.Error("root disabled itself")
	}
	evs, _ := a.st.ListAudit(ctx, store.AuditFilter{Target: carol.ID})
	var got []string
	for _, e := range evs {
		got = append(got, e.Actor+" "+e.Action)
	}
	want := "console:root user.enable,console:root user.disable,console:root user.set_password,console:root user.create"
	if strings.Join(got, ",") != want {
		t.Errorf("audit = %q, want %q", strings.Join(got, ","), want)
	}
}

func TestAuditPage(t *testing.T) {
	a := newAdminHarness(t)
	a.mkClient(t, sp("One", "one"))
	a.mkClient(t, sp("Two", "two"))
	yes := true
	if _, err := a.clients.Update(context.Background(), "test", "one", clients.Patch{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	r := a.get("/console/audit")
	wantCode(t, "audit", r, http.StatusOK)
	wantBody(t, "audit", r, `href="/console/audit?target=one"`, `href="/console/audit?target=two"`, "client.update", "user.create")
	// Newest first.
	if i, j := strings.Index(r.body, "client.update"), strings.Index(r.body, "user.create"); i < 0 || j < 0 || i > j {
		t.Errorf("audit not newest first")
	}
	r = a.get("/console/audit?target=one")
	wantBody(t, "target filter", r, `value="one"`, "client.create", "client.update")
	wantNoBody(t, "target filter", r, `href="/console/audit?target=two"`, "user.create")
	r = a.get("/console/audit?action=client.create")
	wantBody(t, "action filter", r, `href="/console/audit?target=one"`, `href="/console/audit?target=two"`)
	wantNoBody(t, "action filter", r, "client.update</code>", "user.create")
	r = a.get("/console/audit?action=client.create&target=two")
	wantNoBody(t, "both filters", r, `href="/console/audit?target=one"`)
	wantBody(t, "both filters", r, `href="/console/audit?target=two"`)
	wantBody(t, "no match", a.get("/console/audit?target=nothing"), "No events match.")
}

func TestAuthorizedAppsRevoke(t *testing.T) {
	a := newAdminHarness(t)
	ctx := context.Background()
	a.mkClient(t, clients.Spec{Name: "Timesheets", ID: "timesheets", Website: "https://ts.example",
		GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{"https://ts.example/cb"},
		Scopes: []string{"profile", "search"}})
	a.mkClient(t, clients.Spec{Name: "Other", ID: "other", GrantTypes: []string{"authorization_code"},
		RedirectURIs: []string{"https://o.example/cb"}, Scopes: []string{"profile"}})
	bob := a.createUser("bob", store.RoleMember)
	now := a.clk.Now().UTC()
	for _, id := range []string{"timesheets", "other"} {
		if _, err := consents.New(a.st, nil, a.clk.Now).Approve(ctx, bob.ID, id, []string{"profile", "search"}[:map[string]int{"timesheets": 2, "other": 1}[id]]); err != nil {
			t.Fatal(err)
		}
		if err := a.st.CreateRefreshToken(ctx, store.RefreshToken{ID: "rt-" + id, FamilyID: "fam-" + id, ClientID: id, UserID: bob.ID,
			Scopes: []string{"profile"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	a.hc = a.newClient()
	wantCode(t, "bob login", a.login("bob", pw, ""), http.StatusSeeOther)
	r := a.get("/console/authorized-apps")
	wantCode(t, "authorized apps", r, http.StatusOK)
	wantBody(t, "authorized apps", r, `id="authorized-apps"`, "Timesheets", "https://ts.example", "Access your profile information",
		"Search records on your behalf", `class="danger small revoke-consent"`, `action="/console/authorized-apps/timesheets/revoke"`)
	csrf := csrfOf(t, r.body)

	wantCode(t, "revoke without csrf", a.post("/console/authorized-apps/timesheets/revoke", nil), http.StatusForbidden)
	r = a.post("/console/authorized-apps/timesheets/revoke", url.Values{"csrf_token": {csrf}})
	wantLocation(t, "revoke", r, "/console/authorized-apps?done=consent-revoked")
	if _, err := a.st.GetConsent(ctx, bob.ID, "timesheets"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("consent after revoke: %v, want ErrNotFound", err)
	}
	if rt, err := a.st.GetRefreshToken(ctx, "rt-timesheets"); err != nil || rt.RevokedAt.IsZero() {
		t.Errorf("refresh token after revoke: %+v, %v; want revoked", rt, err)
	}
	if rt, err := a.st.GetRefreshToken(ctx, "rt-other"); err != nil || !rt.RevokedAt.IsZero() {
		t.Errorf("other app's refresh token: %+v, %v; want live", rt, err)
	}
	r = a.get("/console/authorized-apps?done=consent-revoked")
	wantBody(t, "after revoke", r, "Access revoked.", "Other")
	wantNoBody(t, "after revoke", r, "Timesheets")
	wantCode(t, "revoke again", a.post("/console/authorized-apps/timesheets/revoke", url.Values{"csrf_token": {csrf}}), http.StatusNotFound)

	evs, _ := a.st.ListAudit(ctx, store.AuditFilter{Action: "consent.revoke"})
	if len(evs) != 1 || evs[0].Actor != "console:bob" || evs[0].Target != "timesheets" {
		t.Errorf("consent.revoke events = %+v, want one by console:bob on timesheets", evs)
	}
}

// TestAppProvidedSecretRefreshAndPKCE: the new-app form takes a secret
// provided by the operator (checked by the clients service, never written
// back into a page), refresh tokens with client credentials, and PKCE not
// required; the app page shows and edits them; regenerate takes a provided
// secret too.
func TestAppProvidedSecretRefreshAndPKCE(t *testing.T) {
	a := newAdminHarness(t)
	const short = "short-provided-secret"
	form := url.Values{"name": {"Broadcast"}, "client_id": {"broadcast"}, "grant_types": {"client_credentials"}, "client_secret": {short}}
	r := a.postForm("/console/apps/new", "/console/apps/new", form)
	wantCode(t, "short secret", r, http.StatusUnprocessableEntity)
	wantBody(t, "short secret", r, "at least 32 are required", "not filled in again", `value="Broadcast"`)
	wantNoBody(t, "short secret", r, short)

	// refresh_token ticked on a client_credentials app without the box: explained, not ignored.
	const provided = "provided-by-our-connectivity-team-0123456789"
	form = url.Values{"name": {"Broadcast"}, "client_id": {"broadcast"}, "grant_types": {"client_credentials", "refresh_token"},
		"scopes": {"search"}, "client_secret": {provided}}
	r = a.postForm("/console/apps/new", "/console/apps/new", form)
	wantCode(t, "refresh without the box", r, http.StatusUnprocessableEntity)
	wantBody(t, "refresh without the box", r, "Refresh tokens with client credentials too", "not filled in again")
	wantNoBody(t, "refresh without the box", r, provided)

	form.Set("refresh_with_client_credentials", "on")
	r = a.postForm("/console/apps/new", "/console/apps/new", form)
	wantCode(t, "create", r, http.StatusSeeOther)
	r = a.get(r.hdr.Get("Location"))
	wantBody(t, "created", r, `id="client-secret">`+provided+"<", `id="token-url">`+a.srv.URL+"/oauth/token<",
		`id="curl">curl -u &#34;broadcast:`+provided+`&#34; -d grant_type=client_credentials `+a.srv.URL+"/oauth/token<",
		"<code>search</code> <span class=\"muted\">Search records on your behalf</span>")
	c, err := a.clients.Get(context.Background(), "broadcast")
	if err != nil || !c.RefreshWithClientCredentials || len(c.Secrets) != 1 || c.Secrets[0].Hint != provided[:8] {
		t.Fatalf("created client: got %+v, %v; want refresh with client credentials and the provided secret", c, err)
	}

	r = a.get("/console/apps/broadcast")
	wantBody(t, "app page", r, `id="refresh-cc">also with client credentials`, `name="refresh_with_client_credentials" checked`)

	// Regenerate with a provided secret; a short one is refused and not shown.
	r = a.postForm("/console/apps/broadcast", "/console/apps/broadcast/secrets", url.Values{"grace": {"0"}, "client_secret": {short}})
	wantCode(t, "regenerate short", r, http.StatusUnprocessableEntity)
	wantBody(t, "regenerate short", r, "at least 32 are required")
	wantNoBody(t, "regenerate short", r, short)
	const second = "second-secret-from-the-connectivity-team-xyz"
	r = a.postForm("/console/apps/broadcast", "/console/apps/broadcast/secrets", url.Values{"grace": {"0"}, "client_secret": {second}})
	wantCode(t, "regenerate", r, http.StatusSeeOther)
	wantBody(t, "regenerated", a.get(r.hdr.Get("Location")), `id="client-secret">`+second+"<")

	// PKCE not required on a confidential authorization code app; shown and audited.
	form = url.Values{"name": {"Cerb"}, "client_id": {"cerb"}, "grant_types": {"authorization_code"},
		"redirect_uris": {"https://cerb.example/cb"}, "pkce_optional": {"on"}}
	r = a.postForm("/console/apps/new", "/console/apps/new", form)
	wantCode(t, "create without PKCE", r, http.StatusSeeOther)
	r = a.get("/console/apps/cerb")
	wantBody(t, "app page", r, `id="pkce"><span class="badge off">not required</span>`, `name="pkce_optional" checked`, "PKCE not required")
	// Unticking it on the edit page turns PKCE back on.
	r = a.postForm("/console/apps/cerb", "/console/apps/cerb", url.Values{"name": {"Cerb"}, "grant_types": {"authorization_code"},
		"redirect_uris": {"https://cerb.example/cb"}})
	wantCode(t, "edit", r, http.StatusSeeOther)
	if c, _ := a.clients.Get(context.Background(), "cerb"); c.PKCEOptional {
		t.Errorf("after unticking: PKCEOptional true, want false")
	}
	// DPoP required: ticked on the new-app form, kept, unticked on the edit page.
	form = url.Values{"name": {"Bound"}, "client_id": {"bound"}, "grant_types": {"client_credentials"}, "dpop_required": {"on"}}
	r = a.postForm("/console/apps/new", "/console/apps/new", form)
	wantCode(t, "create with DPoP required", r, http.StatusSeeOther)
	wantBody(t, "app page", a.get("/console/apps/bound"), `name="dpop_required" checked`)
	if c, _ := a.clients.Get(context.Background(), "bound"); !c.DPoPRequired {
		t.Errorf("after ticking DPoP required: DPoPRequired false, want true")
	}
	r = a.postForm("/console/apps/bound", "/console/apps/bound", url.Values{"name": {"Bound"}, "grant_types": {"client_credentials"}})
	wantCode(t, "edit", r, http.StatusSeeOther)
	if c, _ := a.clients.Get(context.Background(), "bound"); c.DPoPRequired {
		t.Errorf("after unticking: DPoPRequired true, want false")
	}
	// A public app cannot have it.
	form = url.Values{"name": {"SPA"}, "client_id": {"spa"}, "grant_types": {"authorization_code"},
		"redirect_uris": {"https://spa.example/cb"}, "token_endpoint_auth_method": {"none"}, "pkce_optional": {"on"}}
	r = a.postForm("/console/apps/new", "/console/apps/new", form)
	wantCode(t, "public without PKCE", r, http.StatusUnprocessableEntity)
	wantBody(t, "public without PKCE", r, "always needs PKCE")
}

// TestLoginNamesTheApp: the login page of an authorization request says
// which app is asking, also after a failed attempt; other logins do not.
func TestLoginNamesTheApp(t *testing.T) {
	a := newAdminHarness(t)
	a.mkClient(t, clients.Spec{Name: "Report Builder", ID: "reports", Website: "https://reports.example",
		GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{"https://reports.example/cb"}})
	next := "/oauth/authorize?" + url.Values{"client_id": {"reports"}, "response_type": {"code"}}.Encode()
	a.as(a.newClient(), func() {
		r := a.get("/console/login?next=" + url.QueryEscape(next))
		wantCode(t, "login", r, http.StatusOK)
		wantBody(t, "login", r, "Sign in to continue to <strong>Report Builder</strong>", `href="https://reports.example"`)
		r = a.post("/console/login", url.Values{"csrf_token": {csrfOf(t, r.body)}, "username": {"root"}, "password": {"wrong password!"}, "next": {next}})
		wantBody(t, "failed login", r, "Wrong username or password.", "Sign in to continue to <strong>Report Builder</strong>")
		for _, n := range []string{"/console/", "/oauth/authorize?client_id=nope", "/oauth/authorizex?client_id=reports"} {
			wantNoBody(t, "login next="+n, a.get("/console/login?next="+url.QueryEscape(n)), "continue to")
		}
	})
}

// TestAppCreateScopesAsTicked: the form's scopes are what the client gets;
// the defaults only come pre-ticked, so unticking them all means none.
func TestAppCreateScopesAsTicked(t *testing.T) {
	a := newAdminHarness(t)
	for _, tc := range []struct {
		id     string
		scopes []string
		want   string
	}{
		{"ticked-default", []string{"api"}, "api"},
		{"unticked", nil, ""},
	} {
		form := url.Values{"name": {tc.id}, "client_id": {tc.id}, "grant_types": {"client_credentials"}, "scopes": tc.scopes}
		r := a.postForm("/console/apps/new", "/console/apps/new", form)
		wantCode(t, tc.id, r, http.StatusSeeOther)
		c, err := a.clients.Get(context.Background(), tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(c.Scopes, " "); got != tc.want {
			t.Errorf("%s: scopes = %q, want %q", tc.id, got, tc.want)
		}
	}
}

// flakyStore fails ListAudit as an unreachable database does, when down.
type flakyStore struct {
	console.Store
	down *atomic.Bool
}

func (f flakyStore) ListAudit(ctx context.Context, af store.AuditFilter) ([]store.AuditEvent, error) {
	if f.down.Load() {
		return nil, fmt.Errorf("list: %w", store.ErrUnavailable)
	}
	return f.Store.ListAudit(ctx, af)
}

// TestErrorPages: the one error adapter answers 503 with Retry-After when
// the store is unreachable, and logs the route, never the query.
func TestErrorPages(t *testing.T) {
	var down atomic.Bool
	var logs testutil.SyncBuffer
	h := newHarnessWith(t, users.Options{}, func(o *console.Options) {
		o.Store = flakyStore{Store: o.Store, down: &down}
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	h.createUser("root", store.RoleAdmin)
	wantCode(t, "login", h.login("root", pw, ""), http.StatusSeeOther)
	wantCode(t, "audit", h.get("/console/audit?target=x"), http.StatusOK)
	down.Store(true)
	r := h.get("/console/audit?target=secret-looking-query")
	wantCode(t, "audit, store down", r, http.StatusServiceUnavailable)
	wantBody(t, "audit, store down", r, "temporarily_unavailable")
	if r.hdr.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if l := logs.String(); !strings.Contains(l, "route=\"GET /console/audit\"") || strings.Contains(l, "secret-looking-query") {
		t.Errorf("log = %q; want the route pattern and not the query", l)
	}
	wantCode(t, "unknown page", h.get("/console/nowhere"), http.StatusNotFound)
	wantCode(t, "POST to an unknown page", h.post("/console/nowhere", nil), http.StatusNotFound)
}

// TestAppCreatedLinksToDocs: with the API reference served, the created
// page links to it with the client ID; without it, it does not.
func TestAppCreatedLinksToDocs(t *testing.T) {
	for _, tc := range []struct {
		name string
		on   bool
	}{{"API reference", true}, {"no API reference", false}} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAdminHarness(t, func(o *console.Options) { o.APIReference = tc.on })
			form := url.Values{"name": {"Docs app"}, "client_id": {"docs.app"}, "grant_types": {"client_credentials"},
				"scopes": {"api"}, "token_endpoint_auth_method": {"client_secret_basic"}}
			r := a.postForm("/console/apps/new", "/console/apps/new", form)
			wantCode(t, "create", r, http.StatusSeeOther)
			r = a.get(r.hdr.Get("Location"))
			link := `<a id="docs-link" href="/docs?client_id=docs.app">`
			if tc.on {
				wantBody(t, "created", r, link, "type the secret in its Authorize dialog")
			} else {
				wantNoBody(t, "created", r, `id="docs-link"`)
			}
		})
	}
}

func systemNames(c *scope.Catalog) []string {
	if c == nil {
		return nil
	}
	return c.Names()
}

// TestSelfRegisteredBadge: a client that registered itself is marked in
// the apps list and on its page; an operator's is not.
func TestSelfRegisteredBadge(t *testing.T) {
	a := newAdminHarness(t)
	a.mkClient(t, clients.Spec{Name: "Agent", ID: "agent-app", GrantTypes: []string{store.GrantAuthorizationCode},
		RedirectURIs: []string{"https://agent.example/cb"}, TokenEndpointAuthMethod: store.AuthMethodNone,
		SelfRegistered: store.RegisteredOpen, RegistrationTokenDigest: make([]byte, 32)})
	a.mkClient(t, sp("Operator's", "op-app"))
	r := a.get("/console/apps")
	wantBody(t, "apps", r, `href="/console/apps/agent-app">Agent</a> <span class="badge self-registered" title="registered itself (open)">self-registered</span>`)
	if strings.Count(r.body, "badge self-registered") != 1 {
		t.Errorf("apps list: %d self-registered badges, want 1 (the operator's app has none)", strings.Count(r.body, "badge self-registered"))
	}
	wantBody(t, "app page", a.get("/console/apps/agent-app"), `<span class="badge self-registered">self-registered</span>`, `id="self-registered"`, "open registration")
	wantNoBody(t, "operator's app page", a.get("/console/apps/op-app"), "self-registered")
}
