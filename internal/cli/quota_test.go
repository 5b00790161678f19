package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestClientsQuotaFlags: --quota-per-minute, --quota-per-hour and
// --reuse-min-remaining on create and update, shown by clients show (table
// and JSON) and in the audit trail; out of range is a one-line error.
func TestClientsQuotaFlags(t *testing.T) {
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
	if code, out, errOut := run("", "clients", "create", "--name", "Busy", "--id", "busy",
		"--quota-per-minute", "60", "--quota-per-hour", "-1", "--reuse-min-remaining", "50"); code != 0 {
		t.Fatalf("create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, out, _ := run("", "clients", "show", "busy"); !strings.Contains(out, "60 a minute, no limit an hour") || !strings.Contains(out, "more than 50%") {
		t.Errorf("show: got\n%s\nwant the quota and reuse rows", out)
	}
	if m := showJSON("busy"); m["token_quota_per_minute"] != float64(60) || m["token_quota_per_hour"] != float64(-1) || m["token_reuse_min_remaining"] != float64(50) {
		t.Errorf("show --output json: got %v", m)
	}
	if code, _, errOut := run("", "clients", "update", "busy", "--quota-per-minute", "0", "--reuse-min-remaining", "-1"); code != 0 {
		t.Fatalf("update: exit %d, stderr %q", code, errOut)
	}
	if m := showJSON("busy"); m["token_quota_per_minute"] != nil || m["token_reuse_min_remaining"] != float64(-1) {
		t.Errorf("show after update: got %v, want no own quota a minute and reuse -1", m)
	}
	if _, out, _ := run("", "audit", "--target", "busy"); !strings.Contains(out, "quota per minute 60") || !strings.Contains(out, "token reuse window off") {
		t.Errorf("audit: got\n%s\nwant the creation with the quota and the change", out)
	}
	code, _, errOut := run("", "clients", "update", "busy", "--reuse-min-remaining", "100")
	if code == 0 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "1 to 99") {
		t.Errorf("update --reuse-min-remaining 100: exit %d, stderr %q; want a one-line error", code, errOut)
	}
}
