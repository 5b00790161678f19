package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/e2e/harness"
)

// usageReader is an admin API client with a gatehouse:admin:read token.
func usageReader(t *testing.T, in instance, srv server) *admin.API {
	t.Helper()
	ops := in.CreateClient("--name", "auditor", "--scopes", "gatehouse:admin:read")
	tok := srv.accessToken(t, ops, "gatehouse:admin:read")
	return admin.New(srv.URL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"}))
}

// waitForCalls polls the client's usage until its calls of pattern add up
// to allowed and denied (insufficient_scope).
func waitForCalls(t *testing.T, api *admin.API, clientID, pattern string, allowed, denied int64) admin.ClientUsage {
	t.Helper()
	var u admin.ClientUsage
	harness.Within(t, 15*time.Second, "the gateway's calls in the client's usage", func() bool {
		var err error
		if u, err = api.ClientUsage(context.Background(), clientID, 0); err != nil {
			t.Fatalf("ClientUsage: %v", err)
		}
		for _, c := range u.Calls {
			if c.Pattern == pattern && c.Allowed == allowed && c.Denied["insufficient_scope"] == denied {
				return true
			}
		}
		return false
	})
	return u
}

// TestUsageThroughEmbeddedGateway: calls through serve's gateway show up in
// the admin API's usage of the client within a report interval, per
// endpoint pattern; tokens per day and the source address too; the new
// address is audited once.
func TestUsageThroughEmbeddedGateway(t *testing.T) {
	in := newInstance(t)
	up := newUpstream(t)
	cfg := filepath.Join(in.DataDir, "gatehouse.yaml")
	os.WriteFile(cfg, []byte("usage:\n  interval: 1s\ngateway:\n  enabled: true\n  addr: 127.0.0.1:0\n  upstream: "+up.URL+"\n  base_path: /api\n"), 0o600)
	srv := server{in.Start([]string{"serve", "--addr", "127.0.0.1:0", "--config", cfg}, harness.ListenRE, gatewayRE)}
	gwURL := "http://" + srv.Matches[1]

	app := in.CreateClient("--name", "app", "--scopes", "search api:read-only")
	tok := srv.accessToken(t, app, "search api:read-only")
	srv.accessToken(t, app, "search")
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/records/1/search", 200},
		{"GET", "/api/records/2/search", 200},
		{"GET", "/api/records/2", 200},
		{"DELETE", "/api/records/2", 403},
	} {
		if res := call(t, c.method, gwURL+c.path, tok); res.status != c.want {
			t.Fatalf("%s %s: got %d, want %d", c.method, c.path, res.status, c.want)
		}
	}
	api := usageReader(t, in, srv)
	u := waitForCalls(t, api, app.ClientID, "records/*/search", 2, 0)
	u = waitForCalls(t, api, app.ClientID, "*", 1, 1)
	if len(u.Calls) != 2 {
		t.Errorf("calls: got %+v, want two patterns (never raw paths)", u.Calls)
	}
	if u.Denials["insufficient_scope"] != 1 {
		t.Errorf("denials: got %v, want insufficient_scope 1", u.Denials)
	}
	harness.Within(t, 15*time.Second, "tokens and the address in the usage", func() bool {
		u, _ = api.ClientUsage(context.Background(), app.ClientID, 0)
		return len(u.Tokens) == 1 && u.Tokens[0].Count == 2 && len(u.Addresses) == 1 && u.Addresses[0].Count == 2
	})
	if u.Addresses[0].Address != "127.0.0.1" {
		t.Errorf("addresses: got %+v, want 127.0.0.1", u.Addresses)
	}

	// More tokens from the same address: no second audit event.
	srv.accessToken(t, app, "search")
	harness.Within(t, 15*time.Second, "the third token in the usage", func() bool {
		u, _ = api.ClientUsage(context.Background(), app.ClientID, 0)
		return len(u.Tokens) == 1 && u.Tokens[0].Count == 3
	})
	evs, err := api.ListAudit(context.Background(), admin.AuditFilter{Target: app.ClientID, Action: "client.new_address"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs.Items) != 1 || evs.Items[0].Detail != "first token request from 127.0.0.1" {
		t.Errorf("new-address audit events: got %+v, want exactly one for 127.0.0.1", evs.Items)
	}
}

// TestUsageFromStandaloneGateway: `gatehouse gateway` reports to
// POST /admin/v1/usage with its client's gatehouse:usage token.
func TestUsageFromStandaloneGateway(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	up := newUpstream(t)
	gwClient := in.CreateClient("--name", "gateway", "--scopes", "gatehouse:usage")
	gw := server{instance{in.WithEnv("GATEHOUSE_GATEWAY_CLIENT_SECRET="+gwClient.ClientSecret, "GATEHOUSE_GATEWAY_USAGE_INTERVAL=1s")}.gateway(
		"--upstream", up.URL, "--issuer", srv.URL, "--client-id", gwClient.ClientID).Server}
	app := in.CreateClient("--name", "app", "--scopes", "api:read-only")
	tok := srv.accessToken(t, app, "")
	if res := call(t, "GET", gw.URL+"/records/1", tok); res.status != 200 {
		t.Fatalf("allowed call: got %d %s", res.status, res.body)
	}
	if res := call(t, "POST", gw.URL+"/records", tok); res.status != 403 {
		t.Fatalf("forbidden call: got %d %s", res.status, res.body)
	}
	waitForCalls(t, usageReader(t, in, srv), app.ClientID, "*", 1, 1)
}
