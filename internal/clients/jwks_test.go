package clients

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/store"
)

// jwksOf returns a JWKS document of the keys, each with its kid and alg.
func jwksOf(t *testing.T, keys ...jose.JSONWebKey) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testKeys(t *testing.T) (ec *ecdsa.PrivateKey, rs *rsa.PrivateKey, ed ed25519.PrivateKey) {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rs, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return ec, rs, ed
}

func TestParseJWKS(t *testing.T) {
	ec, rs, ed := testKeys(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := func(kid, alg string, k crypto.PublicKey) jose.JSONWebKey {
		return jose.JSONWebKey{KeyID: kid, Algorithm: alg, Use: "sig", Key: k}
	}
	tests := []struct {
		name, doc, want string // want: "" for success, else part of the error
		n               int
	}{
		{"three keys", jwksOf(t, pub("e", "ES256", &ec.PublicKey), pub("r", "PS256", &rs.PublicKey), pub("d", "", ed.Public())), "", 3},
		{"private key", jwksOf(t, pub("e", "ES256", ec)), "not a public key", 0},
		{"symmetric key", jwksOf(t, pub("h", "HS256", []byte("0123456789abcdef0123456789abcdef"))), "", 0},
		{"no kid", jwksOf(t, pub("", "ES256", &ec.PublicKey)), "no kid", 0},
		{"kid twice", jwksOf(t, pub("k", "", &ec.PublicKey), pub("k", "", ed.Public())), "twice", 0},
		{"alg none", jwksOf(t, pub("k", "none", &ec.PublicKey)), "not supported", 0},
		{"alg for another key type", jwksOf(t, pub("k", "RS256", &ec.PublicKey)), "does not suit", 0},
		{"P-384", jwksOf(t, pub("k", "", &p384.PublicKey)), "P-256", 0},
		{"encryption key", `{"keys":[` + strings.Replace(jwksOf(t, pub("k", "", ed.Public()))[9:], `"use":"sig"`, `"use":"enc"`, 1), "not a signing key", 0},
		{"no keys", `{"keys":[]}`, "no keys", 0},
		{"not JSON", `keys`, "not a JSON object", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseJWKS([]byte(tt.doc))
			switch {
			case tt.n > 0 && (err != nil || len(keys) != tt.n):
				t.Fatalf("got %d keys, error %v; want %d keys", len(keys), err, tt.n)
			case tt.n == 0 && err == nil:
				t.Fatalf("got %d keys, want an error", len(keys))
			case tt.n == 0 && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("got error %q, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCheckJWKSURI(t *testing.T) {
	for uri, ok := range map[string]bool{
		"https://app.example/jwks.json":                    true,
		"http://127.0.0.1:8080/jwks":                       true,
		"http://[::1]/jwks":                                true,
		"http://localhost/jwks":                            true,
		"http://app.example/jwks":                          false,
		"https://u:p@app.example/jwks":                     false,
		"https://app.example/jwks#frag":                    false,
		"/jwks":                                            false,
		"ftp://app.example/jwks":                           false,
		"https://app.example/" + strings.Repeat("a", 2000): false,
	} {
		if err := CheckJWKSURI(uri); (err == nil) != ok {
			t.Errorf("CheckJWKSURI(%.40q): got %v, want ok %v", uri, err, ok)
		}
	}
}

func TestPrivateKeyJWTClients(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ec, _, _ := testKeys(t)
	jwks := jwksOf(t, jose.JSONWebKey{KeyID: "k1", Algorithm: "ES256", Key: &ec.PublicKey})
	var ve *ValidationError
	ptr := func(s string) *string { return &s }

	bad := []struct {
		name string
		sp   Spec
		want string
	}{
		{"no keys", Spec{}, "needs the client's public keys"},
		{"both", Spec{JWKS: jwks, JWKSURI: "https://app.example/jwks"}, "not both"},
		{"with a secret", Spec{JWKS: jwks, Secret: "ghs_" + strings.Repeat("a", 43)}, "no secret"},
		{"http URI", Spec{JWKSURI: "http://app.example/jwks"}, "must be https"},
		{"private key", Spec{JWKS: jwksOf(t, jose.JSONWebKey{KeyID: "k1", Key: ec})}, "not a public key"},
	}
	for _, tt := range bad {
		sp := tt.sp
		sp.Name, sp.TokenEndpointAuthMethod = "Job", store.AuthMethodPrivateKeyJWT
		if _, _, err := f.svc.Create(ctx, "t", sp); !errors.As(err, &ve) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want a validation error containing %q", tt.name, err, tt.want)
		}
	}
	if _, _, err := f.svc.Create(ctx, "t", Spec{Name: "Job", JWKS: jwks}); !errors.As(err, &ve) || !strings.Contains(err.Error(), "only for the private_key_jwt") {
		t.Errorf("a JWKS with client_secret_basic: got %v, want a validation error", err)
	}

	c, plain, err := f.svc.Create(ctx, "t", Spec{Name: "Job", TokenEndpointAuthMethod: store.AuthMethodPrivateKeyJWT, JWKS: jwks})
	if err != nil || plain != "" || len(c.Secrets) != 0 || c.JWKS != jwks {
		t.Fatalf("Create: got secret %q, %d secrets, JWKS %q, %v; want no secret and the JWKS", plain, len(c.Secrets), c.JWKS, err)
	}
	if _, _, err := f.svc.RotateSecret(ctx, "t", c.ID, 0, ""); !errors.As(err, &ve) {
		t.Errorf("RotateSecret: got %v, want a validation error", err)
	}
	// A JWKS URI replaces the JWKS.
	got, err := f.svc.Update(ctx, "t", c.ID, Patch{JWKSURI: ptr("https://app.example/jwks")})
	if err != nil || got.JWKS != "" || got.JWKSURI != "https://app.example/jwks" {
		t.Fatalf("Update to a JWKS URI: got %q, %q, %v", got.JWKS, got.JWKSURI, err)
	}
	// To a secret: one is issued, the keys are cleared.
	got, sec, err := f.svc.UpdateIssuingSecret(ctx, "t", c.ID, Patch{TokenEndpointAuthMethod: ptr(store.AuthMethodSecretBasic)})
	if err != nil || sec == "" || len(got.Secrets) != 1 || got.JWKSURI != "" || got.JWKS != "" {
		t.Fatalf("to client_secret_basic: got secret %q, %d secrets, %q, %v", sec, len(got.Secrets), got.JWKSURI, err)
	}
	// Back to private_key_jwt: needs keys, and deletes the secrets.
	if _, err := f.svc.Update(ctx, "t", c.ID, Patch{TokenEndpointAuthMethod: ptr(store.AuthMethodPrivateKeyJWT)}); !errors.As(err, &ve) {
		t.Errorf("to private_key_jwt without keys: got %v, want a validation error", err)
	}
	got, err = f.svc.Update(ctx, "t", c.ID, Patch{TokenEndpointAuthMethod: ptr(store.AuthMethodPrivateKeyJWT), JWKS: &jwks})
	if err != nil || len(got.Secrets) != 0 || got.JWKS != jwks || got.AuthMethod() != store.AuthMethodPrivateKeyJWT {
		t.Fatalf("to private_key_jwt: got %s, %d secrets, %v; want private_key_jwt and no secrets", got.AuthMethod(), len(got.Secrets), err)
	}
}
