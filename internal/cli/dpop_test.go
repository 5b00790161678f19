package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestClientsDPoPRequired: --dpop-required on create and update, shown by
// clients show (table and JSON) and in the audit trail.
func TestClientsDPoPRequired(t *testing.T) {
	run := runner(t)
	showJSON := func(id string) map[string]any {
		t.Helper()
		_, out, _ := run("", "clients", "show", id, "--output", "json")
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("clients show --output json: %v in %q", err, out)
		}
		return m
	}
	if code, out, errOut := run("", "clients", "create", "--name", "Bound", "--id", "bound", "--dpop-required"); code != 0 {
		t.Fatalf("create --dpop-required: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, out, _ := run("", "clients", "show", "bound"); !strings.Contains(out, "DPoP") || !strings.Contains(out, "required") {
		t.Errorf("show: got\n%s\nwant a DPoP row", out)
	}
	if m := showJSON("bound"); m["dpop_bound_access_tokens"] != true {
		t.Errorf("show: dpop_bound_access_tokens %v, want true", m["dpop_bound_access_tokens"])
	}
	if code, _, errOut := run("", "clients", "update", "bound", "--dpop-required=false"); code != 0 {
		t.Fatalf("update --dpop-required=false: exit %d, stderr %q", code, errOut)
	}
	if m := showJSON("bound"); m["dpop_bound_access_tokens"] != nil {
		t.Errorf("show after update: dpop_bound_access_tokens %v, want absent (false)", m["dpop_bound_access_tokens"])
	}
	if _, out, _ := run("", "audit", "--target", "bound"); !strings.Contains(out, "DPoP required") || !strings.Contains(out, "DPoP not required") {
		t.Errorf("audit: got\n%s\nwant the creation with DPoP required and the change", out)
	}
}
