package gateway_test

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/dpop"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/testutil"
)

// boundToken mints a token for client bound to the DPoP key jkt.
func (as *authServer) boundToken(t testing.TB, client, scope, jkt string) string {
	t.Helper()
	now := time.Now()
	return as.signer.Sign(t, map[string]any{
		"iss": as.srv.URL, "aud": as.srv.URL, "sub": client, "client_id": client,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"jti": rand.Text(), "scope": scope, "cnf": map[string]any{"jkt": jkt},
	})
}

// TestDPoP: behind its public URL, the gateway passes a DPoP-bound token
// with its proof (and passes the DPoP header on), and refuses what a thief
// of the token can send, before the upstream sees it.
func TestDPoP(t *testing.T) {
	as := newAuthServer(t)
	up, calls := newEcho(t)
	const public = "https://api.example.com"
	gw := newGateway(t, setup{as: as, upstream: up.URL, mod: func(c *gateway.Config) {
		c.Resource.ExternalURL = public
		c.Resource.DPoP.Enabled = true
	}})
	key := testutil.NewDPoPKey(t)
	tok := as.boundToken(t, "app", "api", key.JKT)
	proof := func(method, path string) string {
		return key.Proof(t, dpop.ProofClaims{Method: method, URL: public + path, AccessToken: tok})
	}
	send := func(method, path, auth, proof string) (*http.Response, []byte) {
		h := http.Header{"Authorization": {auth}}
		if proof != "" {
			h.Set("DPoP", proof)
		}
		return do(t, method, gw+path, "", h, nil)
	}

	p := proof("GET", "/records/1")
	resp, body := send("GET", "/records/1?x=1", "DPoP "+tok, p)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("bound token with its proof: got %d %s", resp.StatusCode, body)
	}
	var e echoed
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	if got := e.Header["Dpop"]; len(got) != 1 || got[0] != p {
		t.Errorf("upstream's DPoP header: got %q, want the proof passed on", got)
	}
	before := calls.Load()
	for name, r := range map[string]func() (*http.Response, []byte){
		"as Bearer":               func() (*http.Response, []byte) { return send("GET", "/records/1", "Bearer "+tok, "") },
		"the same proof replayed": func() (*http.Response, []byte) { return send("GET", "/records/1", "DPoP "+tok, p) },
		"a proof for another URL": func() (*http.Response, []byte) {
			return send("GET", "/records/2", "DPoP "+tok, proof("GET", "/records/1"))
		},
		"a proof for another method": func() (*http.Response, []byte) {
			return send("DELETE", "/records/1", "DPoP "+tok, proof("GET", "/records/1"))
		},
	} {
		resp, body := r()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: got %d %s, want 401", name, resp.StatusCode, body)
		}
		if ch := resp.Header.Values("WWW-Authenticate"); len(ch) != 2 || !strings.HasPrefix(ch[1], "DPoP ") {
			t.Errorf("%s: WWW-Authenticate %q, want Bearer and DPoP challenges", name, ch)
		}
	}
	if calls.Load() != before {
		t.Errorf("the upstream saw %d refused requests", calls.Load()-before)
	}
}
