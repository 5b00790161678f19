package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// Signer signs RFC 9068 access tokens (ES256, typ at+jwt) with a key of
// its own, for tokens the server under test would never issue.
type Signer struct {
	KID string
	key *ecdsa.PrivateKey
	sg  jose.Signer
}

// NewSigner returns a Signer with a new P-256 key named kid.
func NewSigner(t testing.TB, kid string) *Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	return &Signer{KID: kid, key: key, sg: sg}
}

// JWKS is the signer's public key as a key set.
func (s *Signer) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &s.key.PublicKey, KeyID: s.KID, Algorithm: "ES256", Use: "sig"}}}
}

// Sign returns claims as a compact JWS.
func (s *Signer) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.sg.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// NewIssuer starts a stand-in authorization server for s, closed when the
// test ends: RFC 8414 metadata naming its own URL as issuer, the JWKS of
// s and an empty revocation feed, at Gatehouse's paths.
func NewIssuer(t testing.TB, s *Signer) *httptest.Server {
	t.Helper()
	return NewIssuerWithFeed(t, s, nil)
}

// NewIssuerWithFeed is NewIssuer whose revocation feed lists, on every
// request whatever its cursor, the entries revoked returns (none if
// revoked is nil), in one page.
func NewIssuerWithFeed(t testing.TB, s *Signer, revoked func() []map[string]any) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                   srv.URL,
			"jwks_uri":                 srv.URL + "/.well-known/jwks.json",
			"token_endpoint":           srv.URL + "/oauth/token",
			"revocation_feed_endpoint": srv.URL + "/oauth/revocations",
		})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.JWKS())
	})
	mux.HandleFunc("GET /oauth/revocations", func(w http.ResponseWriter, r *http.Request) {
		entries := []map[string]any{}
		if revoked != nil {
			entries = append(entries, revoked()...)
		}
		writeJSON(w, map[string]any{"revoked": entries, "cursor": "0", "more": false})
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
