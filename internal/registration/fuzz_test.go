package registration

import (
	"encoding/json"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/scope"
)

// FuzzOpenSpec: whatever metadata an anonymous caller sends, what the open
// policy accepts is a public client for the authorization code grant with
// https or loopback redirect URIs and self-service scopes only.
func FuzzOpenSpec(f *testing.F) {
	for _, s := range []string{
		`{"redirect_uris":["https://app.example/cb"]}`,
		`{"redirect_uris":["http://127.0.0.1:8080/cb"],"scope":"profile search","grant_types":["authorization_code","refresh_token"]}`,
		`{"redirect_uris":["http://[::1]/cb"],"token_endpoint_auth_method":"none","response_types":["code"]}`,
		`{"redirect_uris":["com.example.app:/cb"],"scope":"api"}`,
		`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic"}`,
		`{"redirect_uris":["https://a.example/cb"],"jwks":{"keys":[]},"token_endpoint_auth_method":"private_key_jwt"}`,
		`{"redirect_uris":["https://a.example/cb"],"scope":"mcp:tools profile"}`,
		`{"redirect_uris":["https://a.example/cb"],"scope":"mcp:admin"}`,
	} {
		f.Add([]byte(s))
	}
	cat := scope.Default()
	svc := clients.NewService(nil, cat, time.Hour, time.Now, nil).WithResources(testResources(f))
	s := &Service{o: Options{Policy: Open, Clients: svc, Catalog: cat, GrantTypes: GrantTypes}}
	self := svc.SelfService()
	f.Fuzz(func(t *testing.T, body []byte) {
		var md Metadata
		if json.Unmarshal(body, &md) != nil {
			return
		}
		sp, err := s.spec(md, Open, "")
		if err != nil {
			return
		}
		if sp.TokenEndpointAuthMethod != store.AuthMethodNone || sp.JWKS != "" || sp.JWKSURI != "" {
			t.Fatalf("open policy accepted auth method %q (JWKS %q, URI %q)", sp.TokenEndpointAuthMethod, sp.JWKS, sp.JWKSURI)
		}
		if !slices.Contains(sp.GrantTypes, store.GrantAuthorizationCode) {
			t.Fatalf("open policy accepted grants %q without authorization_code", sp.GrantTypes)
		}
		for _, g := range sp.GrantTypes {
			if g != store.GrantAuthorizationCode && g != store.GrantRefreshToken {
				t.Fatalf("open policy accepted grant %q", g)
			}
		}
		if len(sp.RedirectURIs) == 0 {
			t.Fatalf("open policy accepted no redirect URI")
		}
		for _, u := range sp.RedirectURIs {
			pu, err := url.Parse(u)
			if err != nil || clients.CheckRedirectURI(u) != nil || pu.Scheme != "https" && pu.Scheme != "http" {
				t.Fatalf("open policy accepted redirect URI %q", u)
			}
		}
		for _, sc := range sp.Scopes {
			if !self.Has(sc) {
				t.Fatalf("open policy accepted scope %q, which is not self-service", sc)
			}
		}
		if want := self.Resources(sp.Scopes); !slices.Equal(sp.Resources, want) {
			t.Fatalf("open policy gave resources %q for scopes %q, want %q", sp.Resources, sp.Scopes, want)
		}
	})
}
