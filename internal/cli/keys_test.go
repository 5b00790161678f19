package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/cli"
)

// keys rotate says how long verifiers may lag behind the new key: for
// --now, the unknown-kid refetch interval of Gatehouse's resource servers
// and the JWKS max-age, which follows from keys.lead_time.
func TestKeysRotateSaysHowLongVerifiersLag(t *testing.T) {
	for _, tc := range []struct {
		name     string
		leadTime string // keys.lead_time in the config file; "" for none
		args     []string
		want     []string
	}{
		{"now", "", []string{"--now"}, []string{
			"as soon as each running server loads it (about a second)",
			"pick up the new key on the first token it signs",
			"(unknown kid refetch in the gatehouse gateway and resource middleware, within 5s) or within the JWKS max-age (5m) at the latest",
			"tokens signed by earlier keys stay valid until they expire",
		}},
		{"now, short lead time", "4m", []string{"--now"}, []string{"within 5s) or within the JWKS max-age (1m) at the latest"}},
		{"after the lead time", "2h", nil, []string{
			"it is published now and signs from ", ", after the lead time (2h)",
			"resource servers that cache the JWKS (max-age 5m) learn it before it signs",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := ""
			if tc.leadTime != "" {
				conf = filepath.Join(dir, "gatehouse.yaml")
				if err := os.WriteFile(conf, []byte("keys: {lead_time: "+tc.leadTime+"}\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			getenv := func(k string) string {
				switch k {
				case "GATEHOUSE_DATA_DIR":
					return dir
				case "GATEHOUSE_CONFIG":
					return conf
				case "USER":
					return "tester"
				}
				return ""
			}
			var out, errOut bytes.Buffer
			args := append([]string{"keys", "rotate"}, tc.args...)
			if code := cli.Run(context.Background(), args, getenv, strings.NewReader(""), &out, &errOut); code != 0 {
				t.Fatalf("keys rotate: exit %d, stderr %q", code, errOut.String())
			}
			got := strings.Join(strings.Fields(out.String()), " ")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("keys rotate %s: got %q, want it to contain %q", strings.Join(tc.args, " "), out.String(), w)
				}
			}
		})
	}
}
