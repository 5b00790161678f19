package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/cli"
)

// TestClientsResource: --resource allows a client a resource of the
// configuration (repeatable), with its catalog's scopes; update replaces
// the list; an unknown resource is refused.
func TestClientsResource(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	billing := write("billing.yaml", "invoices:read:\n  label: Read invoices\n  endpoints: [\"invoices/*\": GET]\n")
	reports := write("reports.yaml", "reports:read:\n  label: Read reports\n  endpoints: [\"reports/*\": GET]\n")
	conf := write("gatehouse.yaml", "resources:\n  - id: https://billing.example/api\n    scopes_file: "+billing+
		"\n  - id: urn:example:reports\n    scopes_file: "+reports+"\n")
	getenv := func(k string) string {
		switch k {
		case "GATEHOUSE_DATA_DIR":
			return dir
		case "GATEHOUSE_CONFIG":
			return conf
		}
		return ""
	}
	run := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), args, getenv, strings.NewReader(""), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := run("clients", "create", "--name", "Billing sync", "--id", "sync", "--scopes", "api invoices:read reports:read",
		"--resource", "https://billing.example/api", "--resource", "urn:example:reports", "--output", "json")
	if code != 0 {
		t.Fatalf("create --resource: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	var c struct{ Resources, Scopes []string }
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://billing.example/api", "urn:example:reports"}; !slices.Equal(c.Resources, want) {
		t.Errorf("resources: got %q, want %q", c.Resources, want)
	}
	if _, out, _ := run("clients", "show", "sync"); !strings.Contains(out, "https://billing.example/api, urn:example:reports") {
		t.Errorf("show: got\n%s\nwant a resources row", out)
	}
	// Dropping reports while keeping its scope is refused, with the fix.
	code, _, errOut = run("clients", "update", "sync", "--resource", "https://billing.example/api")
	if code == 0 || !strings.Contains(errOut, `scope "reports:read" is not in the scope catalog`) {
		t.Errorf("update dropping a resource whose scope stays: exit %d, stderr %q; want a refusal naming the scope", code, errOut)
	}
	if code, _, errOut := run("clients", "update", "sync", "--resource", "https://billing.example/api", "--scopes", "invoices:read"); code != 0 {
		t.Fatalf("update --resource --scopes: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = run("clients", "create", "--name", "x", "--resource", "https://nope.example")
	if code == 0 || !strings.Contains(errOut, `resource "https://nope.example" is not a configured resource`) {
		t.Errorf("create with an unknown resource: exit %d, stderr %q", code, errOut)
	}
}
