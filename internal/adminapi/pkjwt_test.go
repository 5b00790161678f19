package adminapi_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi/apitest"
)

// TestPrivateKeyJWTClient: a private_key_jwt client with a JWKS, then a
// JWKS URI by merge patch, then back to a secret; a private key refused.
func TestPrivateKeyJWTClient(t *testing.T) {
	s := apitest.Start(t)
	tok := s.AdminToken()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := func(key any) json.RawMessage {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{KeyID: "k1", Key: key}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	r := s.Do("POST", "/admin/v1/clients", tok, admin.NewClient{Name: "Signer", Scopes: []string{"orders"}, TokenEndpointAuthMethod: "private_key_jwt", JWKS: set(priv)})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "not a public key") {
		t.Fatalf("create with a private key: got %d %s, want 422", r.Status, r.Body)
	}
	r = s.Do("POST", "/admin/v1/clients", tok, admin.NewClient{Name: "Signer", Scopes: []string{"orders"}, TokenEndpointAuthMethod: "private_key_jwt", JWKS: set(pub)})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: got %d %s", r.Status, r.Body)
	}
	var c admin.Client
	r.JSON(t, &c)
	if c.ClientSecret != "" || len(c.Secrets) != 0 || c.TokenEndpointAuthMethod != "private_key_jwt" || !strings.Contains(string(c.JWKS), `"kid":"k1"`) {
		t.Fatalf("created %+v: want private_key_jwt with its JWKS and no secret", c)
	}

	id := c.ClientID
	r = s.Do("PATCH", "/admin/v1/clients/"+id, tok, `{"jwks_uri":"https://signer.example/jwks"}`, "Content-Type", "application/merge-patch+json")
	c = admin.Client{}
	r.JSON(t, &c)
	if r.Status != 200 || c.JWKSURI != "https://signer.example/jwks" || c.JWKS != nil {
		t.Fatalf("patch jwks_uri: got %d %s", r.Status, r.Body)
	}
	r = s.Do("PATCH", "/admin/v1/clients/"+id, tok, `{"jwks":["not","a","set"]}`, "Content-Type", "application/merge-patch+json")
	if r.Status != http.StatusBadRequest {
		t.Errorf("patch jwks with an array: got %d %s, want 400", r.Status, r.Body)
	}
	r = s.Do("PATCH", "/admin/v1/clients/"+id, tok, `{"token_endpoint_auth_method":"client_secret_basic"}`, "Content-Type", "application/merge-patch+json")
	c = admin.Client{}
	r.JSON(t, &c)
	if r.Status != 200 || c.ClientSecret == "" || c.JWKSURI != "" || len(c.Secrets) != 1 {
		t.Fatalf("to client_secret_basic: got %d %s, want a new secret and no keys", r.Status, r.Body)
	}
}

// TestJWKSURINeedsAdmin: only an unrestricted gatehouse:admin token
// registers a jwks_uri (which the server fetches); a tenant or a
// gatehouse:clients token sends the keys as jwks.
func TestJWKSURINeedsAdmin(t *testing.T) {
	s := apitest.Start(t)
	pid, psecret := s.Client([]string{"gatehouse:clients"}, []string{"*"})
	for name, tok := range map[string]string{
		"tenant":  s.TokenFor(pid, psecret, "gatehouse:clients account:acme"),
		"manager": s.TokenFor(pid, psecret, "gatehouse:clients"),
	} {
		r := s.Do("POST", "/admin/v1/clients", tok, admin.NewClient{Name: "Signer", Scopes: []string{"orders"},
			TokenEndpointAuthMethod: "private_key_jwt", JWKSURI: "http://127.0.0.1:9000/internal"})
		var p admin.Problem
		r.JSON(t, &p)
		if r.Status != http.StatusForbidden || p.Field != "/jwks_uri" {
			t.Errorf("%s creates with a jwks_uri: got %d %s, want 403 naming /jwks_uri", name, r.Status, r.Body)
		}
	}
	tenant := s.TokenFor(pid, psecret, "gatehouse:clients account:acme")
	r := s.Do("POST", "/admin/v1/clients", tenant, admin.NewClient{Name: "Plain", Scopes: []string{"orders"}})
	var c admin.Client
	r.JSON(t, &c)
	r = s.Do("PATCH", "/admin/v1/clients/"+c.ClientID, tenant, `{"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://signer.example/jwks"}`,
		"Content-Type", "application/merge-patch+json")
	if r.Status != http.StatusForbidden {
		t.Errorf("tenant patches a jwks_uri: got %d %s, want 403", r.Status, r.Body)
	}
	if r := s.Do("POST", "/admin/v1/clients", s.AdminToken(), admin.NewClient{Name: "Signer", Scopes: []string{"orders"},
		TokenEndpointAuthMethod: "private_key_jwt", JWKSURI: "https://signer.example/jwks"}); r.Status != http.StatusCreated {
		t.Errorf("an admin registers a jwks_uri: got %d %s", r.Status, r.Body)
	}
}
