package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestGatewayResource: --resource (and GATEHOUSE_GATEWAY_RESOURCE) is
// checked as gateway.resource is: an http identifier off loopback is
// refused, naming the flag.
func TestGatewayResource(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flag", []string{"--resource", "http://api.example.com/api"}, nil},
		{"env", nil, map[string]string{"GATEHOUSE_GATEWAY_RESOURCE": "http://api.example.com/api"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"gateway", "--upstream", "http://127.0.0.1:1", "--issuer", "http://127.0.0.1:1"}, tc.args...)
			code := Run(context.Background(), args, func(k string) string { return tc.env[k] }, strings.NewReader(""), &stdout, &stderr)
			want := `--resource: resource identifier "http://api.example.com/api" must be an https URL`
			if code != 2 || !strings.Contains(stderr.String(), want) {
				t.Errorf("got exit %d, stderr %q; want exit 2 with %q", code, stderr.String(), want)
			}
		})
	}
}
