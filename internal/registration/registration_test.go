package registration

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/scope"
)

const (
	mcpID     = "https://mcp.test/mcp"
	docsID    = "https://docs.test/api"
	reportsID = "https://reports.test/api"
)

// testResources are resources besides the default catalog (scope.Default:
// profile, search and api:read-only self-service): an MCP server with one
// self-service scope and one that is not; a documentation API whose only
// scope, search, is self-service as in the default catalog; a reports API
// with no self-service scope and a profile scope that is not
// self-service, unlike the default catalog's.
func testResources(t testing.TB) []clients.Resource {
	t.Helper()
	parse := func(y string) *scope.Catalog {
		c, err := scope.Parse([]byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return []clients.Resource{
		{ID: mcpID, Catalog: parse(`
mcp:tools:
  label: Use the tools
  endpoints: ["mcp": [GET, POST, DELETE]]
  self_service: true
mcp:admin:
  label: Administer the MCP server
  endpoints: ["admin/*"]
`)},
		{ID: reportsID, Catalog: parse(`
reports:read:
  label: Read reports
  endpoints: ["reports/*": GET]
profile:
  label: Read the reports profile
  endpoints: ["me": GET]
`)},
		{ID: docsID, Catalog: parse(`
search:
  label: Search the documentation
  endpoints: ["search": GET]
  self_service: true
`)},
	}
}

func newOpenService(t *testing.T) *Service {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/g.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cs := clients.NewService(st, scope.Default(), time.Hour, time.Now, rand.Reader).WithResources(testResources(t))
	s, err := New(Options{Policy: Open, Clients: cs, Store: st, Catalog: scope.Default()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOpenRegistrationResources: an open registration is allowed the
// self-service scopes of every catalog and the resources whose catalogs
// offer the scopes it gets; a scope that is not self-service in its
// resource's catalog, or that another catalog has without self_service,
// is refused.
func TestOpenRegistrationResources(t *testing.T) {
	s := newOpenService(t)
	ctx := context.Background()
	md := func(scope string) Metadata {
		return Metadata{RedirectURIs: []string{"http://127.0.0.1/cb"}, Scope: scope,
			GrantTypes: []string{"authorization_code", "refresh_token"}}
	}
	for _, tc := range []struct {
		scope          string
		scopes, rs     []string
		refusedBecause string
	}{
		// profile is self-service in the default catalog, but the reports
		// API has a profile scope that is not.
		{scope: "", scopes: []string{"search", "api:read-only", "mcp:tools"}, rs: []string{mcpID, docsID}},
		{scope: "mcp:tools", scopes: []string{"mcp:tools"}, rs: []string{mcpID}},
		{scope: "search", scopes: []string{"search"}, rs: []string{docsID}},
		{scope: "api:read-only", scopes: []string{"api:read-only"}, rs: []string{}},
		{scope: "mcp:tools search", scopes: []string{"mcp:tools", "search"}, rs: []string{mcpID, docsID}},
		{scope: "mcp:admin", refusedBecause: "not self-service in its catalog"},
		{scope: "mcp:tools mcp:admin", refusedBecause: "one scope not self-service"},
		{scope: "reports:read", refusedBecause: "not self-service in its catalog"},
		{scope: "profile", refusedBecause: "the reports API has profile without self_service"},
		{scope: "api", refusedBecause: "not self-service in the default catalog"},
		{scope: "nope", refusedBecause: "in no catalog"},
	} {
		t.Run(tc.scope, func(t *testing.T) {
			reg, err := s.Register(ctx, md(tc.scope), "", "192.0.2.1")
			if tc.refusedBecause != "" {
				var oe *oauth.Error
				if !errors.As(err, &oe) || oe.Code != oauth.CodeInvalidClientMetadata || !strings.Contains(oe.Description, "self-service scopes: search api:read-only mcp:tools") {
					t.Fatalf("scope %q (%s): got %v, want invalid_client_metadata naming the self-service scopes", tc.scope, tc.refusedBecause, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("scope %q: %v", tc.scope, err)
			}
			if c := reg.Client; !slices.Equal(c.Scopes, tc.scopes) || !slices.Equal(c.Resources, tc.rs) {
				t.Errorf("scope %q: got scopes %q, resources %q; want %q, %q", tc.scope, c.Scopes, c.Resources, tc.scopes, tc.rs)
			}
		})
	}

	// An update (RFC 7592) follows the same rule: the resources follow the
	// scopes.
	reg, err := s.Register(ctx, md("mcp:tools"), "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	up := Request{Metadata: md("search"), ClientID: reg.Client.ID}
	c, err := s.Update(ctx, reg.Client.ID, reg.RegistrationToken, up)
	if err != nil || !slices.Equal(c.Scopes, []string{"search"}) || !slices.Equal(c.Resources, []string{docsID}) {
		t.Errorf("update to scope search: got %q, %q, %v; want [search], [%s]", c.Scopes, c.Resources, err, docsID)
	}
	up.Scope = "mcp:admin"
	if _, err := s.Update(ctx, reg.Client.ID, reg.RegistrationToken, up); err == nil {
		t.Error("update to scope mcp:admin: accepted, want refused")
	}
}

// TestSelfServiceWithoutResources: without resources, open registration
// offers the default catalog's self-service scopes, as before resources.
func TestSelfServiceWithoutResources(t *testing.T) {
	ss := clients.NewSelfService(scope.Default(), nil)
	if got, want := ss.Scopes(), scope.Default().SelfService(); !slices.Equal(got, want) {
		t.Errorf("self-service scopes: got %q, want %q", got, want)
	}
	if got := ss.Resources(ss.Scopes()); len(got) != 0 {
		t.Errorf("resources: got %q, want none", got)
	}
}
