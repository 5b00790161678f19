package cli

import (
	"bytes"
	"context"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "github.com/gatehouse/gatehouse", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "b2c140a0d1"},
			{Key: "vcs.time", Value: "2026-11-30T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, tc := range []struct {
		name   string
		bi     *debug.BuildInfo
		ok     bool
		linked string
		want   buildInfo
	}{
		{"module version", bi, true, "dev", buildInfo{Version: "v1.4.0", Revision: "b2c140a0d1", Time: "2026-11-30T10:00:00Z", Modified: true, GoVersion: "go1.26.0"}},
		{"link-time version wins", bi, true, "v1.4.1-rc1", buildInfo{Version: "v1.4.1-rc1", Revision: "b2c140a0d1", Time: "2026-11-30T10:00:00Z", Modified: true, GoVersion: "go1.26.0"}},
		{"no VCS stamp", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}, true, "dev", buildInfo{Version: "(devel)", GoVersion: "go1.26.0"}},
		{"no build info", nil, false, "dev", buildInfo{Version: "dev"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, readBuildInfo(tc.bi, tc.ok, tc.linked)); diff != "" {
				t.Errorf("readBuildInfo (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGatewayAccountHeaderHost: `gatehouse gateway --account-header Host`
// is refused, as the gateway section of a config file refuses it (the
// flag's own check used to accept it).
func TestGatewayAccountHeaderHost(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"gateway", "--upstream", "http://127.0.0.1:1", "--issuer", "http://127.0.0.1:1", "--account-header", "Host"},
		func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "--account-header \"Host\" is a standard HTTP header") {
		t.Errorf("got exit %d, stderr %q; want exit 2 refusing --account-header Host", code, stderr.String())
	}
}
