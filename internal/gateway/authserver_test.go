package gateway_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// authServer is a stand-in authorization server: RFC 8414 metadata, a
// JWKS with one ES256 key and an empty revocation feed, plus a way to mint
// access tokens the way gatehouse serve does (RFC 9068).
type authServer struct {
	srv    *httptest.Server
	key    *ecdsa.PrivateKey
	signer jose.Signer
}

func newAuthServer(t testing.TB) *authServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "test-key"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	as := &authServer{key: key, signer: signer}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                   as.srv.URL,
			"jwks_uri":                 as.srv.URL + "/.well-known/jwks.json",
			"token_endpoint":           as.srv.URL + "/oauth/token",
			"revocation_feed_endpoint": as.srv.URL + "/oauth/revocations",
		})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "test-key", Algorithm: "ES256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /oauth/revocations", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"revoked": []any{}, "cursor": "0", "more": false})
	})
	as.srv = httptest.NewServer(mux)
	t.Cleanup(as.srv.Close)
	return as
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// token mints an access token for client with the given space-separated
// scope; an "account:ID" scope also sets the account_id claim.
func (as *authServer) token(t testing.TB, client, scope string) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": as.srv.URL, "aud": as.srv.URL, "sub": client, "client_id": client,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"jti": rand.Text(), "scope": scope,
	}
	for s := range strings.FieldsSeq(scope) {
		if id, ok := strings.CutPrefix(s, "account:"); ok {
			claims["account_id"] = id
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := as.signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
