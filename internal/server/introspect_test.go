package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/clients"
)

func TestIntrospectAndRevoke(t *testing.T) {
	h := newHarness(t)
	h.run()
	id, secret := h.client(clients.Spec{Scopes: []string{"search"}, Accounts: []string{"acme"}})
	rsID, rsSecret := h.client(clients.Spec{Name: "resource server"})
	tok := h.token(id, secret, "scope="+url.QueryEscape("search account:acme")).json["access_token"].(string)
	introspect := func(tok string) response {
		return h.post(PathIntrospect, "token="+url.QueryEscape(tok), map[string]string{"Authorization": basic(rsID, rsSecret)})
	}

	r := introspect(tok)
	if r.status != 200 || r.json["active"] != true {
		t.Fatalf("got %d %s, want active", r.status, r.body)
	}
	for k, want := range map[string]any{"client_id": id, "sub": id, "scope": "search account:acme", "account_id": "acme",
		"iss": "http://issuer.test", "aud": "https://api.test", "token_type": "Bearer"} {
		if r.json[k] != want {
			t.Errorf("%s: got %v, want %v", k, r.json[k], want)
		}
	}

	inactive := func(name, tok string) {
		t.Helper()
		r := introspect(tok)
		if r.status != 200 || r.body != `{"active":false}` {
			t.Errorf("%s: got %d %s, want 200 {\"active\":false}", name, r.status, r.body)
		}
	}
	inactive("garbage", "not-a-token")
	inactive("tampered", tok[:len(tok)-4]+"AAAA")

	// Introspection requires client authentication.
	wantError(t, h.post(PathIntrospect, "token="+tok, nil), 401, "invalid_client")
	wantError(t, h.post(PathIntrospect, "", map[string]string{"Authorization": basic(rsID, rsSecret)}), 400, "invalid_request")

	// Revocation: only the owning client; unknown tokens are fine.
	revoke := func(id, secret, tok string) response {
		return h.post(PathRevoke, "token="+url.QueryEscape(tok)+"&token_type_hint=access_token", map[string]string{"Authorization": basic(id, secret)})
	}
	if r := revoke(id, secret, "garbage"); r.status != 200 {
		t.Errorf("revoke garbage: got %d %s, want 200", r.status, r.body)
	}
	wantError(t, revoke(rsID, rsSecret, tok), 400, "unauthorized_client")
	wantError(t, revoke(id, "wrong", tok), 401, "invalid_client")
	if r := revoke(id, secret, tok); r.status != 200 {
		t.Fatalf("revoke: got %d %s, want 200", r.status, r.body)
	}
	inactive("revoked", tok)
	if r := revoke(id, secret, tok); r.status != 200 {
		t.Errorf("revoke twice: got %d %s, want 200", r.status, r.body)
	}

	// Expired tokens are inactive.
	tok2 := h.token(id, secret, "").json["access_token"].(string)
	h.clock.Add(time.Hour + time.Minute)
	inactive("expired", tok2)

	// Tokens of a deleted client are inactive.
	tok3 := h.token(id, secret, "").json["access_token"].(string)
	if err := h.svc.Delete(context.Background(), "test", id); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return introspect(tok3).body == `{"active":false}` })
}

func TestDiscoveryAndJWKS(t *testing.T) {
	h := newHarness(t)
	req, _ := http.NewRequest("GET", h.http.URL+PathMetadata, nil)
	r := h.do(req)
	if r.status != 200 {
		t.Fatalf("metadata: got %d", r.status)
	}
	for k, want := range map[string]any{
		"issuer":                 "http://issuer.test",
		"token_endpoint":         "http://issuer.test/oauth/token",
		"jwks_uri":               "http://issuer.test/.well-known/jwks.json",
		"introspection_endpoint": "http://issuer.test/oauth/introspect",
		"revocation_endpoint":    "http://issuer.test/oauth/revoke",
	} {
		if r.json[k] != want {
			t.Errorf("%s: got %v, want %v", k, r.json[k], want)
		}
	}
	b, _ := json.Marshal(r.json["scopes_supported"])
	if string(b) != `["profile","search","api:read-only","api"]` {
		t.Errorf("scopes_supported: got %s", b)
	}
	b, _ = json.Marshal(r.json["token_endpoint_auth_methods_supported"])
	if string(b) != `["client_secret_basic","client_secret_post","private_key_jwt"]` {
		t.Errorf("token_endpoint_auth_methods_supported: got %s", b)
	}

	req, _ = http.NewRequest("GET", h.http.URL+PathJWKS, nil)
	r = h.do(req)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(r.body), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks: got %s (%v), want one key", r.body, err)
	}
	if cc := r.header.Get("Cache-Control"); cc == "" || r.header.Get("ETag") == "" {
		t.Errorf("jwks caching headers: got Cache-Control %q ETag %q", cc, r.header.Get("ETag"))
	}
	req.Header.Set("If-None-Match", r.header.Get("ETag"))
	if r2 := h.do(req); r2.status != 304 {
		t.Errorf("conditional GET: got %d, want 304", r2.status)
	}

	// The token verifies against the published key with an independent library.
	id, secret := h.client(clients.Spec{})
	tok := h.token(id, secret, "").json["access_token"].(string)
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if jws.Signatures[0].Header.ExtraHeaders["typ"] != "at+jwt" {
		t.Errorf("typ: got %v, want at+jwt", jws.Signatures[0].Header.ExtraHeaders["typ"])
	}
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in JWKS", jws.Signatures[0].Header.KeyID)
	}
	if _, err := jws.Verify(keys[0].Key); err != nil {
		t.Errorf("verify with JWKS key: %v", err)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	h := newHarness(t)
	id, secret := h.client(clients.Spec{})
	h.token(id, secret, "")
	h.token(id, "wrong", "")
	// /metrics is not on the public listener (see internal/cli's metrics
	// listener): it is an unknown path like any other.
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 404, "/nope": 404} {
		req, _ := http.NewRequest("GET", h.http.URL+path, nil)
		if r := h.do(req); r.status != want {
			t.Errorf("%s: got %d, want %d", path, r.status, want)
		}
	}
	body := h.metrics()
	for _, want := range []string{
		`gatehouse_tokens_issued_total{grant_type="client_credentials"} 1`,
		`gatehouse_client_auth_failures_total{reason="bad_secret"} 1`,
		`gatehouse_http_request_duration_seconds_count{route="token"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	h.st.Close()
	req, _ := http.NewRequest("GET", h.http.URL+"/readyz", nil)
	if r := h.do(req); r.status != 503 {
		t.Errorf("readyz with the store closed: got %d, want 503", r.status)
	}
}
