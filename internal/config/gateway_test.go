package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/config"
)

func TestGatewaySection(t *testing.T) {
	path := writeFile(t, `
gateway:
  enabled: true
  upstream: http://127.0.0.1:3000
  audience: https://api.example.com
  base_path: /api/
  public_url: https://api.example.com/
  account_header: X-Tenant
  upstream_timeout: 10s
  revocation_poll: 2s
`)
	c, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := config.GatewayConfig{
		Enabled: true, Addr: "127.0.0.1:8081", Upstream: "http://127.0.0.1:3000",
		Audience: "https://api.example.com", BasePath: "/api", AccountHeader: "X-Tenant",
		PublicURL:       "https://api.example.com",
		UpstreamTimeout: config.Duration(10 * time.Second), RevocationPoll: config.Duration(2 * time.Second),
	}
	if diff := cmp.Diff(want, c.Gateway); diff != "" {
		t.Errorf("gateway section after Validate (-want +got):\n%s", diff)
	}
}

func TestGatewayProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		gw   config.GatewayConfig
		want []string // substrings, one problem each; none: valid
	}{
		{"disabled and empty", config.GatewayConfig{}, nil},
		{"enabled without upstream", config.GatewayConfig{Enabled: true}, []string{"gateway.upstream is required"}},
		{"relative upstream", config.GatewayConfig{Enabled: true, Upstream: "127.0.0.1:3000"}, []string{"not an absolute http or https URL"}},
		{"upstream with query", config.GatewayConfig{Enabled: true, Upstream: "http://x/?a=b"}, []string{"query or fragment"}},
		{"checked while disabled", config.GatewayConfig{Upstream: "ftp://x"}, []string{"gateway.upstream"}},
		{"relative public URL", config.GatewayConfig{Enabled: true, Upstream: "http://x", PublicURL: "api.example.com"}, []string{"gateway.public_url \"api.example.com\" is not an absolute http or https URL; e.g. https://api.example.com"}},
		{"public URL with fragment", config.GatewayConfig{PublicURL: "https://api.example.com/#x"}, []string{"gateway.public_url \"https://api.example.com/#x\" must not have a query or fragment"}},
		{"bad addr", config.GatewayConfig{Enabled: true, Upstream: "http://x", Addr: "8081"}, []string{"gateway.addr \"8081\" is not host:port"}},
		{"same addr as server", config.GatewayConfig{Enabled: true, Upstream: "http://x", Addr: "127.0.0.1:8080"}, []string{"also the server's addr"}},
		{"base path", config.GatewayConfig{Enabled: true, Upstream: "http://x", BasePath: "api"}, []string{"gateway.base_path \"api\" must start with"}},
		{"base path dot-dot", config.GatewayConfig{Enabled: true, Upstream: "http://x", BasePath: "/api/../x"}, []string{"\"..\" segment"}},
		{"reserved account header", config.GatewayConfig{Enabled: true, Upstream: "http://x", AccountHeader: "X-Gatehouse-Account"}, []string{"reserved"}},
		{"account header with a space", config.GatewayConfig{Enabled: true, Upstream: "http://x", AccountHeader: "X Account"}, []string{"not an HTTP header name"}},
		{"http resource", config.GatewayConfig{Resource: "http://api.example.com/api"}, []string{"gateway.resource: resource identifier \"http://api.example.com/api\" must be an https URL"}},
		{"resource with query", config.GatewayConfig{Resource: "https://api.example.com/api?v=1"}, []string{"must not have a query or fragment"}},
		{"loopback resource", config.GatewayConfig{Resource: "http://127.0.0.1:8081/api"}, nil},
		{"several at once", config.GatewayConfig{Enabled: true, Addr: "x", BasePath: "//"}, []string{"gateway.addr", "gateway.upstream", "gateway.base_path"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			c.Gateway = tc.gw
			err := c.Validate()
			var ce *config.Error
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: got %v, want nil", err)
				}
				return
			}
			if !errors.As(err, &ce) {
				t.Fatalf("Validate: got %v, want a *config.Error", err)
			}
			if len(ce.Problems) != len(tc.want) {
				t.Fatalf("problems: got %q, want %d", ce.Problems, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(ce.Problems[i], w) {
					t.Errorf("problem %d: got %q, want it to mention %q", i, ce.Problems[i], w)
				}
			}
		})
	}
}

// TestGatewayAllowSwitches: both switches are off by default and read from
// the file; anything but a boolean is an error.
func TestGatewayAllowSwitches(t *testing.T) {
	if g := config.Default().Gateway; g.AllowEncodedSlashes || g.AllowMethodOverrideParam {
		t.Errorf("default gateway section: got %+v, want both switches off", g)
	}
	c, err := config.Load(writeFile(t, `
gateway:
  allow_encoded_slashes: true
  allow_method_override_param: true
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if !c.Gateway.AllowEncodedSlashes || !c.Gateway.AllowMethodOverrideParam {
		t.Errorf("gateway section: got %+v, want both switches on", c.Gateway)
	}
	if _, err := config.Load(writeFile(t, "gateway:\n  allow_encoded_slashes: sometimes\n"), nil); err == nil {
		t.Error("allow_encoded_slashes: sometimes: got no error, want one")
	}
}

func TestGatewayResourceID(t *testing.T) {
	for _, tc := range []struct {
		name string
		gw   config.GatewayConfig
		base string
		want string
	}{
		{"none", config.GatewayConfig{}, "/api", ""},
		{"set", config.GatewayConfig{Resource: "https://r.example.com", PublicURL: "https://api.example.com"}, "/api", "https://r.example.com"},
		{"from public_url", config.GatewayConfig{PublicURL: "https://api.example.com"}, "/api", "https://api.example.com/api"},
		{"from public_url, no base path", config.GatewayConfig{PublicURL: "https://api.example.com"}, "", "https://api.example.com"},
		{"from loopback public_url", config.GatewayConfig{PublicURL: "http://localhost:8081"}, "/v1", "http://localhost:8081/v1"},
		{"not from an http public_url", config.GatewayConfig{PublicURL: "http://api.example.com"}, "/api", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.gw.ResourceID(tc.base); got != tc.want {
				t.Errorf("ResourceID(%q): got %q, want %q", tc.base, got, tc.want)
			}
		})
	}
}
