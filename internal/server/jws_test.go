package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
)

// signWithStoredKey signs claims with the harness's active ES256 key, taken
// from the store and decrypted with the master key: a token the server's
// own key signed, with claims Sign would never write.
func (h *harness) signWithStoredKey(claims map[string]any) string {
	t := h.t
	t.Helper()
	keys, err := h.st.ListSigningKeys(context.Background())
	if err != nil || len(keys) == 0 {
		t.Fatalf("ListSigningKeys: %d keys, %v", len(keys), err)
	}
	sk := keys[len(keys)-1]
	block, err := aes.NewCipher(h.master)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	ns := aead.NonceSize()
	pkcs8, err := aead.Open(nil, sk.Encrypted[:ns], sk.Encrypted[ns:], []byte(sk.ID))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		t.Fatal(err)
	}
	ec, ok := priv.(*ecdsa.PrivateKey)
	if !ok || sk.Algorithm != "ES256" {
		t.Fatalf("stored key is %s %T, want ES256", sk.Algorithm, priv)
	}
	hb, _ := json.Marshal(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": sk.ID})
	cb, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)
	d := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, ec, d[:])
	if err != nil {
		t.Fatal(err)
	}
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig[:])
}

// TestIntrospectArrayAudience: aud may be an array (RFC 7519 §4.1.3). A
// token of ours whose aud is an array holding the API's audience is active
// at the introspection endpoint, as the resource middleware accepts it, and
// can be revoked.
func TestIntrospectArrayAudience(t *testing.T) {
	h := newHarness(t)
	h.run()
	id, secret := h.client(clients.Spec{Scopes: []string{"search"}})
	rsID, rsSecret := h.client(clients.Spec{Name: "resource server"})
	now := h.clock.Now()
	aud := []string{"https://other.test", "https://api.test"}
	tok := h.signWithStoredKey(map[string]any{
		"iss": "http://issuer.test", "sub": id, "aud": aud, "client_id": id, "scope": "search",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": "array-aud-1",
	})
	introspect := func() response {
		return h.post(PathIntrospect, "token="+url.QueryEscape(tok), map[string]string{"Authorization": basic(rsID, rsSecret)})
	}

	r := introspect()
	if r.status != 200 || r.json["active"] != true {
		t.Fatalf("introspect: got %d %s, want active", r.status, r.body)
	}
	if _, ok := r.json["nbf"]; ok {
		t.Errorf("nbf: got %v for a token without nbf, want it left out", r.json["nbf"])
	}
	got, _ := r.json["aud"].([]any)
	if len(got) != 2 || got[0] != aud[0] || got[1] != aud[1] {
		t.Errorf("aud: got %v, want %v", r.json["aud"], aud)
	}
	for k, want := range map[string]any{"client_id": id, "sub": id, "scope": "search", "iss": "http://issuer.test", "jti": "array-aud-1"} {
		if r.json[k] != want {
			t.Errorf("%s: got %v, want %v", k, r.json[k], want)
		}
	}

	if r := h.post(PathRevoke, "token="+url.QueryEscape(tok), map[string]string{"Authorization": basic(id, secret)}); r.status != 200 {
		t.Fatalf("revoke: got %d %s, want 200", r.status, r.body)
	}
	if r := introspect(); r.body != `{"active":false}` {
		t.Errorf("introspect after revoke: got %d %s, want inactive", r.status, r.body)
	}
}

// TestIntrospectNoLeewayPastExp: introspection answers inactive from the
// token's exp on, with no clock-skew leeway (the server's clock decides);
// otherwise a revoked token, whose revocation is kept only until its exp,
// would look active again once pruning dropped the revocation.
func TestIntrospectNoLeewayPastExp(t *testing.T) {
	h := newHarness(t)
	id, secret := h.client(clients.Spec{Scopes: []string{"search"}})
	rsID, rsSecret := h.client(clients.Spec{Name: "resource server"})
	now := h.clock.Now()
	tok := h.signWithStoredKey(map[string]any{
		"iss": "http://issuer.test", "sub": id, "aud": "https://api.test", "client_id": id, "scope": "search",
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": "past-exp-1",
	})
	introspect := func() response {
		return h.post(PathIntrospect, "token="+url.QueryEscape(tok), map[string]string{"Authorization": basic(rsID, rsSecret)})
	}
	if r := h.post(PathRevoke, "token="+url.QueryEscape(tok), map[string]string{"Authorization": basic(id, secret)}); r.status != 200 {
		t.Fatalf("revoke: got %d %s", r.status, r.body)
	}
	h.clock.Add(time.Minute + 10*time.Second)
	if err := h.st.Prune(context.Background(), h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if r := introspect(); r.body != `{"active":false}` {
		t.Errorf("revoked token 10s past exp, revocation pruned: got %d %s, want inactive", r.status, r.body)
	}
}
