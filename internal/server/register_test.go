package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/registration"
	"github.com/gatehouse/gatehouse/internal/store"
)

// regHarness is a server with registration under a policy, the console
// (for the code flow) and a browser.
type regHarness struct {
	*authzHarness
	reg *registration.Service
}

func newRegHarness(t *testing.T, policy string, mod ...func(*Options, *registration.Options)) *regHarness {
	t.Helper()
	rh := &regHarness{}
	rh.authzHarness = newAuthzHarness(t, func(o *Options) {
		// The registration's client service knows a system scope, as the
		// app's does: registration must still refuse it.
		cs := clients.NewService(o.Store, o.Catalog, o.MaxTTL, o.Now, rand.Reader, "gatehouse:admin")
		ro := registration.Options{Policy: policy, Clients: cs, Store: o.Store, Catalog: o.Catalog,
			UnusedTTL: 30 * 24 * time.Hour, Now: o.Now, Rand: rand.Reader}
		for _, m := range mod {
			m(o, &ro)
		}
		svc, err := registration.New(ro)
		if err != nil {
			t.Fatal(err)
		}
		o.Registration, rh.reg = svc, svc
	})
	return rh
}

// send makes a request with a JSON body (body "" : none) and a bearer token
// ("" : none).
func (rh *regHarness) send(method, path, token, body string) response {
	rh.t.Helper()
	req, _ := http.NewRequest(method, rh.http.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return rh.do(req)
}

func (rh *regHarness) register(token, body string) response {
	rh.t.Helper()
	return rh.send("POST", PathRegister, token, body)
}

// initialToken creates an initial access token.
func (rh *regHarness) initialToken(uses int, ttl time.Duration) string {
	rh.t.Helper()
	_, tok, err := rh.reg.CreateToken(context.Background(), "test", uses, ttl, "test")
	if err != nil {
		rh.t.Fatal(err)
	}
	return tok
}

func wantCreated(t *testing.T, r response) (id, regToken string) {
	t.Helper()
	if r.status != http.StatusCreated {
		t.Fatalf("registration: got %d %s, want 201", r.status, r.body)
	}
	id, _ = r.json["client_id"].(string)
	regToken, _ = r.json["registration_access_token"].(string)
	if id == "" || !strings.HasPrefix(regToken, registration.RegistrationTokenPrefix) {
		t.Fatalf("registration response without client_id or registration_access_token: %s", r.body)
	}
	if got, want := r.json["registration_client_uri"], "http://issuer.test"+PathRegister+"/"+id; got != want {
		t.Errorf("registration_client_uri: got %v, want %s", got, want)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", r.header.Get("Cache-Control"))
	}
	return id, regToken
}

// wantInvalidToken checks a 401 with a Bearer challenge.
func wantInvalidToken(t *testing.T, r response) {
	t.Helper()
	wantError(t, r, http.StatusUnauthorized, "invalid_token")
	if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") || !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate: got %q, want a Bearer challenge with invalid_token", got)
	}
}

const confidentialBody = `{"client_name":"CI job","grant_types":["client_credentials"],"scope":"api:read-only"}`

func TestRegistrationOff(t *testing.T) {
	for _, policy := range []string{"", registration.Off} {
		rh := newRegHarness(t, policy)
		r := rh.register("", `{"redirect_uris":["https://app.example/callback"]}`)
		if r.status != http.StatusNotFound {
			t.Errorf("policy %q: POST %s: got %d %s, want 404", policy, PathRegister, r.status, r.body)
		}
		if r := rh.send("GET", PathRegister+"/abc", "x", ""); r.status != http.StatusNotFound {
			t.Errorf("policy %q: GET %s/abc: got %d, want 404", policy, PathRegister, r.status)
		}
		md := rh.do(mustRequest(t, "GET", rh.http.URL+PathMetadata))
		if _, ok := md.json["registration_endpoint"]; ok {
			t.Errorf("policy %q: metadata advertises registration_endpoint", policy)
		}
	}
	rh := newRegHarness(t, registration.Open)
	md := rh.do(mustRequest(t, "GET", rh.http.URL+PathMetadata))
	if got := md.json["registration_endpoint"]; got != "http://issuer.test"+PathRegister {
		t.Errorf("open: registration_endpoint = %v, want http://issuer.test%s", got, PathRegister)
	}
}

func TestRegistrationInitialAccessToken(t *testing.T) {
	rh := newRegHarness(t, registration.InitialAccessToken)

	// No token, a wrong one, another scheme.
	wantInvalidToken(t, rh.register("", confidentialBody))
	wantInvalidToken(t, rh.register("ghi_not-a-real-token", confidentialBody))
	req, _ := http.NewRequest("POST", rh.http.URL+PathRegister, strings.NewReader(confidentialBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", basic("a", "b"))
	wantInvalidToken(t, rh.do(req))

	// Single use.
	single := rh.initialToken(1, time.Hour)
	r := rh.register(single, confidentialBody)
	id, _ := wantCreated(t, r)
	sec, _ := r.json["client_secret"].(string)
	if !strings.HasPrefix(sec, "ghs_") || r.json["client_secret_expires_at"] != float64(0) {
		t.Fatalf("confidential registration: no client_secret or client_secret_expires_at: %s", r.body)
	}
	if r.json["token_endpoint_auth_method"] != "client_secret_basic" || r.json["scope"] != "api:read-only" {
		t.Errorf("registered metadata: %s", r.body)
	}
	if tr := rh.token(id, sec, ""); tr.status != http.StatusOK {
		t.Fatalf("token for the registered client: got %d %s", tr.status, tr.body)
	}
	c, err := rh.svc.Get(context.Background(), id)
	if err != nil || c.SelfRegistered != store.RegisteredInitialAccessToken {
		t.Fatalf("stored client: %+v, %v; want self-registered with an initial access token", c, err)
	}
	evs, _ := rh.st.ListAudit(context.Background(), store.AuditFilter{Target: id})
	if len(evs) != 1 || evs[0].Action != "client.create" || !strings.HasPrefix(evs[0].Actor, "registration:iat_") {
		t.Errorf("audit: got %+v, want one client.create by registration:iat_…", evs)
	}
	wantInvalidToken(t, rh.register(single, confidentialBody)) // used up

	// Multi use: exactly three, and a refused request spends none.
	multi := rh.initialToken(3, time.Hour)
	wantError(t, rh.register(multi, `{"grant_types":["password"]}`), http.StatusBadRequest, "invalid_client_metadata")
	for i := range 3 {
		if r := rh.register(multi, confidentialBody); r.status != http.StatusCreated {
			t.Fatalf("use %d of 3: got %d %s", i+1, r.status, r.body)
		}
	}
	wantInvalidToken(t, rh.register(multi, confidentialBody))

	// Expired.
	short := rh.initialToken(5, time.Minute)
	rh.clock.Add(time.Minute)
	wantInvalidToken(t, rh.register(short, confidentialBody))

	// What this policy may still not register.
	fresh := rh.initialToken(100, time.Hour)
	for _, tc := range []struct{ name, body, code string }{
		{"a system scope", `{"grant_types":["client_credentials"],"scope":"gatehouse:admin"}`, "invalid_client_metadata"},
		{"an account scope", `{"grant_types":["client_credentials"],"scope":"account:1"}`, "invalid_client_metadata"},
		{"an unknown scope", `{"grant_types":["client_credentials"],"scope":"nope"}`, "invalid_client_metadata"},
		{"the implicit grant", `{"grant_types":["implicit"],"redirect_uris":["https://a.example/cb"]}`, "invalid_client_metadata"},
		{"client credentials for a public client", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, "invalid_client_metadata"},
		{"a javascript: redirect", `{"redirect_uris":["javascript:alert(1)"]}`, "invalid_redirect_uri"},
		{"private_key_jwt without keys", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt"}`, "invalid_client_metadata"},
		{"a jwks that is not a set", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":"x"}`, "invalid_client_metadata"},
		{"a jwks_uri on http", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"http://keys.example/jwks"}`, "invalid_client_metadata"},
	} {
		wantError(t, rh.register(fresh, tc.body), http.StatusBadRequest, tc.code)
	}
	// private_key_jwt with a JWKS URI.
	r = rh.register(fresh, `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://keys.example/jwks.json","scope":"search"}`)
	wantCreated(t, r)
	if _, ok := r.json["client_secret"]; ok || r.json["jwks_uri"] != "https://keys.example/jwks.json" {
		t.Errorf("private_key_jwt registration: %s", r.body)
	}
}

// TestRegistrationInitialGrantTypes: the configured grant types bound what
// may be registered with an initial access token.
func TestRegistrationInitialGrantTypes(t *testing.T) {
	rh := newRegHarness(t, registration.InitialAccessToken, func(_ *Options, ro *registration.Options) {
		ro.GrantTypes = []string{store.GrantAuthorizationCode, store.GrantRefreshToken}
	})
	tok := rh.initialToken(10, time.Hour)
	wantError(t, rh.register(tok, confidentialBody), http.StatusBadRequest, "invalid_client_metadata")
	wantCreated(t, rh.register(tok, `{"redirect_uris":["https://app.example/callback"],"scope":"api"}`))
}

func TestRegistrationOpen(t *testing.T) {
	rh := newRegHarness(t, registration.Open)
	for _, tc := range []struct{ name, body, code string }{
		{"a confidential client", `{"redirect_uris":["https://app.example/callback"],"token_endpoint_auth_method":"client_secret_basic"}`, "invalid_client_metadata"},
		{"private_key_jwt", `{"redirect_uris":["https://app.example/callback"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://k.example/j"}`, "invalid_client_metadata"},
		{"client credentials", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, "invalid_client_metadata"},
		{"refresh alone", `{"grant_types":["refresh_token"],"redirect_uris":["https://app.example/callback"]}`, "invalid_client_metadata"},
		{"response type token", `{"response_types":["token"],"redirect_uris":["https://app.example/callback"]}`, "invalid_client_metadata"},
		{"no redirect URI", `{"client_name":"x"}`, "invalid_redirect_uri"},
		{"http on a public host", `{"redirect_uris":["http://app.example/callback"]}`, "invalid_redirect_uri"},
		{"a private-use scheme", `{"redirect_uris":["com.example.app:/callback"]}`, "invalid_redirect_uri"},
		{"a fragment", `{"redirect_uris":["https://app.example/cb#x"]}`, "invalid_redirect_uri"},
		{"a scope that is not self-service", `{"redirect_uris":["https://app.example/callback"],"scope":"profile api"}`, "invalid_client_metadata"},
		{"a system scope", `{"redirect_uris":["https://app.example/callback"],"scope":"gatehouse:admin"}`, "invalid_client_metadata"},
		{"redirect_uris of the wrong type", `{"redirect_uris":"https://app.example/callback"}`, "invalid_client_metadata"},
		{"client_name of the wrong type", `{"redirect_uris":["https://app.example/callback"],"client_name":7}`, "invalid_client_metadata"},
		{"a list that is not an object", `[{"redirect_uris":["https://app.example/callback"]}]`, "invalid_client_metadata"},
		{"not JSON", `{"redirect_uris":`, "invalid_client_metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, rh.register("", tc.body), http.StatusBadRequest, tc.code)
		})
	}
	if cs, _ := rh.st.ListClients(context.Background()); len(cs) != 0 {
		t.Fatalf("refused registrations created %d clients", len(cs))
	}

	// Loopback redirect URIs on any port (RFC 8252 §7.3); unknown metadata
	// ignored; the method defaults to none and the scopes to the
	// self-service ones.
	r := rh.register("", `{"redirect_uris":["http://127.0.0.1:49152/cb","http://[::1]:8080/cb","http://localhost/cb"],
		"client_name":"Desktop app","logo_uri":"https://x.example/l.png","software_statement":"eyJ.x.y","client_name#ja":"アプリ"}`)
	_, _ = wantCreated(t, r)
	if r.json["token_endpoint_auth_method"] != "none" || r.json["scope"] != "profile search api:read-only" {
		t.Errorf("defaults: got method %v, scope %v; want none and the self-service scopes", r.json["token_endpoint_auth_method"], r.json["scope"])
	}
	if _, ok := r.json["client_secret"]; ok {
		t.Errorf("a public client got a client_secret: %s", r.body)
	}
	if _, ok := r.json["logo_uri"]; ok {
		t.Errorf("an ignored metadata came back: %s", r.body)
	}

	// A public client registered openly runs code + PKCE.
	r = rh.register("", `{"redirect_uris":["`+testRedirect+`"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"scope":"profile","client_name":"MCP client"}`)
	id, _ := wantCreated(t, r)
	rh.login()
	ver, chal := pkce(t)
	// The consent page says nobody vouches for a self-registered app.
	if p := rh.get(authorizePath(authzParamsFor(id, chal, "profile"))); p.status != http.StatusOK || !strings.Contains(p.body, `id="self-registered"`) {
		t.Errorf("consent page of a self-registered client: got %d without the self-registered notice\n%s", p.status, p.body)
	}
	opID, _ := rh.app(clients.Spec{Name: "operator's"})
	if p := rh.get(authorizePath(authzParamsFor(opID, chal, "profile"))); p.status != http.StatusOK || strings.Contains(p.body, `id="self-registered"`) {
		t.Errorf("consent page of an operator's client: got %d, want no self-registered notice", p.status)
	}
	tr := rh.exchange(id, "", rh.code(authzParamsFor(id, chal, "profile")), ver)
	if tr.status != http.StatusOK || tr.json["refresh_token"] == nil {
		t.Fatalf("token for the openly registered client: got %d %s", tr.status, tr.body)
	}
	// Without PKCE: refused even where the server makes it optional,
	// because the client is public.
	q := rh.redirectParams(rh.get(authorizePath(authzParamsFor(id, "", "profile"))))
	if q.Get("error") != "invalid_request" {
		t.Errorf("authorization without PKCE: got %v, want invalid_request", q)
	}
	// A scope beyond the registration is refused at the authorization
	// endpoint.
	q = rh.redirectParams(rh.get(authorizePath(authzParamsFor(id, chal, "api"))))
	if q.Get("error") != "invalid_scope" {
		t.Errorf("authorization for a scope it did not register: got %v, want invalid_scope", q)
	}
	evs, _ := rh.st.ListAudit(context.Background(), store.AuditFilter{Target: id})
	if len(evs) != 1 || !strings.HasPrefix(evs[0].Actor, "registration:open@") || !strings.Contains(evs[0].Detail, "self-registered (open)") {
		t.Errorf("audit: got %+v, want a client.create by registration:open@…", evs)
	}
}

func TestRegistrationRateLimit(t *testing.T) {
	rh := newRegHarness(t, registration.Open, func(o *Options, _ *registration.Options) {
		o.RegistrationsPerAddress, o.RegistrationBurst = 1, 2
	})
	ok := `{"redirect_uris":["https://app.example/callback"]}`
	wantCreated(t, rh.register("", ok))
	wantError(t, rh.register("", `{}`), http.StatusBadRequest, "invalid_redirect_uri") // refused ones count too
	r := rh.register("", ok)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("third registration in a burst of 2: got %d %s (Retry-After %q), want 429 with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
	}
	rh.clock.Add(time.Minute)
	wantCreated(t, rh.register("", ok))

	// The initial access token policy does not limit by address.
	rh2 := newRegHarness(t, registration.InitialAccessToken, func(o *Options, _ *registration.Options) {
		o.RegistrationsPerAddress, o.RegistrationBurst = 1, 1
	})
	tok := rh2.initialToken(5, time.Hour)
	for i := range 3 {
		if r := rh2.register(tok, confidentialBody); r.status != http.StatusCreated {
			t.Fatalf("initial token registration %d: got %d %s", i+1, r.status, r.body)
		}
	}
}

func TestRegistrationManagement(t *testing.T) {
	rh := newRegHarness(t, registration.InitialAccessToken)
	tok := rh.initialToken(10, time.Hour)
	body := `{"client_name":"Web app","redirect_uris":["https://app.example/callback"],"grant_types":["authorization_code","refresh_token"],"scope":"profile"}`
	id, regToken := wantCreated(t, rh.register(tok, body))
	other, otherToken := wantCreated(t, rh.register(tok, body))
	path := PathRegister + "/" + id

	// Read.
	r := rh.send("GET", path, regToken, "")
	if r.status != http.StatusOK || r.json["client_id"] != id || r.json["client_name"] != "Web app" ||
		r.json["registration_access_token"] != regToken || r.json["registration_client_uri"] != "http://issuer.test"+path {
		t.Fatalf("read: got %d %s", r.status, r.body)
	}
	if _, ok := r.json["client_secret"]; ok {
		t.Errorf("read shows a client_secret: %s", r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("read: Cache-Control %q, want no-store", r.header.Get("Cache-Control"))
	}
	for name, tc := range map[string]struct{ path, token string }{
		"no token":                 {path, ""},
		"another client's token":   {path, otherToken},
		"a wrong token":            {path, "ghm_wrong"},
		"an unknown client":        {PathRegister + "/nosuchclient", regToken},
		"a client ID that is bad":  {PathRegister + "/%20x", regToken},
		"the initial access token": {path, tok},
	} {
		t.Run("read with "+name, func(t *testing.T) { wantInvalidToken(t, rh.send("GET", tc.path, tc.token, "")) })
	}
	// An operator's client has no registration access token.
	opID, _ := rh.app(clients.Spec{Name: "operator's"})
	wantInvalidToken(t, rh.send("GET", PathRegister+"/"+opID, regToken, ""))

	// Update: a wrong token changes nothing; the right one replaces the
	// metadata.
	upd := `{"client_id":"` + id + `","client_name":"Web app 2","redirect_uris":["https://app.example/callback","https://app.example/cb2"],"grant_types":["authorization_code"],"scope":"profile search"}`
	wantInvalidToken(t, rh.send("PUT", path, otherToken, upd))
	if c, _ := rh.svc.Get(context.Background(), id); c.Name != "Web app" {
		t.Fatalf("an update with a wrong token changed the client: %+v", c)
	}
	r = rh.send("PUT", path, regToken, upd)
	if r.status != http.StatusOK || r.json["client_name"] != "Web app 2" || r.json["scope"] != "profile search" {
		t.Fatalf("update: got %d %s", r.status, r.body)
	}
	c, _ := rh.svc.Get(context.Background(), id)
	if c.Name != "Web app 2" || len(c.RedirectURIs) != 2 || len(c.GrantTypes) != 1 {
		t.Errorf("after update: %+v", c)
	}
	for _, tc := range []struct{ name, body, code string }{
		{"no client_id", `{"client_name":"x","redirect_uris":["https://app.example/callback"]}`, "invalid_client_metadata"},
		{"another client_id", `{"client_id":"` + other + `","redirect_uris":["https://app.example/callback"]}`, "invalid_client_metadata"},
		{"a chosen client_secret", `{"client_id":"` + id + `","client_secret":"ghs_mine","redirect_uris":["https://app.example/callback"]}`, "invalid_client_metadata"},
		{"another auth method", `{"client_id":"` + id + `","token_endpoint_auth_method":"none","redirect_uris":["https://app.example/callback"]}`, "invalid_client_metadata"},
		{"a bad redirect", `{"client_id":"` + id + `","redirect_uris":["http://app.example/cb"]}`, "invalid_client_metadata"},
	} {
		t.Run("update with "+tc.name, func(t *testing.T) {
			r := rh.send("PUT", path, regToken, tc.body)
			if r.status != http.StatusBadRequest || (r.json["error"] != tc.code && r.json["error"] != "invalid_redirect_uri") {
				t.Errorf("got %d %s, want 400 %s", r.status, r.body, tc.code)
			}
		})
	}
	// Switching between the secret methods is fine.
	r = rh.send("PUT", path, regToken, `{"client_id":"`+id+`","token_endpoint_auth_method":"client_secret_post","redirect_uris":["https://app.example/callback"],"scope":"profile"}`)
	if r.status != http.StatusOK || r.json["token_endpoint_auth_method"] != "client_secret_post" {
		t.Errorf("update to client_secret_post: got %d %s", r.status, r.body)
	}

	// Delete: a wrong token deletes nothing; the right one does.
	wantInvalidToken(t, rh.send("DELETE", path, otherToken, ""))
	if r := rh.send("DELETE", path, regToken, ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: got %d %s, want 204", r.status, r.body)
	}
	if _, err := rh.svc.Get(context.Background(), id); err == nil {
		t.Errorf("the client is still there after its delete")
	}
	wantInvalidToken(t, rh.send("GET", path, regToken, ""))
	if r := rh.send("GET", PathRegister+"/"+other, otherToken, ""); r.status != http.StatusOK {
		t.Errorf("the other client after the delete: got %d", r.status)
	}
	if r := rh.send("PATCH", path, regToken, "{}"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("PATCH: got %d, want 405", r.status)
	}
	var actions []string
	evs, _ := rh.st.ListAudit(context.Background(), store.AuditFilter{Target: id})
	for _, e := range evs {
		actions = append(actions, e.Action+" by "+strings.SplitN(e.Actor, "@", 2)[0])
	}
	want := "client.delete by client:" + id
	if len(actions) < 3 || actions[0] != want || !strings.HasPrefix(actions[1], "client.update by client:") {
		t.Errorf("audit: got %q, want the delete and the updates by client:%s", actions, id)
	}
}

// TestRegistrationTokenCompared: the registration access token is checked
// by its SHA-256 digest (compared in constant time), so neither the digest
// itself nor a near miss is accepted.
func TestRegistrationTokenCompared(t *testing.T) {
	rh := newRegHarness(t, registration.Open)
	id, tok := wantCreated(t, rh.register("", `{"redirect_uris":["https://app.example/callback"]}`))
	path := PathRegister + "/" + id
	d := sha256.Sum256([]byte(tok))
	last := tok[len(tok)-1]
	flipped := tok[:len(tok)-1] + string(rune(map[bool]byte{true: 'B', false: 'A'}[last == 'A']))
	for name, presented := range map[string]string{
		"the stored digest (hex)":       hex.EncodeToString(d[:]),
		"the stored digest (base64url)": base64.RawURLEncoding.EncodeToString(d[:]),
		"the last character changed":    flipped,
		"a prefix":                      tok[:len(tok)-1],
		"a longer token":                tok + "A",
		"the token in another case":     strings.ToUpper(tok),
	} {
		t.Run(name, func(t *testing.T) {
			wantInvalidToken(t, rh.send("GET", path, presented, ""))
			wantInvalidToken(t, rh.send("DELETE", path, presented, ""))
		})
	}
	if r := rh.send("GET", path, tok, ""); r.status != http.StatusOK {
		t.Errorf("the token itself: got %d %s", r.status, r.body)
	}
}

func TestRegistrationBody(t *testing.T) {
	rh := newRegHarness(t, registration.Open)
	big := `{"redirect_uris":["https://app.example/callback"],"client_name":"` + strings.Repeat("x", maxRegistrationBody) + `"}`
	wantError(t, rh.register("", big), http.StatusBadRequest, "invalid_request")
	req, _ := http.NewRequest("POST", rh.http.URL+PathRegister, strings.NewReader(`{"redirect_uris":["https://app.example/callback"]}`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	wantError(t, rh.do(req), http.StatusBadRequest, "invalid_request")
	wantError(t, rh.register("", ""), http.StatusBadRequest, "invalid_request") // no body, no content type
	if r := rh.send("GET", PathRegister, "", ""); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET %s: got %d, want 405", PathRegister, r.status)
	}
	// Just under the limit is fine (the name is then too long, which is a
	// metadata problem, not a size one).
	name := strings.Repeat("x", 300)
	wantError(t, rh.register("", `{"redirect_uris":["https://app.example/callback"],"client_name":"`+name+`"}`), http.StatusBadRequest, "invalid_client_metadata")
	if cs, _ := rh.st.ListClients(context.Background()); len(cs) != 0 {
		t.Errorf("refused registrations created %d clients", len(cs))
	}
}

// TestRegistrationPruneUnused: the server's pruning deletes open
// registrations that got no token within registration.unused_ttl, and keeps
// used ones and those registered with an initial access token.
func TestRegistrationPruneUnused(t *testing.T) {
	rh := newRegHarness(t, registration.Open)
	ctx := context.Background()
	body := `{"redirect_uris":["` + testRedirect + `"],"scope":"profile"}`
	idle, _ := wantCreated(t, rh.register("", body))
	used, _ := wantCreated(t, rh.register("", body))
	authorized, _ := wantCreated(t, rh.register("", body)) // gets a code, never a token
	// One registered with an initial access token (under that policy
	// earlier): never pruned.
	iatClient, _, err := rh.svc.Create(ctx, "test", clients.Spec{Name: "iat", GrantTypes: []string{store.GrantClientCredentials},
		SelfRegistered: store.RegisteredInitialAccessToken, RegistrationTokenDigest: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	opClient, _ := rh.app(clients.Spec{Name: "operator's"})

	rh.clock.Add(10 * 24 * time.Hour)
	rh.login()
	ver, chal := pkce(t)
	if r := rh.exchange(used, "", rh.code(authzParamsFor(used, chal, "profile")), ver); r.status != http.StatusOK {
		t.Fatalf("token: got %d %s", r.status, r.body)
	}
	rh.code(authzParamsFor(authorized, chal, "profile"))
	rh.srv.flushUsage(ctx)

	rh.clock.Add(20*24*time.Hour + time.Hour) // 30 days and an hour after the registrations
	rh.srv.prune(ctx)
	for id, want := range map[string]bool{idle: false, used: true, authorized: true, iatClient.ID: true, opClient: true} {
		_, err := rh.svc.Get(ctx, id)
		if got := err == nil; got != want {
			t.Errorf("client %s after pruning: exists %v, want %v", id, got, want)
		}
	}
	evs, _ := rh.st.ListAudit(ctx, store.AuditFilter{Target: idle, Action: "client.delete"})
	if len(evs) != 1 || evs[0].Actor != "system" {
		t.Errorf("audit of the pruned client: %+v, want one client.delete by system", evs)
	}
	// Another 30 days without a token: the used one goes too.
	rh.clock.Add(30 * 24 * time.Hour)
	rh.srv.prune(ctx)
	if _, err := rh.svc.Get(ctx, used); err == nil {
		t.Errorf("a client unused for 30 days since its last token survived pruning")
	}
	if _, err := rh.svc.Get(ctx, iatClient.ID); err != nil {
		t.Errorf("the initial-access-token client was pruned: %v", err)
	}
}

// TestRegistrationCORS: pages on the configured origins may register and
// manage a registration from a browser; others get no CORS headers.
func TestRegistrationCORS(t *testing.T) {
	rh := newRegHarness(t, registration.Open, func(o *Options, _ *registration.Options) {
		o.CORSOrigins = []string{"https://agent.example"}
	})
	for _, path := range []string{PathRegister, PathRegister + "/abc"} {
		for origin, want := range map[string]string{"https://agent.example": "https://agent.example", "https://evil.example": ""} {
			req, _ := http.NewRequest("OPTIONS", rh.http.URL+path, nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", map[bool]string{true: "POST", false: "DELETE"}[path == PathRegister])
			req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
			r := rh.do(req)
			if got := r.header.Get("Access-Control-Allow-Origin"); got != want {
				t.Errorf("preflight of %s from %s: Access-Control-Allow-Origin %q, want %q (%d)", path, origin, got, want, r.status)
			}
		}
	}
	req, _ := http.NewRequest("POST", rh.http.URL+PathRegister, strings.NewReader(`{"redirect_uris":["https://agent.example/cb"]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://agent.example")
	r := rh.do(req)
	if r.status != http.StatusCreated || r.header.Get("Access-Control-Allow-Origin") != "https://agent.example" {
		t.Errorf("registration from the allowed origin: got %d, Access-Control-Allow-Origin %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
}

// TestRegistrationGolden compares registration responses with files in
// testdata/ (random IDs and tokens and the time replaced). Refresh with:
// go test ./internal/server -run Golden -update
func TestRegistrationGolden(t *testing.T) {
	open := newRegHarness(t, registration.Open)
	iat := newRegHarness(t, registration.InitialAccessToken)
	random := regexp.MustCompile(`("client_id":"|"registration_access_token":"ghm_|/oauth/register/)[A-Za-z0-9_-]+|"client_id_issued_at":[0-9]+`)
	normalize := func(r response) response {
		r.body = random.ReplaceAllStringFunc(r.body, func(m string) string {
			if strings.HasPrefix(m, `"client_id_issued_at"`) {
				return `"client_id_issued_at":1`
			}
			return random.FindStringSubmatch(m)[1] + "X"
		})
		return r
	}
	for _, tc := range []struct {
		name string
		do   func() response
	}{
		{"metadata-registration", func() response {
			return open.do(mustRequest(t, "GET", open.http.URL+PathMetadata))
		}},
		{"register-created", func() response {
			return normalize(open.register("", `{"client_name":"Agent","redirect_uris":["http://127.0.0.1:53682/cb"],"scope":"profile","logo_uri":"https://x.example/l.png"}`))
		}},
		{"register-invalid-redirect-uri", func() response {
			return open.register("", `{"redirect_uris":["http://app.example/cb"]}`)
		}},
		{"register-invalid-client-metadata", func() response {
			return open.register("", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}`)
		}},
		{"register-invalid-token", func() response { return iat.register("ghi_wrong", confidentialBody) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGolden(t, tc.name, render(tc.do()))
		})
	}
}

// TestRegistrationOpenResources: an open registration may name the
// self-service scopes of a resource's catalog (an MCP server's) and is
// then allowed that resource: its tokens have the resource as audience. A
// scope of the resource that is not self-service is refused.
func TestRegistrationOpenResources(t *testing.T) {
	rh := newRegHarness(t, registration.Open, func(o *Options, ro *registration.Options) {
		o.Resources = mcpResources(t)
		ro.Clients = ro.Clients.WithResources([]clients.Resource{{ID: o.Resources[0].ID, Catalog: o.Resources[0].Catalog}})
	})
	for _, sc := range []string{"mcp:admin", "mcp:tools mcp:admin", "api"} {
		wantError(t, rh.register("", `{"redirect_uris":["`+testRedirect+`"],"scope":"`+sc+`"}`), http.StatusBadRequest, "invalid_client_metadata")
	}
	// The MCP SDK's registration: its grant types, and the scope the
	// resource's metadata offers.
	r := rh.register("", `{"redirect_uris":["`+testRedirect+`"],"grant_types":["authorization_code","refresh_token"],
		"response_types":["code"],"token_endpoint_auth_method":"none","scope":"mcp:tools","client_name":"MCP client"}`)
	id, _ := wantCreated(t, r)
	if r.json["scope"] != "mcp:tools" {
		t.Errorf("registered scope: got %v, want mcp:tools", r.json["scope"])
	}
	rh.login()
	ver, chal := pkce(t)
	v := authzParamsFor(id, chal, "mcp:tools")
	v.Set("resource", mcpResourceID)
	tr := rh.exchangeFor(id, "", rh.code(v), ver, mcpResourceID)
	wantToken(t, tr, mcpResourceID, "mcp:tools")
	if tr.json["refresh_token"] == nil {
		t.Errorf("no refresh token for a client registered with the refresh_token grant: %s", tr.body)
	}
	// A scope it did not register is refused.
	v = authzParamsFor(id, chal, "profile")
	if q := rh.redirectParams(rh.get(authorizePath(v))); q.Get("error") != "invalid_scope" {
		t.Errorf("scope profile, not registered: got %v, want invalid_scope", q)
	}
}
