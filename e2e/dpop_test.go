package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/e2e/harness"
	"github.com/gatehouse/gatehouse/internal/dpop"
	"github.com/gatehouse/gatehouse/internal/testutil"
)

// TestDPoP: a client registered with `clients create --dpop-required` gets
// a DPoP-bound token from serve only with a proof, calls the API through
// the embedded gateway with it and a fresh proof, and what a thief holding
// the token (and a proof seen on the wire) can send is refused: the token
// as a bearer token, the proof replayed, the proof for another URL.
func TestDPoP(t *testing.T) {
	in := newInstance(t)
	up := newUpstream(t)
	// The gateway's public URL, which proofs name: it sits behind a TLS
	// terminator there; the test calls its listener directly.
	const public = "https://api.example.com"
	cfg := filepath.Join(in.DataDir, "gatehouse.yaml")
	if err := os.WriteFile(cfg, []byte("gateway:\n  enabled: true\n  addr: 127.0.0.1:0\n  upstream: "+up.URL+
		"\n  base_path: /api\n  public_url: "+public+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := in.CreateClient("--name", "Bound agent", "--scopes", "api:read-only", "--dpop-required")
	srv := server{in.Start([]string{"serve", "--addr", "127.0.0.1:0", "--config", cfg}, harness.ListenRE)}
	var gw string
	harness.Within(t, 10*time.Second, "gateway listening in serve's log", func() bool {
		if m := gatewayRE.FindStringSubmatch(srv.Logs.String()); m != nil {
			gw = "http://" + m[1]
		}
		return gw != ""
	})

	code, md := harness.DoJSON(t, mustRequest(t, "GET", srv.URL+"/.well-known/oauth-authorization-server"))
	tokenURL, _ := md["token_endpoint"].(string)
	if algs, _ := md["dpop_signing_alg_values_supported"].([]any); code != 200 || tokenURL == "" || !slices.Contains(algs, any("ES256")) {
		t.Fatalf("metadata: got %d %v, want dpop_signing_alg_values_supported", code, md)
	}

	key := testutil.NewDPoPKey(t)
	proof := func(method, u, tok string) string {
		return key.Proof(t, dpop.ProofClaims{Method: method, URL: u, AccessToken: tok})
	}
	tokenRequest := func(proofs ...string) (int, map[string]any) {
		req := formRequest(t, srv.URL+"/oauth/token", url.Values{"grant_type": {"client_credentials"}}.Encode())
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
		for _, p := range proofs {
			req.Header.Add("DPoP", p)
		}
		return harness.DoJSON(t, req)
	}
	if code, m := tokenRequest(); code != 400 || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("token without a proof for a DPoP-required client: got %d %v, want 400 invalid_dpop_proof", code, m)
	}
	code, m := tokenRequest(proof("POST", tokenURL, ""))
	tok, _ := m["access_token"].(string)
	if code != 200 || m["token_type"] != "DPoP" || tok == "" {
		t.Fatalf("token with a proof: got %d %v, want a DPoP token", code, m)
	}

	send := func(method, path, scheme, p string) result {
		t.Helper()
		req := mustRequest(t, method, gw+path)
		req.Header.Set("Authorization", scheme+" "+tok)
		if p != "" {
			req.Header.Set("DPoP", p)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		res := result{status: resp.StatusCode, challenge: strings.Join(resp.Header.Values("WWW-Authenticate"), " | ")}
		if resp.StatusCode == 200 {
			res.upstream = &seen{}
			json.NewDecoder(resp.Body).Decode(res.upstream)
		}
		return res
	}
	seenProof := proof("GET", public+"/api/records/1", tok)
	if res := send("GET", "/api/records/1?fields=id", "DPoP", seenProof); res.status != 200 || res.upstream.Header.Get("X-Gatehouse-Client-Id") != c.ClientID {
		t.Fatalf("the client's call through the gateway: got %d %s", res.status, res.challenge)
	}
	for name, res := range map[string]result{
		"the token as a bearer token":       send("GET", "/api/records/1", "Bearer", ""),
		"the seen proof replayed":           send("GET", "/api/records/1", "DPoP", seenProof),
		"the seen proof for another record": send("GET", "/api/records/2", "DPoP", seenProof),
		"a proof by the thief's own key": func() result {
			thief := testutil.NewDPoPKey(t)
			return send("GET", "/api/records/1", "DPoP", thief.Proof(t, dpop.ProofClaims{Method: "GET", URL: public + "/api/records/1", AccessToken: tok}))
		}(),
	} {
		if res.status != 401 || !strings.Contains(res.challenge, "DPoP ") {
			t.Errorf("%s: got %d %q, want 401 with a DPoP challenge", name, res.status, res.challenge)
		}
	}

	// The gateway's Protected Resource Metadata says it takes DPoP.
	code, prm := harness.DoJSON(t, mustRequest(t, "GET", gw+"/.well-known/oauth-protected-resource/api"))
	if algs, _ := prm["dpop_signing_alg_values_supported"].([]any); code != 200 || len(algs) == 0 {
		t.Errorf("protected resource metadata: got %d %v, want dpop_signing_alg_values_supported", code, prm)
	}
}
