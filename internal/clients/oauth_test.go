package clients

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

func TestCreateAuthorizationCodeClients(t *testing.T) {
	const cb = "https://app.example/cb"
	ac := []string{store.GrantAuthorizationCode, store.GrantRefreshToken}
	for _, tc := range []struct {
		name    string
		sp      Spec
		problem string // "" = valid
	}{
		{"confidential", Spec{GrantTypes: ac, RedirectURIs: []string{cb}, Website: "https://app.example"}, ""},
		{"public", Spec{GrantTypes: ac, RedirectURIs: []string{cb}, TokenEndpointAuthMethod: store.AuthMethodNone}, ""},
		{"no redirect URI", Spec{GrantTypes: ac}, "needs at least one redirect URI"},
		{"public with secret", Spec{GrantTypes: ac, RedirectURIs: []string{cb}, TokenEndpointAuthMethod: store.AuthMethodNone, Secret: strings.Repeat("s", 40)}, "has no secret"},
		{"public client credentials", Spec{GrantTypes: []string{store.GrantClientCredentials}, TokenEndpointAuthMethod: store.AuthMethodNone}, "cannot use the client_credentials grant"},
		{"unknown auth method", Spec{GrantTypes: ac, RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "client_secret_jwt"}, "is not supported"},
		{"refresh alone", Spec{GrantTypes: []string{store.GrantRefreshToken}}, "needs authorization_code"},
		{"refresh with cc needs the grant", Spec{RefreshWithClientCredentials: true}, "need both"},
		{"refresh with cc", Spec{GrantTypes: []string{store.GrantClientCredentials, store.GrantRefreshToken}, RefreshWithClientCredentials: true}, ""},
		{"bad website", Spec{Website: "javascript:alert(1)"}, "must be an http or https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.sp.Name = "app"
			c, plain, err := f.svc.Create(context.Background(), "tester", tc.sp)
			if tc.problem != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("got error %v, want a validation error containing %q", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			public := tc.sp.TokenEndpointAuthMethod == store.AuthMethodNone
			if public != (plain == "" && len(c.Secrets) == 0) {
				t.Errorf("public=%v: got secret %q and %d stored secrets", public, plain, len(c.Secrets))
			}
			got, err := f.svc.Get(context.Background(), c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Website != tc.sp.Website || got.TokenEndpointAuthMethod != tc.sp.TokenEndpointAuthMethod || got.RefreshWithClientCredentials != tc.sp.RefreshWithClientCredentials {
				t.Errorf("stored %+v, want the spec's website, auth method and refresh option", got)
			}
			if public {
				if _, _, err := f.svc.RotateSecret(context.Background(), "tester", c.ID, 0, ""); err == nil {
					t.Error("rotating a public client's secret succeeded")
				}
			}
		})
	}
}
