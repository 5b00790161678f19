package console_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/consents"
	"github.com/gatehouse/gatehouse/internal/console"
	"github.com/gatehouse/gatehouse/scope"
)

// TestAppFormResources: with resources configured (RFC 8707), the app form
// has a field for the app's resources and offers their scopes; without,
// neither.
func TestAppFormResources(t *testing.T) {
	const billing = "https://billing.example/api"
	cat, err := scope.Parse([]byte("invoices:read:\n  label: Read invoices\n  endpoints: [\"invoices/*\": GET]\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := newAdminHarness(t, func(o *console.Options) {
		o.Resources = []consents.Resource{{ID: billing, Name: "Billing API", Catalog: cat}}
	})
	// The harness's clients service must know the resource too.
	a.clients.WithResources([]clients.Resource{{ID: billing, Catalog: cat}})

	r := a.get("/console/apps/new")
	wantBody(t, "new app form", r, `name="resources"`, `name="scopes" value="invoices:read"`, "Read invoices (Billing API)")
	form := url.Values{"name": {"Billing sync"}, "client_id": {"sync"}, "grant_types": {"client_credentials"},
		"scopes": {"invoices:read"}, "resources": {billing}, "token_endpoint_auth_method": {"client_secret_basic"}}
	wantCode(t, "create", a.postForm("/console/apps/new", "/console/apps/new", form), http.StatusSeeOther)
	c, err := a.clients.Get(context.Background(), "sync")
	if err != nil || !slices.Equal(c.Resources, []string{billing}) || !slices.Equal(c.Scopes, []string{"invoices:read"}) {
		t.Fatalf("created app: resources %q, scopes %q, %v; want [%s], [invoices:read]", c.Resources, c.Scopes, err, billing)
	}
	wantBody(t, "app page", a.get("/console/apps/sync"), `>`+billing+`</textarea>`)

	// Taking the resource away while keeping its scope is refused.
	page := "/console/apps/sync"
	r = a.postForm(page, page, url.Values{"name": {"Billing sync"}, "grant_types": {"client_credentials"}, "scopes": {"invoices:read"}, "resources": {""}})
	wantCode(t, "update without the resource", r, http.StatusUnprocessableEntity)
	wantBody(t, "update without the resource", r, "invoices:read")

	// Without resources configured: no field.
	b := newAdminHarness(t)
	wantNoBody(t, "new app form without resources", b.get("/console/apps/new"), `name="resources"`)
}
