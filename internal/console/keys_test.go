package console_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
)

func pemPublic(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// TestAppKeys: the new-app form registers a private_key_jwt app with a
// pasted PEM public key (made a JWKS with thumbprint kids) or a JWKS URL
// instead of a secret; the app page lists its keys, replaces them, and
// switches a secret-based app to keys; bad input is explained.
func TestAppKeys(t *testing.T) {
	a := newAdminHarness(t)
	ctx := context.Background()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)

	form := url.Values{"name": {"Signed job"}, "client_id": {"signed"}, "grant_types": {"client_credentials"}, "scopes": {"search"},
		"token_endpoint_auth_method": {"private_key_jwt"}, "jwks": {pemPublic(t, &ec.PublicKey) + pemPublic(t, edPub)}}
	r := a.postForm("/console/apps/new", "/console/apps/new", form)
	wantCode(t, "create with PEM keys", r, http.StatusSeeOther)
	r = a.get(r.hdr.Get("Location"))
	wantBody(t, "app page", r, "Credentials created", "<code>private_key_jwt</code>", `class="kid"`, "Replace keys")
	wantNoBody(t, "app page", r, "Regenerate secret")
	c, err := a.clients.Get(ctx, "signed")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := clients.ParseJWKS([]byte(c.JWKS))
	if c.AuthMethod() != store.AuthMethodPrivateKeyJWT || len(c.Secrets) != 0 || err != nil || len(keys) != 2 {
		t.Fatalf("stored: method %s, %d secrets, %d keys (%v); want private_key_jwt, no secret, 2 keys", c.AuthMethod(), len(c.Secrets), len(keys), err)
	}
	var set jose.JSONWebKeySet
	json.Unmarshal([]byte(c.JWKS), &set)
	tp, _ := set.Keys[0].Thumbprint(crypto.SHA256)
	if set.Keys[0].Algorithm != "ES256" || set.Keys[1].Algorithm != "EdDSA" || set.Keys[0].KeyID != base64.RawURLEncoding.EncodeToString(tp) {
		t.Errorf("JWKS from PEM: %s; want ES256 and EdDSA keys with kids", c.JWKS)
	}

	// Replace them with a JWKS URL.
	r = a.postForm("/console/apps/signed", "/console/apps/signed/keys", url.Values{"jwks_uri": {"https://job.example/jwks.json"}})
	wantCode(t, "replace with a URL", r, http.StatusSeeOther)
	wantBody(t, "after replace", a.get("/console/apps/signed"), `id="jwks-uri">https://job.example/jwks.json<`)
	if c, _ := a.clients.Get(ctx, "signed"); c.JWKS != "" || c.JWKSURI != "https://job.example/jwks.json" {
		t.Errorf("after replace: JWKS %q, URI %q", c.JWKS, c.JWKSURI)
	}

	// Refusals, with the input kept.
	privDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"private key", url.Values{"jwks": {string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))}}, "paste the public key only"},
		{"both", url.Values{"jwks": {pemPublic(t, edPub)}, "jwks_uri": {"https://job.example/jwks.json"}}, "not both"},
		{"neither", url.Values{}, "paste the app&#39;s public keys"},
		{"not a key", url.Values{"jwks": {"hello"}}, "paste a JSON Web Key Set"},
		{"http URL", url.Values{"jwks_uri": {"http://job.example/jwks.json"}}, "must be https"},
		{"JWKS without kid", url.Values{"jwks": {`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`}}, "has no kid"},
	} {
		r := a.postForm("/console/apps/signed", "/console/apps/signed/keys", tc.form)
		wantCode(t, tc.name, r, http.StatusUnprocessableEntity)
		wantBody(t, tc.name, r, tc.want)
		wantNoBody(t, tc.name, r, "PRIVATE KEY-----\n"+"M")
	}

	// A secret-based app switches to keys; its secrets are deleted.
	a.mkClient(t, clients.Spec{ID: "legacy", GrantTypes: []string{"client_credentials"}})
	wantBody(t, "secret-based app", a.get("/console/apps/legacy"), "Keys instead of a secret", "Regenerate secret")
	jwks := `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`
	r = a.postForm("/console/apps/legacy", "/console/apps/legacy/keys", url.Values{"jwks": {jwks}})
	wantCode(t, "switch to keys", r, http.StatusSeeOther)
	if c, _ := a.clients.Get(ctx, "legacy"); c.AuthMethod() != store.AuthMethodPrivateKeyJWT || len(c.Secrets) != 0 {
		t.Errorf("after switching: method %s, %d secrets; want private_key_jwt and none", c.AuthMethod(), len(c.Secrets))
	}
	wantBody(t, "switched app", a.get("/console/apps/legacy"), `<code class="kid">k1</code>`)

	// A JWKS URL on the new-app form.
	form = url.Values{"name": {"Remote keys"}, "client_id": {"remote"}, "grant_types": {"client_credentials"},
		"token_endpoint_auth_method": {"private_key_jwt"}, "jwks_uri": {"https://remote.example/jwks.json"}}
	wantCode(t, "create with a URL", a.postForm("/console/apps/new", "/console/apps/new", form), http.StatusSeeOther)
	// Without keys the form comes back saying so, with the choice kept.
	form = url.Values{"name": {"No keys"}, "client_id": {"nokeys"}, "grant_types": {"client_credentials"}, "token_endpoint_auth_method": {"private_key_jwt"}}
	r = a.postForm("/console/apps/new", "/console/apps/new", form)
	wantCode(t, "create without keys", r, http.StatusUnprocessableEntity)
	wantBody(t, "create without keys", r, "needs the client&#39;s public keys", `value="private_key_jwt" checked`)
}
