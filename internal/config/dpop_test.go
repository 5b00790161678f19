package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

func TestDPoPSection(t *testing.T) {
	c, err := config.Load(writeFile(t, "dpop:\n  proof_window: 30s\n  require_nonce: true\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.DPoP.Window() != 30*time.Second || !c.DPoP.RequireNonce {
		t.Errorf("got %+v, want a 30s window and nonces", c.DPoP)
	}
	if d := config.Default(); d.DPoP.Window() != 60*time.Second {
		t.Errorf("default window: got %s, want 60s", d.DPoP.Window())
	}
	for _, tc := range []struct{ file, want string }{
		{"dpop:\n  proof_window: 20m\n", "dpop.proof_window is 20m"},
		{"dpop:\n  proof_window: 500ms\n", "dpop.proof_window is 500ms"},
		{"gateway:\n  enabled: true\n  upstream: http://127.0.0.1:3000\n  addr: 0.0.0.0:8081\n  dpop_required: true\n", "gateway.dpop_required needs gateway.public_url"},
	} {
		c, err := config.Load(writeFile(t, tc.file), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want a problem %q", tc.file, err, tc.want)
		}
	}
}

func TestGatewayExternalURL(t *testing.T) {
	for _, tc := range []struct {
		g    config.GatewayConfig
		want string
	}{
		{config.GatewayConfig{PublicURL: "https://api.example.com", Addr: "127.0.0.1:8081"}, "https://api.example.com"},
		{config.GatewayConfig{Addr: "127.0.0.1:8081"}, "http://127.0.0.1:8081"},
		{config.GatewayConfig{Addr: "0.0.0.0:8081"}, ""},
		{config.GatewayConfig{Addr: "127.0.0.1:0"}, ""},
		{config.GatewayConfig{Addr: ":8081"}, ""},
	} {
		if got := tc.g.ExternalURL(); got != tc.want {
			t.Errorf("ExternalURL(%+v) = %q, want %q", tc.g, got, tc.want)
		}
	}
}

// TestGatewayDPoPRequiredStandalone: GATEHOUSE_GATEWAY_DPOP_REQUIRED sets
// it; without a URL for proofs to name, the problem names the gateway's
// flags.
func TestGatewayDPoPRequiredStandalone(t *testing.T) {
	env := map[string]string{"GATEHOUSE_GATEWAY_DPOP_REQUIRED": "true", "GATEHOUSE_GATEWAY_UPSTREAM": "http://127.0.0.1:3000",
		"GATEHOUSE_GATEWAY_ISSUER": "https://auth.example.com", "GATEHOUSE_GATEWAY_ADDR": "0.0.0.0:8081"}
	c, err := config.LoadGateway(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !c.Gateway.DPoPRequired {
		t.Fatal("GATEHOUSE_GATEWAY_DPOP_REQUIRED did not set gateway.dpop_required")
	}
	if err := c.ValidateGateway(); err == nil || !strings.Contains(err.Error(), "--dpop-required needs --resource") {
		t.Errorf("got %v, want a problem naming --dpop-required and --resource", err)
	}
	c.Gateway.Resource = "https://api.example.com/api"
	if err := c.ValidateGateway(); err != nil {
		t.Errorf("with --resource: %v", err)
	}
	if got := c.Gateway.ExternalURL(); got != "https://api.example.com" {
		t.Errorf("ExternalURL: got %q, want the resource's origin", got)
	}
}
