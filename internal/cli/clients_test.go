package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/cli"
)

// TestClientsRequirePKCE: --require-pkce=false on create and update, shown
// by clients show (table and JSON), refused for a public client.
func TestClientsRequirePKCE(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "GATEHOUSE_DATA_DIR" {
			return dir
		}
		return ""
	}
	run := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), args, getenv, strings.NewReader(""), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	showJSON := func(id string) map[string]any {
		t.Helper()
		_, out, _ := run("clients", "show", id, "--output", "json")
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("clients show --output json: %v in %q", err, out)
		}
		return m
	}
	web := []string{"--grant-types", "authorization_code", "--redirect-uris", "https://cerb.example/cb"}
	code, out, errOut := run(append([]string{"clients", "create", "--name", "Cerb", "--id", "cerb", "--require-pkce=false"}, web...)...)
	if code != 0 {
		t.Fatalf("create --require-pkce=false: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, out, _ := run("clients", "show", "cerb"); !strings.Contains(out, "not required for this client") {
		t.Errorf("show: got\n%s\nwant a PKCE row saying not required", out)
	}
	if m := showJSON("cerb"); m["require_pkce"] != false {
		t.Errorf("show: require_pkce %v, want false", m["require_pkce"])
	}
	if code, _, errOut := run("clients", "update", "cerb", "--require-pkce"); code != 0 {
		t.Fatalf("update --require-pkce: exit %d, stderr %q", code, errOut)
	}
	if m := showJSON("cerb"); m["require_pkce"] != true {
		t.Errorf("show after update: require_pkce %v, want true", m["require_pkce"])
	}
	if _, out, _ := run("audit", "--target", "cerb"); !strings.Contains(out, "PKCE not required") || !strings.Contains(out, "changed PKCE required") {
		t.Errorf("audit: got\n%s\nwant the creation without PKCE and the change back", out)
	}
	code, _, errOut = run(append([]string{"clients", "create", "--name", "SPA", "--token-endpoint-auth-method", "none", "--require-pkce=false"}, web...)...)
	if code == 0 || !strings.Contains(errOut, "always needs PKCE") {
		t.Errorf("public client with --require-pkce=false: exit %d, stderr %q; want a refusal", code, errOut)
	}
}
