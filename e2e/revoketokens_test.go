package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/e2e/harness"
)

// TestRevokeClientTokens: `gatehouse clients revoke-tokens` against a
// running serve with its embedded gateway. Within the gateway's feed poll
// (1 s) plus a second, both tokens the client had are refused by the
// gateway and inactive at introspection (the server's change-feed poll,
// 1 s, plus a second), and the refresh token is refused. A token the client gets a second later works, and so
// do another client's.
func TestRevokeClientTokens(t *testing.T) {
	in := newInstance(t)
	up := newUpstream(t)
	const poll = time.Second
	cfg := filepath.Join(in.DataDir, "gatehouse.yaml")
	if err := os.WriteFile(cfg, []byte("gateway:\n  enabled: true\n  addr: 127.0.0.1:0\n  upstream: "+up.URL+
		"\n  base_path: /api\n  revocation_poll: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := server{in.Start([]string{"serve", "--addr", "127.0.0.1:0", "--config", cfg}, harness.ListenRE, gatewayRE)}
	gw := "http://" + srv.Matches[1]

	leaky := in.CreateClient("--name", "Leaky", "--scopes", "api:read-only",
		"--grant-types", "client_credentials,refresh_token", "--refresh-with-client-credentials")
	other := in.CreateClient("--name", "Other", "--scopes", "api:read-only")
	tokens := func(c createdClient) (access, refresh string) {
		t.Helper()
		code, m := srv.token(t, c.ClientID, c.ClientSecret, "")
		access, _ = m["access_token"].(string)
		refresh, _ = m["refresh_token"].(string)
		if code != 200 || access == "" {
			t.Fatalf("token for %s: got %d %v", c.ClientID, code, m)
		}
		return access, refresh
	}
	first, refresh := tokens(leaky)
	second, _ := tokens(leaky)
	otherTok, _ := tokens(other)
	if refresh == "" {
		t.Fatal("no refresh token for a client registered for them")
	}
	for _, tok := range []string{first, second, otherTok} { // the gateway caches them
		if res := call(t, "GET", gw+"/api/records/1", tok); res.status != 200 {
			t.Fatalf("before the revocation: got %d %s", res.status, res.body)
		}
	}
	// Let the gateway poll the feed at least once before.
	time.Sleep(poll + 100*time.Millisecond)

	introspect := func(tok string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/oauth/introspect", strings.NewReader("token="+url.QueryEscape(tok)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(other.ClientID, other.ClientSecret)
		code, m := harness.DoJSON(t, req)
		if code != 200 {
			t.Fatalf("introspect: got %d %v", code, m)
		}
		return m
	}

	out := in.MustCLI("clients", "revoke-tokens", leaky.ClientID, "--output", "json")
	revokedAt := time.Now()
	var rev struct {
		ClientID     string    `json:"client_id"`
		IssuedBefore time.Time `json:"issued_before"`
		IATBefore    int64     `json:"iat_before"`
	}
	if err := json.Unmarshal([]byte(out), &rev); err != nil || rev.ClientID != leaky.ClientID {
		t.Fatalf("revoke-tokens --output json: %q (%v)", out, err)
	}

	// Introspection: inactive within the server's change-feed poll (1 s;
	// the CLI is another process, and the server reads the revocations
	// into memory with the change feed) plus a second.
	harness.Within(t, 2*time.Second, "both tokens inactive at introspection (poll 1s + 1s)", func() bool {
		return introspect(first)["active"] == false && introspect(second)["active"] == false
	})
	t.Logf("inactive at introspection %s after revoke-tokens returned", time.Since(revokedAt).Round(time.Millisecond))
	// The gateway: refused within its poll plus a second.
	harness.Within(t, poll+time.Second, "both tokens refused by the gateway (poll 1s + 1s)", func() bool {
		for _, tok := range []string{first, second} {
			if res := call(t, "GET", gw+"/api/records/1", tok); res.status != 401 {
				return false
			}
		}
		return true
	})
	t.Logf("refused by the gateway %s after revoke-tokens returned", time.Since(revokedAt).Round(time.Millisecond))
	for name, tok := range map[string]string{"first": first, "second": second} {
		res := call(t, "GET", gw+"/api/records/1", tok)
		if res.status != 401 || !strings.Contains(res.challenge, `error="invalid_token", error_description="token revoked"`) {
			t.Errorf("the %s token at the gateway: got %d %q, want 401 token revoked", name, res.status, res.challenge)
		}
	}
	// The refresh token is refused.
	req, _ := http.NewRequest("POST", srv.URL+"/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(leaky.ClientID, leaky.ClientSecret)
	if code, m := harness.DoJSON(t, req); code != 400 || m["error"] != "invalid_grant" {
		t.Errorf("refresh after revoke-tokens: got %d %v, want 400 invalid_grant", code, m)
	}
	// Another client's token is untouched.
	if res := call(t, "GET", gw+"/api/records/1", otherTok); res.status != 200 {
		t.Errorf("another client's token: got %d %s, want 200", res.status, res.body)
	}
	if m := introspect(otherTok); m["active"] != true {
		t.Errorf("introspect another client's token: got %v, want active", m)
	}

	// A token issued a second later (iat past the revoked second) works.
	time.Sleep(time.Until(rev.IssuedBefore.Add(time.Second)))
	fresh, _ := tokens(leaky)
	if res := call(t, "GET", gw+"/api/records/1", fresh); res.status != 200 {
		t.Errorf("a new token a second later: got %d %s, want 200", res.status, res.body)
	}
	if m := introspect(fresh); m["active"] != true || m["iat"].(float64) < float64(rev.IATBefore) {
		t.Errorf("introspect a new token a second later: got %v, want active with iat >= %d", m, rev.IATBefore)
	}
	// And stays accepted after the gateway's next polls.
	time.Sleep(poll + 100*time.Millisecond)
	if res := call(t, "GET", gw+"/api/records/1", fresh); res.status != 200 {
		t.Errorf("the new token after another poll: got %d %s, want 200", res.status, res.body)
	}
	if audit := in.MustCLI("audit", "--target", leaky.ClientID); !strings.Contains(audit, "client.revoke_tokens") {
		t.Errorf("audit lacks client.revoke_tokens:\n%s", audit)
	}
}
