package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

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

// runner runs the CLI against a fresh data directory.
func runner(t *testing.T) func(stdin string, args ...string) (int, string, string) {
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "GATEHOUSE_DATA_DIR" {
			return dir
		}
		return ""
	}
	return func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), args, getenv, strings.NewReader(stdin), &out, &errOut)
		return code, out.String(), errOut.String()
	}
}

// shellWords splits a command line of the help's examples: words, and
// double-quoted strings, with "$SECRET" as a literal.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
			}
			inWord = false
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// TestClientsCreateExamples runs every example in `clients create --help`.
func TestClientsCreateExamples(t *testing.T) {
	run := runner(t)
	code, help, _ := run("", "clients", "create", "--help")
	if code != 0 || !strings.Contains(help, "Examples:") {
		t.Fatalf("clients create --help: exit %d, no Examples section:\n%s", code, help)
	}
	var cmds []string
	var cur string
	for _, line := range strings.Split(help[strings.Index(help, "Examples:"):strings.Index(help, "Flags:")], "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || line == "" || line == "Examples:" {
			continue
		}
		cur += line
		if strings.HasSuffix(cur, "\\") {
			cur = strings.TrimSuffix(cur, "\\")
			continue
		}
		cmds = append(cmds, cur)
		cur = ""
	}
	if len(cmds) < 5 {
		t.Fatalf("found %d examples, want at least 5: %q", len(cmds), cmds)
	}
	const secret = "an-example-secret-of-at-least-32-characters"
	for _, c := range cmds {
		stdin := ""
		if pre, rest, ok := strings.Cut(c, "| "); ok {
			if !strings.HasPrefix(pre, "printf %s ") {
				t.Fatalf("example %q: unexpected pipe", c)
			}
			stdin, c = secret, rest
		}
		words := shellWords(c)
		if words[0] != "gatehouse" {
			t.Fatalf("example %q does not run gatehouse", c)
		}
		code, out, errOut := run(stdin, words[1:]...)
		if code != 0 {
			t.Errorf("example %q: exit %d: %s", c, code, errOut)
			continue
		}
		if strings.Contains(c, "--output json") {
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil || m["client_secret"] == nil {
				t.Errorf("example %q: output %q is not a created client's JSON", c, out)
			}
		}
	}
}

// TestClientsUpdateAuthMethod: switching to none deletes the secrets (and
// needs client_credentials gone); switching back prints a new secret once.
func TestClientsUpdateAuthMethod(t *testing.T) {
	run := runner(t)
	code, _, errOut := run("", "clients", "create", "--name", "web", "--id", "web-app",
		"--grant-types", "client_credentials,authorization_code", "--redirect-uris", "https://app.example/cb")
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	for _, tc := range []struct {
		args         []string
		code         int
		stdout, errs string
	}{
		{[]string{"--token-endpoint-auth-method", "client_secret_post"}, 0, "client_secret_post", ""},
		{[]string{"--token-endpoint-auth-method", "none"}, 1, "", "gatehouse: a public client (token endpoint auth method none) cannot use the client_credentials grant: it has no secret\n"},
		{[]string{"--token-endpoint-auth-method", "none", "--grant-types", "authorization_code"}, 0, "none", ""},
		{[]string{"--token-endpoint-auth-method", "bogus"}, 1, "", "not supported"},
	} {
		code, out, errOut := run("", append([]string{"clients", "update", "web-app"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.errs) {
			t.Errorf("update %v: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, out, errOut, tc.code, tc.stdout, tc.errs)
		}
	}
	var shown struct {
		Secrets []any `json:"secrets"`
	}
	_, out, _ := run("", "clients", "show", "web-app", "--output", "json")
	if err := json.Unmarshal([]byte(out), &shown); err != nil || len(shown.Secrets) != 0 {
		t.Errorf("public client's secrets: got %s (%v), want none", out, err)
	}
	code, out, errOut = run("", "clients", "update", "web-app", "--token-endpoint-auth-method", "client_secret_basic", "--output", "json")
	var issued struct {
		Secret  string `json:"client_secret"`
		Method  string `json:"token_endpoint_auth_method"`
		Secrets []any  `json:"secrets"`
	}
	if err := json.Unmarshal([]byte(out), &issued); code != 0 || err != nil || !strings.HasPrefix(issued.Secret, "ghs_") || issued.Method != "client_secret_basic" || len(issued.Secrets) != 1 {
		t.Fatalf("update to client_secret_basic: exit %d, %q, stderr %q; want a new ghs_ secret", code, out, errOut)
	}
	if _, out, _ := run("", "clients", "show", "web-app", "--output", "json"); strings.Contains(out, issued.Secret) {
		t.Errorf("clients show prints the secret")
	}
}

// TestClientsRevokeTokens: revoke-tokens says what it revoked, as text and
// as JSON, records an audit event, and refuses an unknown client.
func TestClientsRevokeTokens(t *testing.T) {
	run := runner(t)
	if code, _, errOut := run("", "clients", "create", "--name", "Leaky", "--id", "leaky-app"); code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	code, out, errOut := run("", "clients", "revoke-tokens", "leaky-app")
	if code != 0 || errOut != "" {
		t.Fatalf("revoke-tokens: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"Revoked every token issued to client leaky-app until ", "access tokens:", "refresh tokens:  revoked",
		"gatehouse clients rotate-secret leaky-app --grace 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("revoke-tokens: got\n%s\nwant it to contain %q", out, want)
		}
	}

	code, out, errOut = run("", "clients", "revoke-tokens", "leaky-app", "--output", "json")
	var got struct {
		ClientID     string    `json:"client_id"`
		IssuedBefore time.Time `json:"issued_before"`
		IATBefore    int64     `json:"iat_before"`
	}
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
		t.Fatalf("revoke-tokens --output json: exit %d, %q (%v), stderr %q", code, out, err, errOut)
	}
	if got.ClientID != "leaky-app" || time.Since(got.IssuedBefore).Abs() > time.Minute || got.IATBefore != got.IssuedBefore.Unix()+1 {
		t.Errorf("revoke-tokens --output json: got %+v, want leaky-app, about now, and iat_before the second after it", got)
	}

	if _, out, _ := run("", "audit", "--action", "client.revoke_tokens"); strings.Count(out, "leaky-app") != 2 {
		t.Errorf("audit: got\n%s\nwant two client.revoke_tokens events for leaky-app", out)
	}
	if code, _, errOut := run("", "clients", "revoke-tokens", "nope"); code != 1 || !strings.Contains(errOut, `client "nope" not found`) {
		t.Errorf("unknown client: exit %d, stderr %q; want 1 and not found", code, errOut)
	}
	if code, _, errOut := run("", "clients", "revoke-tokens", "leaky-app", "--output", "yaml"); code != 2 || !strings.Contains(errOut, "--output") {
		t.Errorf("--output yaml: exit %d, stderr %q; want a usage error", code, errOut)
	}
}
