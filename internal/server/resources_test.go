package server

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/scope"
)

const (
	billingID = "https://billing.test/api"
	reportsID = "urn:example:reports"
)

// testResources are two resources besides the default one (scope.Default(),
// audience https://api.test): billing with lifetimes of its own, reports
// with a scope named like one of the default catalog's.
func testResources(t testing.TB) []Resource {
	t.Helper()
	billing, err := scope.Parse([]byte(`
invoices:read:
  label: Read your invoices
  endpoints: ["invoices/*": GET]
invoices:write:
  label: Send invoices
  endpoints: ["invoices": POST]
`))
	if err != nil {
		t.Fatal(err)
	}
	reports, err := scope.Parse([]byte(`
reports:read:
  label: Read reports
  endpoints: ["reports/*": GET]
search:
  label: Search reports
  endpoints: ["reports/search": GET]
`))
	if err != nil {
		t.Fatal(err)
	}
	return []Resource{
		{ID: billingID, Name: "Billing API", Catalog: billing, DefaultTTL: 10 * time.Minute, MaxTTL: 20 * time.Minute},
		{ID: reportsID, Catalog: reports},
	}
}

// resourceHarness is a server with testResources and its clients service.
func resourceHarness(t *testing.T) *authzHarness {
	t.Helper()
	rs := testResources(t)
	ah := newAuthzHarness(t, func(o *Options) { o.Resources = rs })
	crs := make([]clients.Resource, len(rs))
	for i, r := range rs {
		crs[i] = clients.Resource{ID: r.ID, Catalog: r.Catalog}
	}
	ah.svc = clients.NewService(ah.st, scope.Default(), 30*24*time.Hour, ah.clock.Now, rand.Reader).WithResources(crs)
	return ah
}

func TestResourceClientCredentials(t *testing.T) {
	ah := resourceHarness(t)
	id, secret := ah.client(clients.Spec{
		Scopes:    []string{"api:read-only", "invoices:read", "reports:read", "search"},
		Resources: []string{billingID, reportsID},
	})
	onlyDefault, onlySecret := ah.client(clients.Spec{Name: "default only", Scopes: []string{"api", "search"}})
	longLived, longSecret := ah.client(clients.Spec{Name: "long", Scopes: []string{"invoices:read"}, Resources: []string{billingID}, TokenTTL: 12 * time.Hour})

	for _, tt := range []struct {
		name, id, secret, params string
		aud, scope               string
		ttl                      time.Duration
	}{
		{"no resource: the default, as before", id, secret, "", "https://api.test", "api:read-only search", time.Hour},
		{"the default by its identifier", id, secret, "resource=" + url.QueryEscape("https://api.test"), "https://api.test", "api:read-only search", time.Hour},
		{"billing: its scopes only, its lifetime", id, secret, "resource=" + url.QueryEscape(billingID), billingID, "invoices:read", 10 * time.Minute},
		{"billing, a scope named", id, secret, "resource=" + url.QueryEscape(billingID) + "&scope=invoices:read", billingID, "invoices:read", 10 * time.Minute},
		{"reports: its search, not the default's", id, secret, "resource=" + url.QueryEscape(reportsID) + "&scope=search", reportsID, "search", time.Hour},
		{"a client lifetime capped by the resource's maximum", longLived, longSecret, "resource=" + url.QueryEscape(billingID), billingID, "invoices:read", 20 * time.Minute},
		{"a client without resources, as before", onlyDefault, onlySecret, "", "https://api.test", "api search", time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := ah.token(tt.id, tt.secret, tt.params)
			if r.status != http.StatusOK {
				t.Fatalf("got %d %s, want 200", r.status, r.body)
			}
			c := claims(t, r.json["access_token"].(string))
			if c["aud"] != tt.aud || c["scope"] != tt.scope || r.json["scope"] != tt.scope {
				t.Errorf("aud %v, scope %v (response %v); want %s, %s", c["aud"], c["scope"], r.json["scope"], tt.aud, tt.scope)
			}
			if got := time.Duration(r.json["expires_in"].(float64)) * time.Second; got != tt.ttl {
				t.Errorf("expires_in %s, want %s", got, tt.ttl)
			}
			if got := time.Duration(c["exp"].(float64)-c["iat"].(float64)) * time.Second; got != tt.ttl {
				t.Errorf("exp - iat = %s, want %s", got, tt.ttl)
			}
		})
	}

	for _, tt := range []struct {
		name, id, secret, params, code string
	}{
		{"unknown resource", id, secret, "resource=" + url.QueryEscape("https://unknown.test/api"), "invalid_target"},
		{"not absolute", id, secret, "resource=billing", "invalid_target"},
		{"with a fragment", id, secret, "resource=" + url.QueryEscape(billingID+"#x"), "invalid_target"},
		{"not allowed for the client", onlyDefault, onlySecret, "resource=" + url.QueryEscape(billingID), "invalid_target"},
		{"two resources in one token request", id, secret, "resource=" + url.QueryEscape(billingID) + "&resource=" + url.QueryEscape(reportsID), "invalid_target"},
		{"a scope of another resource's catalog", id, secret, "resource=" + url.QueryEscape(billingID) + "&scope=api:read-only", "invalid_scope"},
		{"a resource's scope for the default resource", id, secret, "scope=invoices:read", "invalid_scope"},
		{"a resource's scope the client is not allowed", id, secret, "resource=" + url.QueryEscape(billingID) + "&scope=invoices:write", "invalid_scope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, ah.token(tt.id, tt.secret, tt.params), http.StatusBadRequest, tt.code)
		})
	}
	t.Run("other parameters still may not repeat", func(t *testing.T) {
		wantError(t, ah.token(id, secret, "scope=search&scope=search"), http.StatusBadRequest, "invalid_request")
	})
}

// exchangeFor redeems a code naming a resource ("" for none).
func (ah *authzHarness) exchangeFor(id, secret, code, verifier, resource string) response {
	ah.t.Helper()
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
	if resource != "" {
		v.Set("resource", resource)
	}
	return ah.clientPost(PathToken, id, secret, v)
}

func (ah *authzHarness) refreshFor(id, secret, tok, scope, resource string) response {
	ah.t.Helper()
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}}
	if scope != "" {
		v.Set("scope", scope)
	}
	if resource != "" {
		v.Set("resource", resource)
	}
	return ah.clientPost(PathToken, id, secret, v)
}

func wantToken(t *testing.T, r response, aud, scope string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("got %d %s, want 200", r.status, r.body)
	}
	c := claims(t, r.json["access_token"].(string))
	if c["aud"] != aud || c["scope"] != scope {
		t.Errorf("aud %v, scope %v; want %s, %s", c["aud"], c["scope"], aud, scope)
	}
}

func TestResourceAuthorizationCode(t *testing.T) {
	ah := resourceHarness(t)
	id, secret := ah.app(clients.Spec{
		Scopes:    []string{"profile", "invoices:read", "invoices:write", "reports:read"},
		Resources: []string{billingID, reportsID},
	})
	other, otherSecret := ah.app(clients.Spec{Name: "other", Scopes: []string{"profile"}})
	ah.login()
	withResources := func(v url.Values, rs ...string) url.Values {
		v["resource"] = rs
		return v
	}

	t.Run("one resource: the code's token is for it", func(t *testing.T) {
		ver, chal := pkce(t)
		v := withResources(authzParamsFor(id, chal, "invoices:read"), billingID)
		p := ah.get(authorizePath(v))
		if p.status != http.StatusOK || !strings.Contains(p.body, "Read your invoices") || !strings.Contains(p.body, "Billing API") {
			t.Fatalf("consent page: got %d, want 200 labelling the scope from billing's catalog, naming it\n%s", p.status, p.body)
		}
		f := p.hidden()
		if got := f["resource"]; !slices.Equal(got, []string{billingID}) {
			t.Fatalf("the consent form carries resource %q, want %q", got, billingID)
		}
		f.Set("decision", "allow")
		q := ah.redirectParams(ah.postForm(PathAuthorize, f))
		r := ah.exchangeFor(id, secret, q.Get("code"), ver, "")
		wantToken(t, r, billingID, "invoices:read")
		if got := time.Duration(r.json["expires_in"].(float64)) * time.Second; got != 10*time.Minute {
			t.Errorf("expires_in %s, want billing's 10m", got)
		}
		// The refresh token keeps the resource.
		wantToken(t, ah.refreshFor(id, secret, r.json["refresh_token"].(string), "", ""), billingID, "invoices:read")
	})

	t.Run("consent is per resource", func(t *testing.T) {
		// invoices:read at billing was allowed above; the default
		// resource's profile has not been.
		ver, chal := pkce(t)
		if p := ah.get(authorizePath(withResources(authzParamsFor(id, chal, "invoices:read"), billingID))); p.status != http.StatusFound {
			t.Errorf("an allowed scope again: got %d, want a redirect without the consent page", p.status)
		}
		_ = ver
		if p := ah.get(authorizePath(authzParamsFor(id, chal, "profile"))); p.status != http.StatusOK {
			t.Errorf("a scope of another resource: got %d, want the consent page", p.status)
		}
	})

	// Two resources: the code covers both, the token request picks one.
	ver, chal := pkce(t)
	code := ah.code(withResources(authzParamsFor(id, chal, "invoices:read reports:read"), billingID, reportsID))
	t.Run("several resources: the token request must name one", func(t *testing.T) {
		wantError(t, ah.exchangeFor(id, secret, code, ver, ""), http.StatusBadRequest, "invalid_target")
	})
	ver, chal = pkce(t)
	code = ah.code(withResources(authzParamsFor(id, chal, "invoices:read reports:read"), billingID, reportsID))
	r := ah.exchangeFor(id, secret, code, ver, reportsID)
	t.Run("several resources: the one named, with its scopes only", func(t *testing.T) {
		wantToken(t, r, reportsID, "reports:read")
	})
	rt := r.json["refresh_token"].(string)
	t.Run("refresh narrows to another granted resource", func(t *testing.T) {
		r := ah.refreshFor(id, secret, rt, "", billingID)
		wantToken(t, r, billingID, "invoices:read")
		rt = r.json["refresh_token"].(string)
		r = ah.refreshFor(id, secret, rt, "reports:read", reportsID)
		wantToken(t, r, reportsID, "reports:read")
		rt = r.json["refresh_token"].(string)
	})
	t.Run("refresh to a resource not granted changes nothing", func(t *testing.T) {
		wantError(t, ah.refreshFor(id, secret, rt, "", "https://api.test"), http.StatusBadRequest, "invalid_target")
		// The token was not rotated: it still works.
		r := ah.refreshFor(id, secret, rt, "", reportsID)
		wantToken(t, r, reportsID, "reports:read")
		rt = r.json["refresh_token"].(string)
	})
	t.Run("refresh with a scope of another granted resource's catalog", func(t *testing.T) {
		wantError(t, ah.refreshFor(id, secret, rt, "invoices:read", reportsID), http.StatusBadRequest, "invalid_scope")
	})

	t.Run("a code for the default resource is not one for another", func(t *testing.T) {
		ver, chal := pkce(t)
		code := ah.code(authzParamsFor(id, chal, "profile"))
		wantError(t, ah.exchangeFor(id, secret, code, ver, billingID), http.StatusBadRequest, "invalid_target")
		ver, chal = pkce(t)
		code = ah.code(authzParamsFor(id, chal, "profile"))
		wantToken(t, ah.exchangeFor(id, secret, code, ver, "https://api.test"), "https://api.test", "profile")
	})

	for _, tt := range []struct {
		name     string
		client   string
		scope    string
		resource []string
		code     string
	}{
		{"unknown resource", id, "profile", []string{"https://unknown.test"}, "invalid_target"},
		{"relative resource", id, "profile", []string{"/api"}, "invalid_target"},
		{"resource with a fragment", id, "profile", []string{billingID + "#frag"}, "invalid_target"},
		{"resource the client is not allowed", other, "profile", []string{billingID}, "invalid_target"},
		{"one of two not allowed", other, "profile", []string{"https://api.test", reportsID}, "invalid_target"},
		{"a scope of no named resource", id, "reports:read", []string{billingID}, "invalid_scope"},
		{"a resource's scope without it", id, "invoices:read", nil, "invalid_scope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, chal := pkce(t)
			q := ah.redirectParams(ah.get(authorizePath(withResources(authzParamsFor(tt.client, chal, tt.scope), tt.resource...))))
			if q.Get("error") != tt.code || q.Get("state") != "xyz 1" || q.Get("code") != "" {
				t.Errorf("redirect: got %v, want error %s with the state (RFC 6749 §4.1.2.1)", q, tt.code)
			}
		})
	}
	_ = otherSecret

	t.Run("the client loses the resource", func(t *testing.T) {
		ah.run() // follow the change feed
		ver, chal := pkce(t)
		code := ah.code(withResources(authzParamsFor(id, chal, "invoices:read"), billingID))
		empty := []string{}
		if _, err := ah.svc.Update(t.Context(), "test", id, clients.Patch{Resources: &empty, Scopes: &[]string{"profile"}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() bool {
			cc, _ := ah.srv.clients.get(t.Context(), id)
			return cc != nil && len(cc.client.Resources) == 0
		})
		wantError(t, ah.exchangeFor(id, secret, code, ver, ""), http.StatusBadRequest, "invalid_target")
	})
}

func TestResourceClientValidation(t *testing.T) {
	ah := resourceHarness(t)
	for _, tt := range []struct {
		name string
		sp   clients.Spec
		want string // in the error; "" = accepted
	}{
		{"a resource's scope with the resource", clients.Spec{Scopes: []string{"invoices:read"}, Resources: []string{billingID}}, ""},
		{"a resource's scope without it", clients.Spec{Scopes: []string{"invoices:read"}}, `scope "invoices:read" is not in the scope catalog`},
		{"an unknown resource", clients.Spec{Resources: []string{"https://nope.test"}}, `resource "https://nope.test" is not a configured resource`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.sp.Name = "x"
			_, _, err := ah.svc.Create(t.Context(), "test", tt.sp)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want success", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	c, _, err := ah.svc.Create(t.Context(), "test", clients.Spec{Name: "defaults", Resources: []string{billingID}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Scopes, []string{"api"}; !slices.Equal(got, want) {
		t.Errorf("default scopes with billing (no defaults there): got %q, want %q", got, want)
	}
}

func TestResourceMetadataScopes(t *testing.T) {
	ah := resourceHarness(t)
	r := ah.do(mustRequest(t, "GET", ah.http.URL+PathMetadata))
	var got []string
	for _, s := range r.json["scopes_supported"].([]any) {
		got = append(got, s.(string))
	}
	want := append(scope.Default().Names(), "invoices:read", "invoices:write", "reports:read")
	if !slices.Equal(got, want) {
		t.Errorf("scopes_supported: got %q, want %q (the default catalog's, then the resources' new ones)", got, want)
	}
}

func TestResourceOptions(t *testing.T) {
	cat := scope.Default()
	for _, tt := range []struct {
		name string
		rs   []Resource
	}{
		{"no catalog", []Resource{{ID: billingID}}},
		{"relative", []Resource{{ID: "billing", Catalog: cat}}},
		{"the default audience", []Resource{{ID: "https://api.test", Catalog: cat}}},
		{"twice", []Resource{{ID: billingID, Catalog: cat}, {ID: billingID, Catalog: cat}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := newResources(Options{Resources: tt.rs, DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour}, "https://api.test")
			if err == nil {
				t.Error("got no error")
			}
		})
	}
	m, _, err := newResources(Options{Resources: []Resource{{ID: billingID, Catalog: cat, MaxTTL: 48 * time.Hour}}, DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour}, "https://api.test")
	if err != nil {
		t.Fatal(err)
	}
	if r := m[billingID]; r.MaxTTL != 2*time.Hour || r.DefaultTTL != time.Hour {
		t.Errorf("lifetimes: got default %s, max %s; want the server's 1h, and the maximum capped at its 2h", r.DefaultTTL, r.MaxTTL)
	}
}
