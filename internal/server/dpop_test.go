package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/dpop"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testutil"
)

// proof returns a proof for a POST to path on the harness's issuer.
func (h *harness) proof(k *testutil.DPoPKey, path string, mod ...func(*dpop.ProofClaims)) string {
	h.t.Helper()
	c := dpop.ProofClaims{Method: "POST", URL: "http://issuer.test" + path, IssuedAt: h.clock.Now()}
	for _, m := range mod {
		m(&c)
	}
	return k.Proof(h.t, c)
}

// postProofs posts a form with the given DPoP headers (and Basic auth if
// secret is set; else client_id in the body).
func (h *harness) postProofs(path, id, secret string, v url.Values, proofs ...string) response {
	h.t.Helper()
	if secret == "" {
		v.Set("client_id", id)
	}
	req, _ := http.NewRequest("POST", h.http.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.Header.Set("Authorization", basic(id, secret))
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return h.do(req)
}

func ccForm() url.Values { return url.Values{"grant_type": {"client_credentials"}} }

// TestDPoPBoundToken: a token request with a proof gets a token bound to
// the proof's key (cnf.jkt, token_type DPoP), which introspection shows;
// without a proof, a plain bearer token.
func TestDPoPBoundToken(t *testing.T) {
	h := newHarness(t)
	id, secret := h.client(clients.Spec{})
	k := testutil.NewDPoPKey(t)
	for _, path := range []string{PathToken, "/oauth/v2/token"} {
		r := h.postProofs(path, id, secret, ccForm(), h.proof(k, path))
		if r.status != http.StatusOK || r.json["token_type"] != "DPoP" {
			t.Fatalf("%s with a proof: got %d %s, want 200 token_type DPoP", path, r.status, r.body)
		}
		at := r.json["access_token"].(string)
		cnf, _ := claims(t, at)["cnf"].(map[string]any)
		if cnf["jkt"] != k.JKT {
			t.Errorf("cnf: got %v, want jkt %q", cnf, k.JKT)
		}
		ir := h.postProofs(PathIntrospect, id, secret, url.Values{"token": {at}})
		icnf, _ := ir.json["cnf"].(map[string]any)
		if ir.json["active"] != true || ir.json["token_type"] != "DPoP" || icnf["jkt"] != k.JKT {
			t.Errorf("introspection: got %s, want active, token_type DPoP, cnf.jkt %q", ir.body, k.JKT)
		}
	}
	r := h.postProofs(PathToken, id, secret, ccForm())
	if r.status != http.StatusOK || r.json["token_type"] != "Bearer" || claims(t, r.json["access_token"].(string))["cnf"] != nil {
		t.Fatalf("without a proof: got %d %s, want a Bearer token without cnf", r.status, r.body)
	}
	ir := h.postProofs(PathIntrospect, id, secret, url.Values{"token": {r.json["access_token"].(string)}})
	if ir.json["token_type"] != "Bearer" || ir.json["cnf"] != nil {
		t.Errorf("introspection of a bearer token: got %s", ir.body)
	}
}

// TestDPoPProofRefused: bad proofs at the token endpoint are
// invalid_dpop_proof, and issue nothing.
func TestDPoPProofRefused(t *testing.T) {
	h := newHarness(t)
	id, secret := h.client(clients.Spec{})
	k := testutil.NewDPoPKey(t)
	replayed := h.proof(k, PathToken)
	if r := h.postProofs(PathToken, id, secret, ccForm(), replayed); r.status != http.StatusOK {
		t.Fatalf("first use: got %d %s", r.status, r.body)
	}
	for name, proofs := range map[string][]string{
		"two DPoP headers": {h.proof(k, PathToken), h.proof(k, PathToken)},
		"replayed":         {replayed},
		"another htu":      {h.proof(k, PathRevoke)},
		"another htm":      {h.proof(k, PathToken, func(c *dpop.ProofClaims) { c.Method = "GET" })},
		"ath":              {h.proof(k, PathToken, func(c *dpop.ProofClaims) { c.AccessToken = "x" })},
		"stale":            {h.proof(k, PathToken, func(c *dpop.ProofClaims) { c.IssuedAt = h.clock.Now().Add(-10 * 60e9) })},
		"not a JWT":        {"nonsense"},
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, h.postProofs(PathToken, id, secret, ccForm(), proofs...), http.StatusBadRequest, dpop.CodeInvalidProof)
		})
	}
}

// TestDPoPProofRememberedAfterAuthentication: a proof sent with wrong
// client credentials is not remembered (unauthenticated requests cannot
// fill the replay cache); once accepted, it is.
func TestDPoPProofRememberedAfterAuthentication(t *testing.T) {
	h := newHarness(t)
	id, secret := h.client(clients.Spec{})
	p := h.proof(testutil.NewDPoPKey(t), PathToken)
	wantError(t, h.postProofs(PathToken, id, "wrong-secret-wrong-secret-wrong-secret", ccForm(), p), http.StatusUnauthorized, "invalid_client")
	if r := h.postProofs(PathToken, id, secret, ccForm(), p); r.status != http.StatusOK {
		t.Fatalf("the proof with the right secret: got %d %s, want 200", r.status, r.body)
	}
	wantError(t, h.postProofs(PathToken, id, secret, ccForm(), p), http.StatusBadRequest, dpop.CodeInvalidProof)
}

// TestDPoPRequiredClient: a client registered with DPoPRequired gets no
// token without a proof.
func TestDPoPRequiredClient(t *testing.T) {
	h := newHarness(t)
	id, secret := h.client(clients.Spec{DPoPRequired: true})
	wantError(t, h.postProofs(PathToken, id, secret, ccForm()), http.StatusBadRequest, dpop.CodeInvalidProof)
	if r := h.postProofs(PathToken, id, secret, ccForm(), h.proof(testutil.NewDPoPKey(t), PathToken)); r.status != http.StatusOK || r.json["token_type"] != "DPoP" {
		t.Fatalf("with a proof: got %d %s", r.status, r.body)
	}
}

// TestDPoPNonce: with server nonces, a proof without the nonce gets
// use_dpop_nonce and the nonce in DPoP-Nonce; the retry with it succeeds;
// a made-up nonce is refused.
func TestDPoPNonce(t *testing.T) {
	h := newHarness(t, harnessOpts{opts: func(o *Options) {
		o.DPoPNonce = true
		o.DPoPNonceKey = make([]byte, 32)
	}})
	id, secret := h.client(clients.Spec{})
	k := testutil.NewDPoPKey(t)
	r := h.postProofs(PathToken, id, secret, ccForm(), h.proof(k, PathToken))
	wantError(t, r, http.StatusBadRequest, dpop.CodeUseNonce)
	nonce := r.header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("no DPoP-Nonce header with use_dpop_nonce")
	}
	wantError(t, h.postProofs(PathToken, id, secret, ccForm(), h.proof(k, PathToken, func(c *dpop.ProofClaims) { c.Nonce = "made-up" })),
		http.StatusBadRequest, dpop.CodeUseNonce)
	r = h.postProofs(PathToken, id, secret, ccForm(), h.proof(k, PathToken, func(c *dpop.ProofClaims) { c.Nonce = nonce }))
	if r.status != http.StatusOK || r.json["token_type"] != "DPoP" {
		t.Fatalf("with the nonce: got %d %s", r.status, r.body)
	}
	if r.header.Get("DPoP-Nonce") == "" {
		t.Error("no DPoP-Nonce on a success")
	}
	if _, err := New(Options{DPoPNonce: true}); err == nil {
		t.Error("New with DPoPNonce and no key: no error")
	}
}

// TestDPoPRefreshBinding: a public client's refresh token is bound to the
// key of the proof it was issued with; refreshing with another key or none
// is invalid_grant. A confidential client's is not bound.
func TestDPoPRefreshBinding(t *testing.T) {
	ah := newAuthzHarness(t)
	pub, _ := ah.app(clients.Spec{Name: "cli tool", TokenEndpointAuthMethod: store.AuthMethodNone})
	conf, confSecret := ah.app(clients.Spec{Name: "web app"})
	ah.login()
	k := testutil.NewDPoPKey(t)

	exchange := func(id, secret string, proofs ...string) response {
		t.Helper()
		ver, chal := pkce(t)
		code := ah.code(authzParamsFor(id, chal, "profile"))
		v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {ver}}
		return ah.postProofs(PathToken, id, secret, v, proofs...)
	}
	refresh := func(id, secret, rt string, proofs ...string) response {
		t.Helper()
		return ah.postProofs(PathToken, id, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, proofs...)
	}

	r := exchange(pub, "", ah.proof(k, PathToken))
	if r.status != http.StatusOK || r.json["token_type"] != "DPoP" {
		t.Fatalf("public client's exchange with a proof: got %d %s", r.status, r.body)
	}
	rt := r.json["refresh_token"].(string)
	wantError(t, refresh(pub, "", rt), http.StatusBadRequest, "invalid_grant")
	wantError(t, refresh(pub, "", rt, ah.proof(testutil.NewDPoPKey(t), PathToken)), http.StatusBadRequest, "invalid_grant")
	r = refresh(pub, "", rt, ah.proof(k, PathToken))
	if r.status != http.StatusOK || r.json["token_type"] != "DPoP" {
		t.Fatalf("refresh with the same key: got %d %s", r.status, r.body)
	}
	if cnf, _ := claims(t, r.json["access_token"].(string))["cnf"].(map[string]any); cnf["jkt"] != k.JKT {
		t.Errorf("refreshed token's cnf: got %v, want jkt %q", cnf, k.JKT)
	}
	// The rotated token stays bound.
	wantError(t, refresh(pub, "", r.json["refresh_token"].(string)), http.StatusBadRequest, "invalid_grant")

	// A confidential client's refresh token is bound to its credentials:
	// a refresh without a proof gets a bearer token.
	r = exchange(conf, confSecret, ah.proof(k, PathToken))
	if r.status != http.StatusOK || r.json["token_type"] != "DPoP" {
		t.Fatalf("confidential client's exchange with a proof: got %d %s", r.status, r.body)
	}
	r = refresh(conf, confSecret, r.json["refresh_token"].(string))
	if r.status != http.StatusOK || r.json["token_type"] != "Bearer" {
		t.Fatalf("confidential client's refresh without a proof: got %d %s", r.status, r.body)
	}
}
