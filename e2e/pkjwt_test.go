package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/e2e/harness"
)

// TestPrivateKeyJWT: a client registered with `clients create
// --token-endpoint-auth-method private_key_jwt --jwks-file` gets a token
// with an assertion signed by its private key (RFC 7523 §2.2), introspects
// it with another, and a replayed assertion is refused.
func TestPrivateKeyJWT(t *testing.T) {
	in := newInstance(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{KeyID: "job-2026", Algorithm: "ES256", Use: "sig", Key: &key.PublicKey}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	c := in.CreateClient("--name", "Signed job", "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", file)
	if c.ClientSecret != "" {
		t.Fatalf("a private_key_jwt client got a secret")
	}
	srv := in.serve()

	code, md := harness.DoJSON(t, mustRequest(t, "GET", srv.URL+"/.well-known/oauth-authorization-server"))
	tokenURL, _ := md["token_endpoint"].(string)
	methods, _ := md["token_endpoint_auth_methods_supported"].([]any)
	if code != 200 || tokenURL == "" || !slices.Contains(methods, any("private_key_jwt")) {
		t.Fatalf("metadata: got %d %v, want private_key_jwt advertised", code, md)
	}

	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "job-2026").WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	assertion := func(aud string) string {
		now := time.Now()
		b, _ := json.Marshal(map[string]any{"iss": c.ClientID, "sub": c.ClientID, "aud": aud,
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": rand.Text()})
		obj, err := signer.Sign(b)
		if err != nil {
			t.Fatal(err)
		}
		s, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	post := func(path string, form url.Values, a string) (int, map[string]any) {
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", a)
		return harness.DoJSON(t, formRequest(t, srv.URL+path, form.Encode()))
	}

	a := assertion(tokenURL)
	code, m := post("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, a)
	tok, _ := m["access_token"].(string)
	if code != 200 || tok == "" {
		t.Fatalf("token with an assertion: got %d %v, want a token", code, m)
	}
	code, m = post("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, a)
	if code != 401 || m["error"] != "invalid_client" {
		t.Errorf("a replayed assertion: got %d %v, want 401 invalid_client", code, m)
	}
	code, m = post("/oauth/introspect", url.Values{"token": {tok}}, assertion(tokenURL))
	if code != 200 || m["active"] != true || m["client_id"] != c.ClientID {
		t.Errorf("introspection with an assertion: got %d %v, want active", code, m)
	}
	code, m = post("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, assertion("https://elsewhere.example/token"))
	if code != 401 || m["error"] != "invalid_client" {
		t.Errorf("an assertion for another audience: got %d %v, want 401 invalid_client", code, m)
	}
}

func formRequest(t *testing.T, u, form string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}
